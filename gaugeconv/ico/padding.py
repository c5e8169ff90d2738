"""Padding across chart seams with C6 transport, and the corner rule, for atlas tensors.

An atlas tensor holds per-vertex features ``(B, C, V)`` in atlas order (see
:mod:`gaugeconv.ico.atlas`). :class:`IcoPad` turns it into the five padded charts stacked
along the rows, ``(B, C, 5 (n+2), 2n+2)``: chart k occupies rows ``k (n+2) .. k (n+2) + n + 1``,
its owned cells at rows ``+1 .. +n`` and columns ``1 .. 2n``, with a one-cell border gathered
from the neighbouring charts. A C6-regular field read across a seam is transported: its 6
orientation channels are cyclically shifted, ``out[i] = x[(i - shift) mod 6]`` (a rotation by
``60 shift`` degrees, channel i -> i + shift). Trivial fields are copied. The whole padded image
is one ``index_select`` per run of fields of the same kind.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from .atlas import ico_atlas


def field_runs(field_type: FieldType) -> list:
    """Contiguous runs of fields of one kind: ``[(kind, n_fields, channel_start, channel_stop), ...]``.

    Raises ValueError unless every field is trivial ``"0"`` or, for group ``"C6"``, regular ``"reg"``.
    """
    if not isinstance(field_type, FieldType):
        raise TypeError(f"expected a FieldType like FieldType('4xreg', group='C6'), got {field_type!r}")
    kinds = {k for _, k in field_type.fields}
    if kinds - {"0", "reg"} or ("reg" in kinds and field_type.group != "C6"):
        raise ValueError(
            f"the icosahedral fast path supports trivial '0' and C6-regular 'reg' fields, got {field_type!r}; "
            "use e.g. FieldType('2x0 + 8xreg', group='C6')"
        )
    runs, start = [], 0
    for mult, kind in field_type.fields:
        size = mult * (6 if kind == "reg" else 1)
        if runs and runs[-1][0] == kind:
            k, m, a, _ = runs[-1]
            runs[-1] = (k, m + mult, a, start + size)
        else:
            runs.append((kind, mult, start, start + size))
        start += size
    return runs


def _shifted_index(source: np.ndarray, shift: np.ndarray, n_vertices: int) -> np.ndarray:
    """Index into a regular run viewed as ``(B, F, 6 V)``: orientation i of each cell reads
    orientation ``(i - shift) mod 6`` of its source, ``(6 * len(source),)``."""
    i = np.arange(6)[:, None]
    return (((i - shift[None, :]) % 6) * n_vertices + source[None, :]).reshape(-1)


def gather_runs(y: torch.Tensor, runs: list, indices: list, n_vertices: int) -> torch.Tensor:
    """Gather ``(B, C, V)`` along vertices run by run: ``indices[j]`` is a vertex index for a
    trivial run and a :func:`_shifted_index` for a regular run; returns ``(B, C, M)``."""
    parts = []
    batch = y.shape[0]
    for (kind, mult, a, b), index in zip(runs, indices):
        if kind == "reg":
            block = y[:, a:b].reshape(batch, mult, 6 * n_vertices).index_select(-1, index)
            parts.append(block.reshape(batch, 6 * mult, -1))
        else:
            parts.append(y[:, a:b].index_select(-1, index))
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def orientation_mean(y: torch.Tensor, runs: list) -> torch.Tensor:
    """Replace each regular field by its mean over the 6 orientations: ``(B, C, M) -> (B, C, M)``."""
    parts = []
    for kind, mult, a, b in runs:
        block = y[:, a:b]
        if kind == "reg":
            shape = block.shape
            block = block.reshape(shape[0], mult, 6, -1).mean(2, keepdim=True).expand(-1, -1, 6, -1).reshape(shape)
        parts.append(block)
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


class IcoPad(nn.Module):
    """Pad the five charts of an atlas tensor across their seams.

    Parameters
    ----------
    level : subdivision level r of the icosahedron (``n = 2**r``)
    field_type : FieldType of trivial and C6-regular fields
    transport : apply the C6 transporters at the seams (True); False gives the naive padding
        that copies orientation channels unchanged (wrong for regular fields; a baseline)

    Shapes
    ------
    input ``(B, C, V)`` atlas order -> output ``(B, C, 5 (n + 2), 2 n + 2)``.
    Cells read by no vertex's hexagonal neighbourhood (two per chart) hold an arbitrary copy.
    Cells that read one of the 12 corners get the corner's orientation mean (a corner has no
    C6 frame; see :mod:`gaugeconv.ico.atlas`).
    """

    def __init__(self, level: int, field_type: FieldType, transport: bool = True):
        super().__init__()
        self.atlas = atlas = ico_atlas(level)
        self.field_type = field_type
        self.transport = bool(transport)
        self.runs = field_runs(field_type)
        source = atlas.pad_source.reshape(-1)
        shift = atlas.pad_shift.reshape(-1) if transport else np.zeros_like(source)
        for j, (kind, *_) in enumerate(self.runs):
            index = _shifted_index(source, shift, atlas.n_vertices) if kind == "reg" else source
            self.register_buffer(f"index{j}", torch.as_tensor(index, dtype=torch.long), persistent=False)
        corner_cells = np.flatnonzero(atlas.pad_from_corner.reshape(-1))
        self.register_buffer("corner_cells", torch.as_tensor(corner_cells, dtype=torch.long), persistent=False)
        self.shape = (5 * (atlas.n + 2), 2 * atlas.n + 2)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim != 3 or y.shape[1] != self.field_type.dim or y.shape[2] != self.atlas.n_vertices:
            raise ValueError(
                f"expected an atlas tensor (B, {self.field_type.dim}, {self.atlas.n_vertices}), got {tuple(y.shape)}"
            )
        indices = [getattr(self, f"index{j}") for j in range(len(self.runs))]
        out = gather_runs(y, self.runs, indices, self.atlas.n_vertices)
        if any(kind == "reg" for kind, *_ in self.runs):
            cells = out[..., self.corner_cells]
            out[..., self.corner_cells] = orientation_mean(cells, self.runs)
        return out.reshape(y.shape[0], y.shape[1], *self.shape)

    def extra_repr(self) -> str:
        return f"level={self.atlas.level}, {self.field_type}, transport={self.transport}"


class CornerRule(nn.Module):
    """Set the 12 corners of an atlas tensor to the mean of their 5 neighbours (orientation-averaged
    for regular fields). Input and output ``(B, C, V)``.

    ``forward(y, inplace=False)``: a new tensor, or ``y`` modified in place (for fresh
    intermediate tensors inside the layers).
    """

    def __init__(self, level: int, field_type: FieldType):
        super().__init__()
        atlas = ico_atlas(level)
        self.runs = field_runs(field_type)
        self.register_buffer("corners", torch.as_tensor(atlas.atlas_of_vertex[atlas.corners]), persistent=False)
        nbr = atlas.atlas_of_vertex[atlas.corner_neighbours].reshape(-1)
        self.register_buffer("neighbours", torch.as_tensor(nbr), persistent=False)

    def forward(self, y: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        values = y[..., self.neighbours].reshape(*y.shape[:-1], 12, 5).mean(-1)
        values = orientation_mean(values, self.runs)
        if not inplace:
            y = y.clone()
        y[..., self.corners] = values
        return y
