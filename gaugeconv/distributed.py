"""Distributed data-parallel training with PyTorch's own engine (``torch.distributed``).

Run a training script under ``torchrun --nproc_per_node N script.py``: torchrun sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init` reads them and
joins the process group (``nccl`` when CUDA is available, else ``gloo``). Without those variables
everything degrades to a single process, so the same script runs with plain ``python`` too.

Typical use::

    from gaugeconv import distributed as dist

    info = dist.init()
    model = dist.wrap(model, info)              # DistributedDataParallel when world_size > 1
    sampler = dist.sampler(dataset, info, shuffle=True, seed=0)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for i in sampler: ...                   # this rank's share of the samples
    dist.print0(info, "done")                   # printed once, by rank 0
    dist.cleanup()

Each rank sees a different share of the data; DDP averages the gradients in ``backward``, so the
parameters stay identical on every rank. Meshes of different sizes are fine: one mesh (or a
:meth:`Geometry.batch`) per step, and :class:`DistributedSampler` gives every rank the same number
of steps.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as tdist
from torch.utils.data.distributed import DistributedSampler

__all__ = ["DistInfo", "all_reduce_sum", "cleanup", "init", "print0", "sampler", "wrap"]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: ``rank`` of ``world_size``, ``local_rank`` on its node,
    the ``device`` it computes on and the ``backend`` ("gloo", "nccl", or "" when single)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = ""

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def init(backend: str | None = None, device: str | None = None, timeout: float | None = None) -> DistInfo:
    """Join the process group described by torchrun's environment variables.

    Parameters
    ----------
    backend : "gloo", "nccl" or None (nccl if CUDA is available, else gloo)
    device : "cpu" or "cuda"; None picks ``cuda:LOCAL_RANK`` when CUDA is available, else cpu
    timeout : seconds a rank waits for the others (rendezvous and every collective) before it
        raises instead of hanging; None keeps PyTorch's default (30 minutes for gloo)

    Returns
    -------
    DistInfo; ``world_size == 1`` (no process group) when ``WORLD_SIZE`` is unset or 1.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    use_cuda = torch.cuda.is_available() if device is None else device == "cuda"
    dev = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world <= 1:
        return DistInfo(device=dev)
    if not 0 <= rank < world:
        raise ValueError(f"RANK must be in 0..{world - 1}, got {rank}")
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise ValueError(f"{name} is not set: start the script with torchrun --nproc_per_node N")
    backend = backend or ("nccl" if use_cuda else "gloo")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    if not tdist.is_initialized():
        extra = {} if timeout is None else {"timeout": datetime.timedelta(seconds=timeout)}
        tdist.init_process_group(backend=backend, rank=rank, world_size=world, **extra)
    return DistInfo(rank, world, local, dev, backend)


def wrap(model: torch.nn.Module, info: DistInfo, find_unused_parameters: bool = True) -> torch.nn.Module:
    """The model on ``info.device``, in :class:`~torch.nn.parallel.DistributedDataParallel` when
    the job has several processes (the rank-0 parameters are broadcast to all ranks).

    ``find_unused_parameters`` defaults to True: equivariant models can hold parameters that a
    given field type never uses in a step (e.g. biases of sign-flip fields), which plain DDP
    rejects."""
    model = model.to(info.device)
    if not info.distributed:
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(
        model, device_ids=ids, find_unused_parameters=find_unused_parameters
    )


def sampler(dataset, info: DistInfo, shuffle: bool = True, seed: int = 0) -> DistributedSampler:
    """A :class:`DistributedSampler` over ``dataset`` (anything with ``len``) for this rank;
    with one process it yields every index. Call ``set_epoch(epoch)`` before every epoch."""
    return DistributedSampler(
        dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle, seed=seed, drop_last=False
    )


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum of ``tensor`` over all ranks (a copy; the input itself when single)."""
    if not info.distributed:
        return tensor
    out = tensor.detach().clone().to(info.device)
    tdist.all_reduce(out, op=tdist.ReduceOp.SUM)
    return out


def print0(info: DistInfo, *args, **kwargs) -> None:
    """``print`` on rank 0 only (flushes, so lines from torchrun jobs appear in order)."""
    if info.is_main:
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


def shard(indices, info: DistInfo) -> torch.Tensor:
    """This rank's share of ``indices`` (a sequence that is the same on every rank, e.g. a
    permutation drawn from the same seed): every ``world_size``-th element from position ``rank``,
    wrapped around so that all ranks get the same number (and so take the same number of steps,
    which DistributedDataParallel needs). With one process: all of ``indices``.

    Returns
    -------
    (ceil(n / world_size),) int64 tensor
    """
    indices = torch.as_tensor(indices, dtype=torch.int64)
    if not info.distributed:
        return indices
    per_rank = -(-len(indices) // info.world_size)
    padded = torch.cat([indices, indices[: per_rank * info.world_size - len(indices)]])
    return padded[info.rank :: info.world_size]


def silence_other_ranks(info: DistInfo) -> None:
    """Send this process's standard output to ``os.devnull`` unless it is rank 0, so a script run
    under torchrun prints its report once (errors on standard error still show)."""
    if not info.is_main:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process


def cleanup() -> None:
    """Leave the process group, if one was joined."""
    if tdist.is_initialized():
        tdist.destroy_process_group()
