"""Pooling between levels of a :class:`~gaugeconv.Geometry` hierarchy, by parallel transport.

A :class:`~gaugeconv.PoolMap` (``geometry.pools[k]``) assigns every vertex f
of level k to a vertex c of level k+1 with the transporter ``T`` from f's gauge to c's. Pooling
sends ``rho(T) x_f`` to c and aggregates (mean, or the field of largest norm); unpooling sends
``rho(T)^-1 x_c`` back to every f of c's cell. Both commute with gauge transformations of both
levels (``T -> h_c^-1 T h_f``), for every field kind; regular fields of C_N / D_N need
transporters in that group (:meth:`FieldType.check_geometry`).
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn

from ..buffers import PoolMap
from ..groups import FieldType
from .util import along, check_channels

__all__ = ["TransportPool", "TransportUnpool", "max_scores"]


def max_scores(x: torch.Tensor, field_type: FieldType, dim: int = -1) -> torch.Tensor:
    """The "max" pooling rule, as per-channel scores: pooling keeps, per channel, the value at the
    position of the largest score.

    Channels the group only permutes (trivial and regular fields) score their own value (a
    channel-wise maximum); the channels of a sign field or an irrep all score the field's norm, so
    the whole field of largest norm is kept (with its sign or direction). Both commute with the
    group action, so every pooling that selects by these scores is equivariant.

    Parameters
    ----------
    x : ``C = field_type.dim`` channels on axis ``dim``
    field_type : FieldType of x
    dim : the channel axis

    Returns
    -------
    tensor shaped like x (x itself when every channel is pointwise)
    """
    dim = check_channels(x, field_type, dim, "max_scores")
    pointwise = field_type.mask("0", "reg")
    if pointwise.all():
        return x
    index = _norm_slots(field_type, x.device)
    shape = list(x.shape)
    shape[dim] = field_type.n_fields
    norms = torch.sqrt(x.new_zeros(shape).index_add_(dim, index.field_of, x * x)).index_select(dim, index.field_of)
    return torch.where(along(index.pointwise, dim, x.dim()), x, norms)


def _norm_slots(field_type: FieldType, device):
    """Per-device index tensors of :func:`max_scores`, cached on the (immutable) field type."""

    def build():
        field_of = torch.tensor(field_type.field_of_channel, device=device)
        return SimpleNamespace(field_of=field_of, pointwise=torch.tensor(field_type.mask("0", "reg"), device=device))

    return field_type._cached(("max_scores", str(device)), build)


def _check_pool(x: torch.Tensor, pool, channels: int, n_in: int, where: str):
    if not hasattr(pool, "index") or not isinstance(pool.index, torch.Tensor):
        raise ValueError(
            f"{where}: expected a torch PoolMap (geometry.to_torch(dtype).pools[k]), got {type(pool).__name__}"
        )
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or x.shape[-1] != channels or x.shape[-2] != n_in:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{where}: x must have shape (..., {n_in}, {channels}) for this pooling map, got {shape}")


class TransportPool(nn.Module):
    """Pool features from a level to the next coarser one: ``y_c = reduce_{f in cell(c)} rho(T_fc) x_f``
    (the mean weighted by the shares ``w_fc`` of fine vertices that several cells hold).

    Parameters
    ----------
    field_type : FieldType of the features (any group)
    reduce : "mean" (average over the cell) or "max" (the rule of :func:`max_scores`: per field,
        the transported field of largest norm; trivial and regular fields channel by channel;
        ties are averaged)

    Shapes
    ------
    x : (V_fine, C) or (B, V_fine, C); pool : torch PoolMap; output (V_coarse, C) or (B, V_coarse, C)
    """

    def __init__(self, field_type: FieldType, reduce: str = "mean"):
        super().__init__()
        if reduce not in ("mean", "max"):
            raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
        self.in_type = self.out_type = field_type
        self.reduce = reduce

    def forward(self, x: torch.Tensor, pool: PoolMap) -> torch.Tensor:
        _check_pool(x, pool, self.in_type.dim, getattr(pool, "n_fine", -1), "TransportPool")
        squeeze = x.dim() == 2
        xb = x.unsqueeze(0) if squeeze else x
        f, c = pool.index
        y = self.in_type.act(xb.index_select(1, f), pool.transport_angle, pool.transport_flip)  # (B, P, C)
        B, M, C = y.shape[0], pool.n_coarse, y.shape[-1]
        if self.reduce == "mean":  # weighted by each fine vertex's share of the cell
            w = pool.weight.to(y.dtype)
            total = y.new_zeros(M).index_add_(0, c, w).clamp(min=torch.finfo(y.dtype).tiny)
            out = y.new_zeros(B, M, C).index_add_(1, c, y * w[:, None]) / total[:, None]
        else:
            with torch.no_grad():
                score = max_scores(y, self.in_type)
                best = y.new_full((B, M, C), -torch.inf)
                best.scatter_reduce_(1, c[None, :, None].expand_as(score), score, "amax")
                win = (score == best.index_select(1, c)).to(y.dtype)  # ties are averaged
            total = y.new_zeros(B, M, C).index_add_(1, c, y * win)
            out = total / y.new_zeros(B, M, C).index_add_(1, c, win).clamp(min=1)
        return out[0] if squeeze else out

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}, reduce={self.reduce}"


class TransportUnpool(nn.Module):
    """Copy coarse features back to the finer level: ``y_f = sum_c w_fc rho(T_fc)^-1 x_c`` over the
    cells c that hold f (one cell: ``y_f = rho(T_fc)^-1 x_c``; the shares ``w_fc`` sum to 1).

    Parameters
    ----------
    field_type : FieldType of the features (any group)

    Shapes
    ------
    x : (V_coarse, C) or (B, V_coarse, C); pool : torch PoolMap; output (V_fine, C) or (B, V_fine, C)
    """

    def __init__(self, field_type: FieldType):
        super().__init__()
        self.in_type = self.out_type = field_type

    def forward(self, x: torch.Tensor, pool: PoolMap) -> torch.Tensor:
        _check_pool(x, pool, self.in_type.dim, getattr(pool, "n_coarse", -1), "TransportUnpool")
        f, c = pool.index
        flip = pool.transport_flip
        inv_angle = torch.where(flip, pool.transport_angle, -pool.transport_angle)
        y = self.in_type.act(x.index_select(-2, c), inv_angle, flip) * pool.weight.to(x.dtype)[:, None]
        return y.new_zeros(*y.shape[:-2], pool.n_fine, y.shape[-1]).index_add_(-2, f, y)

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}"
