"""Pooling between icosahedral levels, and pooling over orientations.

Level ``r - 1`` vertices are the first ``10 * 4**(r-1) + 2`` vertices of level r (subdivision
only adds midpoints), and in the atlas the coarse cell ``(k, s, t)`` is the fine cell
``(k, 2s, 2t)`` of the same chart, with the same frame. So:

* :class:`IcoPool` (level r -> r-1) takes the max (or mean) over the 7-point hexagon around each
  coarse vertex in the fine grid, padded across the seams with transport: one gather of the 7
  taps from the padded charts. Corners follow the corner rule.
* :class:`IcoUnpool` (level r-1 -> r) keeps the coarse vertices and gives each new midpoint the mean
  of its two coarse neighbours, transported to its frame.
* :class:`GroupPool` makes invariant fields: the max (or mean) over a regular field's 6 orientations.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from .atlas import DIRECTIONS, ico_atlas
from .padding import CornerRule, IcoPad, TransportGather, check_c6_type

_MODES = ("max", "mean")


def _check_mode(mode):
    if mode not in _MODES:
        raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")


def _check_levels(level):
    if not isinstance(level, (int, np.integer)) or level < 1:
        raise ValueError(f"level is the fine level and must be an integer >= 1, got {level!r}")


class IcoPool(nn.Module):
    """Pool an atlas tensor from level ``level`` to ``level - 1`` over hexagonal windows.

    Parameters
    ----------
    level : the fine level r >= 1
    field_type : C6 FieldType (unchanged by pooling)
    mode : "max" or "mean", per channel; "max" is equivariant for trivial and regular fields
        (channel permutations), "mean" for every kind
    transport : transport across seams (False: naive padding, a baseline)

    Shapes
    ------
    ``(B, C, V_r)`` -> ``(B, C, V_{r-1})``, atlas order at each level.
    """

    def __init__(self, level: int, field_type: FieldType, mode: str = "max", transport: bool = True):
        super().__init__()
        _check_levels(level)
        _check_mode(mode)
        self.level, self.mode, self.field_type = int(level), mode, check_c6_type(field_type)
        if mode == "max" and any(k not in ("0", "reg") for _, k in field_type.fields):
            raise ValueError(
                f"max pooling is equivariant only for trivial and regular fields, got {field_type}; use mode='mean'"
            )
        fine, coarse = ico_atlas(level), ico_atlas(level - 1)
        n, m = fine.n, coarse.n
        fine_cells = fine.charts(fine.vertex_of_atlas[None])[0][:, ::2, ::2]
        if not np.array_equal(fine_cells, coarse.charts(coarse.vertex_of_atlas[None])[0]):
            raise RuntimeError("coarse and fine atlases are not nested (internal error)")
        self.pad = IcoPad(level, field_type, transport=transport)
        self.corner_rule = CornerRule(level - 1, field_type)
        # padded cell of each tap of the hexagon around every coarse vertex (fine cell (2s, 2t))
        k, s, t = np.meshgrid(np.arange(5), np.arange(m), np.arange(2 * m), indexing="ij")
        offsets = np.concatenate([[(0, 0)], DIRECTIONS])
        rows = k.reshape(1, -1) * (n + 2) + 1 + 2 * s.reshape(1, -1) + offsets[:, :1]
        cols = 1 + 2 * t.reshape(1, -1) + offsets[:, 1:]
        window = rows * (2 * n + 2) + cols  # (7, 10 m^2)
        window = np.concatenate([window, np.zeros((7, 2), dtype=np.int64)], 1)  # poles: corner rule
        self.register_buffer("window", torch.as_tensor(window.reshape(-1)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = self.pad(x)  # (B, C, 5 (n+2), 2n+2)
        b, c = padded.shape[:2]
        taps = padded.reshape(b * c, -1).index_select(1, self.window).reshape(b, c, 7, -1)  # (B, C, 7, V_{r-1})
        if self.mode == "max":
            return self.corner_rule(taps.amax(2))  # amax keeps its output for the backward: no in-place
        return self.corner_rule(taps.mean(2), inplace=True)

    def extra_repr(self) -> str:
        return f"level {self.level} -> {self.level - 1}, {self.field_type}, mode={self.mode}"


class IcoUnpool(nn.Module):
    """Upsample an atlas tensor from level ``level - 1`` to ``level``.

    Coarse vertices keep their features; each midpoint gets the mean of its two coarse
    neighbours, transported into its frame (corners are read without transport: their fields
    must be C6-invariant, as every ico layer's output is).

    Parameters
    ----------
    level : the fine level r >= 1
    field_type : C6 FieldType

    Shapes
    ------
    ``(B, C, V_{r-1})`` -> ``(B, C, V_r)``, atlas order at each level.
    """

    def __init__(self, level: int, field_type: FieldType):
        super().__init__()
        _check_levels(level)
        self.level, self.field_type = int(level), field_type
        fine, coarse = ico_atlas(level), ico_atlas(level - 1)
        check_c6_type(field_type)
        self.n_coarse = coarse.n_vertices
        v = fine.vertex_of_atlas
        is_coarse_nbr = (fine.neighbours >= 0) & (fine.neighbours < coarse.n_vertices)  # (V_r, 6)
        sources = np.zeros((fine.n_vertices, 2), dtype=np.int64)
        shifts = np.zeros((fine.n_vertices, 2), dtype=np.int64)
        old = v < coarse.n_vertices
        sources[old] = v[old, None]
        new = np.flatnonzero(~old)
        hits = is_coarse_nbr[v[new]]
        if not np.all(hits.sum(1) == 2):
            raise RuntimeError("a midpoint without two coarse neighbours (internal error)")
        d = np.argsort(~hits, axis=1, kind="stable")[:, :2]  # the two coarse directions
        sources[new] = np.take_along_axis(fine.neighbours[v[new]], d, 1)
        shifts[new] = np.take_along_axis(fine.shifts[v[new]], d, 1)
        sources = coarse.atlas_of_vertex[sources]
        self.gather = TransportGather(field_type, sources.T, shifts.T)  # (2 V_r,): first, then second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.field_type.dim or x.shape[2] != self.n_coarse:
            raise ValueError(
                f"expected an atlas tensor (B, {self.field_type.dim}, {self.n_coarse}) at level {self.level - 1}, "
                f"got {tuple(x.shape)}"
            )
        both = self.gather(x)
        half = both.shape[-1] // 2
        return 0.5 * (both[..., :half] + both[..., half:])

    def extra_repr(self) -> str:
        return f"level {self.level - 1} -> {self.level}, {self.field_type}"


class GroupPool(nn.Module):
    """Invariant fields: each regular field becomes one channel (max or mean over its 6
    orientations); trivial fields pass through.

    Shapes
    ------
    ``(B, C, V)`` -> ``(B, C', V)`` with C' the number of fields; ``out_type`` is ``"C'x0"``.
    """

    def __init__(self, field_type: FieldType, mode: str = "max"):
        super().__init__()
        _check_mode(mode)
        self.field_type, self.mode = field_type, mode
        check_c6_type(field_type)
        self.runs, start = [], 0
        for mult, kind in field_type.fields:
            if kind not in ("0", "reg"):
                raise ValueError(f"GroupPool takes trivial and regular fields, got {field_type}")
            width = mult * (6 if kind == "reg" else 1)
            self.runs.append((kind, mult, start, start + width))
            start += width
        n_fields = sum(m for m, _ in field_type.fields)
        self.out_type = FieldType(f"{n_fields}x0", group=field_type.group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = []
        for kind, mult, a, b in self.runs:
            block = x[:, a:b]
            if kind == "reg":
                block = block.reshape(x.shape[0], mult, 6, -1)
                block = block.amax(2) if self.mode == "max" else block.mean(2)
            parts.append(block)
        return parts[0] if len(parts) == 1 else torch.cat(parts, 1)

    def extra_repr(self) -> str:
        return f"{self.field_type} -> {self.out_type}, mode={self.mode}"
