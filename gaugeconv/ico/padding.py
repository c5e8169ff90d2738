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


class _Gather(torch.autograd.Function):
    """``y.index_select(1, index)`` for ``y (R, S)`` where every source column occurs at least once.

    The backward avoids a full scatter: the gradient of each source is read from its first
    occurrence (one gather) and the few repeats (seam copies) are added with ``index_add_``.
    """

    @staticmethod
    def forward(ctx, y, index, primary, extra_src, extra_pos):
        ctx.save_for_backward(primary, extra_src, extra_pos)
        return y.index_select(1, index)

    @staticmethod
    def backward(ctx, grad):
        primary, extra_src, extra_pos = ctx.saved_tensors
        out = grad.index_select(1, primary)
        if extra_pos.numel():
            out.index_add_(1, extra_src, grad.index_select(1, extra_pos))
        return out, None, None, None, None


def register_gather(module: nn.Module, name: str, index: np.ndarray, n_sources: int) -> None:
    """Store the buffers of a gather ``index`` into ``n_sources`` columns on ``module``."""
    index = np.asarray(index, dtype=np.int64)
    _, first = np.unique(index, return_index=True)
    covers = len(first) == n_sources
    extra_pos = np.setdiff1d(np.arange(len(index)), first) if covers else np.zeros(0, np.int64)
    for key, value in (
        ("index", index),
        ("primary", first if covers else np.zeros(0, np.int64)),
        ("extra_src", index[extra_pos]),
        ("extra_pos", extra_pos),
    ):
        module.register_buffer(f"{name}_{key}", torch.as_tensor(value, dtype=torch.long), persistent=False)


def gather(module: nn.Module, name: str, y: torch.Tensor) -> torch.Tensor:
    """Apply the gather ``name`` registered by :func:`register_gather` to ``y (R, S)`` -> ``(R, M)``."""
    index = getattr(module, f"{name}_index")
    primary = getattr(module, f"{name}_primary")
    if primary.numel() == 0 or not torch.is_grad_enabled() or not y.requires_grad:
        return y.index_select(1, index)
    return _Gather.apply(y, index, primary, getattr(module, f"{name}_extra_src"), getattr(module, f"{name}_extra_pos"))


def gather_runs(module: nn.Module, name: str, y: torch.Tensor, runs: list, n_vertices: int) -> torch.Tensor:
    """Gather ``(B, C, V)`` along vertices run by run with the gathers ``f"{name}{j}"`` of ``module``
    (a vertex index for a trivial run, a :func:`_shifted_index` for a regular run); ``(B, C, M)``."""
    parts = []
    batch = y.shape[0]
    for j, (kind, mult, a, b) in enumerate(runs):
        width = 6 * n_vertices if kind == "reg" else n_vertices
        block = gather(module, f"{name}{j}", y[:, a:b].reshape(batch * mult, width))
        parts.append(block.reshape(batch, b - a, -1))
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
    Cells that read one of the 12 corners copy it without transport: a corner has no C6 frame, so
    a regular field there must be orientation-constant (C6-invariant), as every ico layer's output
    is (:class:`CornerRule`); see :mod:`gaugeconv.ico.atlas`.
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
            if kind == "reg":
                register_gather(self, f"pad{j}", _shifted_index(source, shift, atlas.n_vertices), 6 * atlas.n_vertices)
            else:
                register_gather(self, f"pad{j}", source, atlas.n_vertices)
        self.shape = (5 * (atlas.n + 2), 2 * atlas.n + 2)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim != 3 or y.shape[1] != self.field_type.dim or y.shape[2] != self.atlas.n_vertices:
            raise ValueError(
                f"expected an atlas tensor (B, {self.field_type.dim}, {self.atlas.n_vertices}), got {tuple(y.shape)}"
            )
        out = gather_runs(self, "pad", y, self.runs, self.atlas.n_vertices)
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
