"""Pooling on the strip that keeps the seam consistent, and global invariant pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .grid import field_layout

__all__ = ["MobiusGlobalPool", "MobiusPool", "pooled_width"]


def pooled_width(width: int) -> int:
    """Width after :class:`MobiusPool` across the strip: ``W / 2`` (W even), ``(W + 1) / 2`` (W odd)."""
    return (width + 1) // 2


def _magnitude(x: torch.Tensor, layout) -> torch.Tensor:
    """Per channel, the quantity whose maximum selects the pooled value (B, C, W, L):
    the value for trivial and regular channels, |x| for sign-flip fields, the pair's norm for irreps."""
    pointwise = torch.as_tensor(layout.pointwise, device=x.device).view(1, -1, 1, 1)
    if "irrep" not in layout.kinds:
        return torch.where(pointwise, x, x.abs())
    partner = torch.as_tensor(layout.partner, device=x.device)
    sq = x * x
    paired = (partner != torch.arange(layout.dim, device=x.device)).view(1, -1, 1, 1)
    sq = torch.where(paired, sq + sq[:, partner], sq)
    return torch.where(pointwise, x, torch.sqrt(sq))


class MobiusPool(nn.Module):
    """Pooling along and/or across the strip that maps the seam's mirror to itself.

    Along the strip: windows of 2 columns, stride 2 (needs L even). Columns ``(2i, 2i+1)`` become
    column ``i`` of a strip of length ``L / 2`` with the same seam; the result commutes with
    shifts by even amounts ``2 s`` (which become shifts by ``s``).

    Across the strip the mirror ``j -> W - 1 - j`` must map windows to windows:

    - W even: windows ``(2a, 2a+1)``, stride 2; the mirror maps window ``a`` to ``W/2 - 1 - a``;
    - W odd: windows of 3 rows centred on the even rows ``2a`` (one padded row at each edge),
      stride 2; the mirror maps the centre ``2a`` to ``W - 1 - 2a``, again even.

    So the pooled width is ``W / 2`` or ``(W + 1) / 2`` (:func:`pooled_width`) and the pooled map
    is again a strip with mirror ``a -> W' - 1 - a``.

    Parameters
    ----------
    field_type : FieldType of group "D1" or "O2"
    along, across : pool in that direction
    mode : "max" or "avg". "max" keeps, per window, the value of largest magnitude: the maximum
        for trivial and regular channels, the value of largest ``|x|`` (with its sign) for
        sign-flip fields and the pair of largest norm for irreps, so the flip (negation) commutes
        with it. "avg" is linear and commutes with everything.

    Shapes
    ------
    x : (B, C, W, L) -> (B, C, W', L') with ``L' = L / 2`` if along, ``W' = pooled_width(W)`` if across
    """

    def __init__(self, field_type, along: bool = True, across: bool = False, mode: str = "max"):
        super().__init__()
        if mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {mode!r}")
        if not (along or across):
            raise ValueError("MobiusPool needs along=True or across=True")
        self.layout = field_layout(field_type)
        self.field_type, self.along, self.across, self.mode = field_type, bool(along), bool(across), mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.field_type.dim:
            raise ValueError(f"expected features (B, {self.field_type.dim}, W, L), got {tuple(x.shape)}")
        width, length = x.shape[2], x.shape[3]
        if self.along and length % 2:
            raise ValueError(f"pooling along the strip needs an even length L, got L = {length}")
        kernel = [1, 1]
        stride = [1, 1]
        padding = [0, 0]
        if self.along:
            kernel[1], stride[1] = 2, 2
        if self.across:
            kernel[0], stride[0], padding[0] = (2, 2, 0) if width % 2 == 0 else (3, 2, 1)
        if self.mode == "avg":
            return F.avg_pool2d(x, kernel, stride, padding, count_include_pad=False)
        if self.layout.pointwise.all():  # trivial and regular fields only: a plain max
            return F.max_pool2d(x, kernel, stride, padding)
        _, index = F.max_pool2d(_magnitude(x, self.layout), kernel, stride, padding, return_indices=True)
        out = x.flatten(2).gather(2, index.flatten(2))
        return out.view(index.shape)

    def __repr__(self) -> str:
        where = " + ".join(w for w, on in (("along", self.along), ("across", self.across)) if on)
        return f"MobiusPool({self.field_type}, {where}, {self.mode})"


class MobiusGlobalPool(nn.Module):
    """Global max pooling to invariants: one number per field, unchanged by every shift.

    Per field: trivial: max over the strip; sign-flip: max of ``|x|``; regular: max over the strip
    and the two channels; irrep: max of the pair's norm.

    Shapes
    ------
    x : (B, C, W, L) -> (B, n_fields)
    """

    def __init__(self, field_type):
        super().__init__()
        self.layout = field_layout(field_type)
        self.field_type = field_type

    @property
    def n_fields(self) -> int:
        return len(self.layout.kinds)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.field_type.dim:
            raise ValueError(f"expected features (B, {self.field_type.dim}, W, L), got {tuple(x.shape)}")
        m = _magnitude(x, self.layout).flatten(2).amax(dim=2)  # (B, C)
        starts = torch.as_tensor(self.layout.starts, device=x.device)
        two = torch.as_tensor([k in ("regular", "irrep") for k in self.layout.kinds], device=x.device)
        second = torch.where(two, starts + 1, starts)
        return torch.maximum(m[:, starts], m[:, second])

    def __repr__(self) -> str:
        return f"MobiusGlobalPool({self.field_type})"
