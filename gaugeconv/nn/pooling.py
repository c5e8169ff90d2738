"""Pooling between levels of a :class:`~gaugeconv.Geometry` hierarchy, by parallel transport.

A :class:`~gaugeconv.geometry.hierarchy.PoolMap` (``geometry.pools[k]``) assigns every vertex f
of level k to a vertex c of level k+1 with the transporter ``T`` from f's gauge to c's. Pooling
sends ``rho(T) x_f`` to c and aggregates (mean, or the field of largest norm); unpooling sends
``rho(T)^-1 x_c`` back to every f of c's cell. Both commute with gauge transformations of both
levels (``T -> h_c^-1 T h_f``), for every field kind; regular fields of C_N / D_N need
transporters in that group (:meth:`FieldType.check_geometry`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType


class GroupAction(nn.Module):
    """``x -> rho(g) x`` for one O(2) element per row, without (P, C, C) matrices.

    Irreps of order k rotate their (c, s) pair by ``k angle`` after mirroring ``s`` for a flip;
    sign fields change sign under flips; regular fields are permuted (see :meth:`FieldType.rho`).

    Shapes
    ------
    x : (..., P, C); angle : (P,) radians; flip : (P,) bool; output (..., P, C)
    """

    def __init__(self, ftype: FieldType):
        super().__init__()
        self.ftype = ftype
        cos_idx, sin_idx, orders, signs, reg = [], [], [], [], []
        for kind, start, width in ftype:
            if kind == "0-":
                signs.append(start)
            elif kind == "reg":
                reg.append(start)
            elif kind != "0":
                cos_idx.append(start)
                sin_idx.append(start + 1)
                orders.append(int(kind))
        self.n = ftype.order
        self.dihedral = ftype.has_reflections and bool(reg)
        for name, values in (("cos_idx", cos_idx), ("sin_idx", sin_idx), ("signs", signs), ("reg", reg)):
            self.register_buffer(name, torch.as_tensor(np.array(values, dtype=np.int64)), persistent=False)
        self.register_buffer("orders", torch.as_tensor(np.array(orders, dtype=np.float64)), persistent=False)

    def _permutation(self, angle: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        """(P, C) source channel of every output channel (identity outside regular fields)."""
        n = self.n
        steps = angle.to(torch.float64) * n / (2 * np.pi)
        step = torch.round(steps)
        if bool(((steps - step).abs() > 1e-6 * n).any()):
            raise ValueError(
                f"regular fields of {self.ftype.group} need transporters in that group; some pooling "
                "transporter angles are not multiples of 2*pi/N (use SO2/O2 irreps on this mesh)"
            )
        step = step.to(torch.int64) % n
        width = 2 * n if self.dihedral else n
        j = torch.arange(width, device=angle.device)
        i_dst, f_dst = j % n, j // n
        fl = flip[:, None].to(torch.int64)
        i_src = torch.where(fl.bool(), (step[:, None] - i_dst) % n, (i_dst - step[:, None]) % n)
        f_src = (f_dst[None, :] + fl) % 2 if self.dihedral else torch.zeros_like(i_src)
        local = i_src + n * f_src  # (P, width)
        index = torch.arange(self.ftype.dim, device=angle.device).repeat(angle.shape[0], 1)
        for start in self.reg.tolist():
            index[:, start : start + width] = start + local
        return index

    def forward(self, x: torch.Tensor, angle: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
        out = x
        if self.reg.numel():
            index = self._permutation(angle, flip)
            out = torch.gather(out, -1, index.expand(*out.shape[:-2], *index.shape))
        flip_sign = 1.0 - 2.0 * flip.to(x.dtype)  # (P,)
        if self.signs.numel() or self.cos_idx.numel():
            out = out.clone()
        if self.signs.numel():
            out[..., self.signs] = out[..., self.signs] * flip_sign[:, None]
        if self.cos_idx.numel():
            a = angle.to(x.dtype)[:, None] * self.orders.to(x.dtype)[None, :]  # (P, m)
            cos, sin = torch.cos(a), torch.sin(a)
            c = out[..., self.cos_idx]
            s = out[..., self.sin_idx] * flip_sign[:, None]
            out[..., self.cos_idx] = cos * c - sin * s
            out[..., self.sin_idx] = sin * c + cos * s
        return out


def _check_pool(x: torch.Tensor, pool, channels: int, n_in: int, where: str):
    if not hasattr(pool, "index") or not isinstance(pool.index, torch.Tensor):
        raise ValueError(
            f"{where}: expected a torch PoolMap (geometry.to_torch(dtype).pools[k]), got {type(pool).__name__}"
        )
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or x.shape[-1] != channels or x.shape[-2] != n_in:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{where}: x must have shape (..., {n_in}, {channels}) for this pooling map, got {shape}")


class TransportPool(nn.Module):
    """Pool features from a level to the next coarser one: ``y_c = aggr_{f in cell(c)} rho(T_fc) x_f``
    (the mean weighted by the shares ``w_fc`` of fine vertices that several cells hold).

    Parameters
    ----------
    ftype : FieldType of the features (any group)
    reduce : "mean" (average over the cell) or "max" (per field, the transported field of
        largest norm; trivial fields take their maximum, regular fields the channel-wise maximum)

    Shapes
    ------
    x : (V_fine, C) or (B, V_fine, C); pool : torch PoolMap; output (V_coarse, C) or (B, V_coarse, C)
    """

    def __init__(self, ftype: FieldType, reduce: str = "mean"):
        super().__init__()
        if reduce not in ("mean", "max"):
            raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
        self.in_type = self.out_type = ftype
        self.reduce = reduce
        self.act = GroupAction(ftype)
        field_of, pointwise, n_fields = [], [], 0
        for kind, start, width in ftype:
            for ch in range(start, start + width):
                field_of.append(ch if kind in ("0", "reg") else n_fields)
                pointwise.append(kind in ("0", "reg"))
            n_fields += 1
        # fields compared by norm: one slot per field; pointwise channels get their own slot after them
        slot = [ch + n_fields if pw else f for ch, (f, pw) in enumerate(zip(field_of, pointwise))]
        self.register_buffer("slot", torch.as_tensor(np.array(slot, dtype=np.int64)), persistent=False)
        self.register_buffer("pointwise", torch.as_tensor(np.array(pointwise, dtype=bool)), persistent=False)
        self.n_slots = n_fields + ftype.dim

    def forward(self, x: torch.Tensor, pool) -> torch.Tensor:
        _check_pool(x, pool, self.in_type.dim, getattr(pool, "n_fine", -1), "TransportPool")
        squeeze = x.dim() == 2
        xb = x.unsqueeze(0) if squeeze else x
        f, c = pool.index
        y = self.act(xb.index_select(1, f), pool.transport_angle, pool.transport_flip)  # (B, P, C)
        B, M, C = y.shape[0], pool.n_coarse, y.shape[-1]
        if self.reduce == "mean":  # weighted by each fine vertex's share of the cell
            w = pool.weight.to(y.dtype)
            total = y.new_zeros(M).index_add_(0, c, w).clamp(min=torch.finfo(y.dtype).tiny)
            out = y.new_zeros(B, M, C).index_add_(1, c, y * w[:, None]) / total[:, None]
        else:
            # score: the value itself for pointwise channels, the field norm otherwise
            sq = y.new_zeros(*y.shape[:-1], self.n_slots).index_add_(-1, self.slot, y * y)
            score = torch.where(self.pointwise, y, torch.sqrt(sq).index_select(-1, self.slot))
            with torch.no_grad():
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

    Shapes
    ------
    x : (V_coarse, C) or (B, V_coarse, C); pool : torch PoolMap; output (V_fine, C) or (B, V_fine, C)
    """

    def __init__(self, ftype: FieldType):
        super().__init__()
        self.in_type = self.out_type = ftype
        self.act = GroupAction(ftype)

    def forward(self, x: torch.Tensor, pool) -> torch.Tensor:
        _check_pool(x, pool, self.in_type.dim, getattr(pool, "n_coarse", -1), "TransportUnpool")
        f, c = pool.index
        flip = pool.transport_flip
        inv_angle = torch.where(flip, pool.transport_angle, -pool.transport_angle)
        y = self.act(x.index_select(-2, c), inv_angle, flip) * pool.weight.to(x.dtype)[:, None]
        return y.new_zeros(*y.shape[:-2], pool.n_fine, y.shape[-1]).index_add_(-2, f, y)

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}"
