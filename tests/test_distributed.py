"""Two processes on this machine (gloo on 127.0.0.1) train with DistributedDataParallel through
gaugeconv.distributed and end with identical, changed parameters."""

from __future__ import annotations

import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

from gaugeconv import FieldType, preprocess
from gaugeconv import distributed as dist
from gaugeconv.models import GaugeUNet
from gaugeconv.shapes import icosahedron


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(1)
    info = dist.init(timeout=120)  # a lost peer raises instead of waiting 30 minutes
    torch.manual_seed(100 + rank)  # different initial weights on every rank: DDP must broadcast rank 0's
    model = GaugeUNet(FieldType("1x0"), FieldType("2x0"), [FieldType("2x0 + 1x1"), FieldType("2x0 + 1x1")]).double()
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ddp = dist.wrap(model, info)
    after_wrap = {k: v.detach().clone() for k, v in model.state_dict().items()}
    geometry = preprocess(icosahedron(1), levels=1).to_torch(torch.float64)
    data = torch.Generator().manual_seed(0)
    xs = torch.randn(6, geometry.n_vertices, 1, generator=data, dtype=torch.float64)
    ys = torch.randn(6, geometry.n_vertices, 2, generator=data, dtype=torch.float64)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    sampler = dist.sampler(range(len(xs)), info, shuffle=True, seed=0)
    seen = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for i in sampler:
            seen.append(int(i))
            loss = (ddp(xs[i], geometry) - ys[i]).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    total = dist.all_reduce_sum(torch.tensor([len(seen)]), info)
    torch.save(
        {"before": before, "after_wrap": after_wrap, "final": model.state_dict(), "seen": seen, "total": total},
        os.path.join(out, f"rank{rank}.pt"),
    )
    dist.cleanup()


def _spawn(fn, args, nprocs: int, deadline_s: float = 300.0) -> None:
    """``mp.spawn`` that fails the test, instead of hanging the suite, if a rank is still running
    after ``deadline_s`` (the ranks' own collectives time out after 120 s)."""
    context = mp.spawn(fn, args=args, nprocs=nprocs, join=False)
    deadline = time.monotonic() + deadline_s
    while not context.join(timeout=1.0):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"a rank was still running after {deadline_s:.0f} s")


def test_two_processes_end_with_identical_parameters(tmp_path):
    _spawn(_worker, (2, _free_port(), str(tmp_path)), nprocs=2)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    names = [k for k in r0["final"] if r0["final"][k].is_floating_point()]
    assert names
    # rank 1 started elsewhere, DDP broadcast rank 0's weights, training moved them, identically
    assert any(not torch.equal(r0["before"][k], r1["before"][k]) for k in names)
    assert all(torch.equal(r0["after_wrap"][k], r1["after_wrap"][k]) for k in names)
    assert any(not torch.equal(r0["after_wrap"][k], r0["final"][k]) for k in names)
    assert all(torch.equal(r0["final"][k], r1["final"][k]) for k in names)
    # each rank trained on its own half of the samples every epoch
    assert len(r0["seen"]) == len(r1["seen"]) == 6 and int(r0["total"][0]) == 12
    assert set(r0["seen"][:3]).isdisjoint(r1["seen"][:3])


def test_single_process_without_torchrun(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    info = dist.init(device="cpu")
    assert not info.distributed and info.is_main
    model = torch.nn.Linear(2, 2)
    assert dist.wrap(model, info) is model
    assert list(dist.sampler(range(5), info, shuffle=False)) == [0, 1, 2, 3, 4]
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        dist.init(device="cpu")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    with pytest.raises(ValueError, match="timeout must be a positive"):
        dist.init(device="cpu", timeout=0)


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_shard_gives_equal_shares_covering_every_index(world):
    from gaugeconv.distributed import DistInfo, shard

    shares = [
        shard(range(10), DistInfo(rank=r, world_size=world, local_rank=r, device=torch.device("cpu")))
        for r in range(world)
    ]
    assert len({len(s) for s in shares}) == 1  # same number of steps on every rank
    assert set(torch.cat(shares).tolist()) == set(range(10))
    assert len(shares[0]) == -(-10 // world)
