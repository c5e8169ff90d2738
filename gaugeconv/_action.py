"""The torch side of :meth:`gaugeconv.groups.FieldType.act` (imported only when it is called, so that
``gaugeconv.groups`` and the numpy preprocessing never import torch)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

#: Largest distance of ``angle * N / 2 pi`` from an integer accepted for regular fields (float32 buffers).
STEP_TOL = 1e-6


class _Index(NamedTuple):
    """Channel groups of a FieldType on one device; ``inverse`` undoes their concatenation."""

    trivial: torch.Tensor
    sign: torch.Tensor
    cos: torch.Tensor
    sin: torch.Tensor
    orders: torch.Tensor  # float64, one per irrep
    regular: torch.Tensor  # (n_reg * width,)
    n_regular: int
    inverse: torch.Tensor


def _index(field_type, device) -> _Index:
    """The index tensors of one field type on one device, cached on the (immutable) field type."""
    return field_type._cached(("act", str(device)), lambda: _build_index(field_type, device))


def _build_index(field_type, device) -> _Index:
    pairs = field_type.channels("irrep")
    regular = field_type.channels("reg") if field_type.order else np.zeros((0, 0), np.int64)
    parts = [
        np.flatnonzero(field_type.mask("0")),
        np.flatnonzero(field_type.mask("0-")),
        pairs[:, 0],
        pairs[:, 1],
        regular.reshape(-1),
    ]
    order = np.concatenate(parts)

    def long(a):
        return torch.tensor(a, dtype=torch.int64, device=device)

    return _Index(
        *(long(p) for p in parts[:4]),
        orders=torch.tensor(field_type.irrep_orders, dtype=torch.float64, device=device),
        regular=long(parts[4]),
        n_regular=len(regular),
        inverse=long(np.argsort(order)),
    )


def _as_tensor(value, device, dtype=None) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.to(device=device, dtype=dtype) if dtype is not None else value.to(device)
    return torch.as_tensor(np.asarray(value), dtype=dtype, device=device)


def _regular_source(field_type, angle: torch.Tensor, flip: torch.Tensor | None) -> torch.Tensor:
    """(..., width) int64: the input channel each channel of a regular field reads, ``h^-1 g``."""
    n = field_type.order
    steps = angle * (n / (2 * math.pi))
    step = torch.round(steps)
    if bool(((steps - step).abs() > STEP_TOL * n).any()):
        raise ValueError(
            f"regular fields of {field_type.group} need elements of {field_type.group}: some angles are not "
            f"multiples of 2*pi/{n} (use SO2/O2 irreps on this mesh)"
        )
    step = step.to(torch.int64).remainder(n)[..., None]
    width = 2 * n if field_type.has_reflections else n
    j = torch.arange(width, device=angle.device)
    i_dst, f_dst = j % n, j // n
    if flip is None:
        return (i_dst - step).remainder(n) + n * f_dst
    fl = flip[..., None]
    i_src = torch.where(fl, (step - i_dst).remainder(n), (i_dst - step).remainder(n))
    return i_src + n * torch.where(fl, 1 - f_dst, f_dst)


def act(field_type, x: torch.Tensor, angle, flip, dim: int) -> torch.Tensor:
    index = _index(field_type, x.device)
    if index.trivial.numel() == field_type.dim:
        return x
    angle = _as_tensor(angle, x.device)
    if not angle.is_floating_point():
        angle = angle.to(torch.float64)
    if flip is not None:
        flip = _as_tensor(flip, x.device, torch.bool)
        if not field_type.has_reflections:
            if bool(flip.any()):
                raise ValueError(f"act: group {field_type.group} has no reflections, but a flip was given")
            flip = None
    xl = x.movedim(dim, -1)
    lead = torch.broadcast_shapes(xl.shape[:-1], angle.shape, () if flip is None else flip.shape)
    xl = xl.expand(*lead, xl.shape[-1])
    sigma = None if flip is None else (1.0 - 2.0 * flip.to(x.dtype))[..., None]  # -1 where flipped
    pieces = []
    if index.trivial.numel():
        pieces.append(xl.index_select(-1, index.trivial))
    if index.sign.numel():
        sign = xl.index_select(-1, index.sign)
        pieces.append(sign if sigma is None else sign * sigma)
    if index.cos.numel():
        c, s = xl.index_select(-1, index.cos), xl.index_select(-1, index.sin)
        if sigma is not None:
            s = s * sigma
        phase = angle[..., None] * index.orders.to(angle.dtype)  # (..., irreps)
        cos, sin = torch.cos(phase).to(x.dtype), torch.sin(phase).to(x.dtype)
        pieces += [cos * c - sin * s, sin * c + cos * s]
    if index.n_regular:
        width = index.regular.numel() // index.n_regular
        fields = xl.index_select(-1, index.regular).unflatten(-1, (index.n_regular, width))
        source = _regular_source(field_type, angle, flip)[..., None, :]  # (..., 1, width)
        source = source.expand(*lead, index.n_regular, width)
        pieces.append(torch.gather(fields, -1, source).flatten(-2))
    out = torch.cat(pieces, -1).index_select(-1, index.inverse)
    return out.movedim(-1, dim)
