"""Pooling on the strip that keeps the seam consistent."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..groups import FieldType
from ..nn.pooling import max_scores
from .grid import check_strip_type

__all__ = ["MobiusPool", "pooled_width"]


def pooled_width(width: int) -> int:
    """Width after :class:`MobiusPool` across the strip: ``W / 2`` (W even), ``(W + 1) / 2`` (W odd)."""
    return (width + 1) // 2


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
    reduce : "max" or "mean". "max" is the library's one max rule
        (:func:`~gaugeconv.nn.pooling.max_scores`): per window, the maximum for trivial and regular
        channels, the value of largest ``|x|`` (with its sign) for sign fields and the pair of
        largest norm for irreps, so the flip commutes with it. "mean" is linear and commutes with
        everything.

    Shapes
    ------
    x : (B, C, W, L) -> (B, C, W', L') with ``L' = L / 2`` if along, ``W' = pooled_width(W)`` if across
    """

    def __init__(self, field_type: FieldType, along: bool = True, across: bool = False, reduce: str = "max"):
        super().__init__()
        if reduce not in ("max", "mean"):
            raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")
        if not (along or across):
            raise ValueError("MobiusPool needs along=True or across=True")
        self.field_type = self.in_type = self.out_type = check_strip_type(field_type)
        self.along, self.across, self.reduce = bool(along), bool(across), reduce
        self.pointwise = bool(field_type.mask("0", "reg").all())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.field_type.dim:
            raise ValueError(f"expected features (B, {self.field_type.dim}, W, L), got {tuple(x.shape)}")
        width, length = x.shape[2], x.shape[3]
        if self.along and length % 2:
            raise ValueError(f"pooling along the strip needs an even length L, got L = {length}")
        kernel, stride, padding = [1, 1], [1, 1], [0, 0]
        if self.along:
            kernel[1], stride[1] = 2, 2
        if self.across:
            kernel[0], stride[0], padding[0] = (2, 2, 0) if width % 2 == 0 else (3, 2, 1)
        if self.reduce == "mean":
            return F.avg_pool2d(x, kernel, stride, padding, count_include_pad=False)
        if self.pointwise:  # trivial and regular fields only: a plain max
            return F.max_pool2d(x, kernel, stride, padding)
        _, index = F.max_pool2d(max_scores(x, self.field_type, dim=1), kernel, stride, padding, return_indices=True)
        return x.flatten(2).gather(2, index.flatten(2)).view(index.shape)

    def extra_repr(self) -> str:
        where = " + ".join(w for w, on in (("along", self.along), ("across", self.across)) if on)
        return f"{self.field_type}, {where}, reduce={self.reduce}"
