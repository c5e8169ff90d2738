"""Pooling between icosahedral levels.

Level ``r - 1`` vertices are the first ``10 * 4**(r-1) + 2`` vertices of level r (subdivision
only adds midpoints), and in the atlas the coarse cell ``(k, s, t)`` is the fine cell
``(k, 2s, 2t)`` of the same chart, with the same frame. So:

* :class:`IcoPool` (level r -> r-1) reduces the 7-point hexagon around each coarse vertex in the
  fine grid, padded across the seams with transport (:class:`IcoPad`): one gather of the 7 taps
  from the padded charts; "max" is the library's one max rule
  (:func:`gaugeconv.nn.pooling.max_scores`). Corners follow the corner rule.
* :class:`IcoUnpool` (level r-1 -> r) keeps the coarse vertices and gives each new midpoint the mean
  of its two coarse neighbours, transported to its frame (one sparse read).

Invariant fields (the max or mean over a regular field's orientations, norms of irreps) come from
:class:`gaugeconv.nn.InvariantReadout` with ``dim=1``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..groups import FieldType
from ..nn.pooling import max_scores
from ..nn.util import SparseRead, as_tensor
from .atlas import IcoAtlas
from .padding import CornerRule, IcoPad
from .tables import check_atlas, check_c6_type, check_nested, pool_window, unpool_table

__all__ = ["IcoPool", "IcoUnpool"]


def _check_levels(fine: IcoAtlas, coarse: IcoAtlas, where: str) -> None:
    check_atlas(fine, where), check_atlas(coarse, where)
    if fine.level < 1:
        raise ValueError(f"{where}: the fine atlas must have level >= 1, got {fine.level}")
    check_nested(fine, coarse)


class IcoPool(nn.Module):
    """Pool an atlas tensor from the level of ``fine`` to the level of ``coarse`` (one below)
    over hexagonal windows.

    Parameters
    ----------
    field_type : C6 FieldType (unchanged by pooling)
    fine, coarse : the :class:`IcoAtlas` of level r >= 1 and of level r - 1
    reduce : "max" (per field, the value of largest norm; trivial and regular fields channel by
        channel: :func:`~gaugeconv.nn.pooling.max_scores`) or "mean"; both are equivariant for
        every kind of field
    transport : transport across seams (False: naive padding, a baseline)

    Shapes
    ------
    ``(B, C, V_r)`` -> ``(B, C, V_{r-1})``, atlas order at each level.
    """

    def __init__(
        self, field_type: FieldType, fine: IcoAtlas, coarse: IcoAtlas, reduce: str = "max", transport: bool = True
    ):
        super().__init__()
        _check_levels(fine, coarse, "IcoPool")
        if reduce not in ("max", "mean"):
            raise ValueError(f"reduce must be 'max' or 'mean', got {reduce!r}")
        self.level, self.reduce = fine.level, reduce
        self.field_type = self.in_type = self.out_type = check_c6_type(field_type)
        self.pointwise = bool(field_type.mask("0", "reg").all())
        self.pad = IcoPad(field_type, fine, transport=transport)
        self.corner_rule = CornerRule(field_type, coarse)
        self.register_buffer("window", as_tensor(pool_window(fine, coarse).reshape(-1)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = self.pad(x)  # (B, C, 5 (n+2), 2n+2)
        b, c = padded.shape[:2]
        taps = padded.reshape(b * c, -1).index_select(1, self.window).reshape(b, c, 7, -1)  # (B, C, 7, V_{r-1})
        if self.reduce == "mean":
            return self.corner_rule(taps.mean(2), inplace=True)
        if self.pointwise:
            return self.corner_rule(taps.amax(2))  # amax keeps its output for the backward: no in-place
        with torch.no_grad():
            best = max_scores(taps, self.field_type, dim=1).argmax(2, keepdim=True)  # (B, C, 1, V)
        return self.corner_rule(taps.gather(2, best).squeeze(2), inplace=True)

    def extra_repr(self) -> str:
        return f"{self.field_type}, level {self.level} -> {self.level - 1}, reduce={self.reduce}"


class IcoUnpool(nn.Module):
    """Upsample an atlas tensor from the level of ``coarse`` to the level of ``fine`` (one above).

    Coarse vertices keep their features; each midpoint gets the mean of its two coarse
    neighbours, transported into its frame (corners are read without transport: their fields
    must be C6-invariant, as every ico layer's output is).

    Parameters
    ----------
    field_type : C6 FieldType
    fine, coarse : the :class:`IcoAtlas` of level r >= 1 and of level r - 1

    Shapes
    ------
    ``(B, C, V_{r-1})`` -> ``(B, C, V_r)``, atlas order at each level.
    """

    def __init__(self, field_type: FieldType, fine: IcoAtlas, coarse: IcoAtlas):
        super().__init__()
        _check_levels(fine, coarse, "IcoUnpool")
        self.level = fine.level
        self.field_type = self.in_type = self.out_type = check_c6_type(field_type)
        self.n_coarse, self.n_fine = coarse.n_vertices, fine.n_vertices
        self.read = SparseRead(*unpool_table(field_type, fine, coarse))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.field_type.dim
        if x.ndim != 3 or x.shape[1] != c or x.shape[2] != self.n_coarse:
            raise ValueError(
                f"expected an atlas tensor (B, {c}, {self.n_coarse}) at level {self.level - 1}, got {tuple(x.shape)}"
            )
        return self.read(x.reshape(x.shape[0], c * self.n_coarse)).view(x.shape[0], c, self.n_fine)

    def extra_repr(self) -> str:
        return f"{self.field_type}, level {self.level - 1} -> {self.level}"
