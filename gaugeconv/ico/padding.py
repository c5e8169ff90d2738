"""Padding across the seams of the icosahedral atlas, and the corner rule.

An atlas tensor holds per-vertex features ``(B, C, V)`` in atlas order (see
:mod:`gaugeconv.ico.atlas`). Inside a chart every transporter is the identity; across a seam the
value of a neighbour q is read in p's frame as ``rho(R(60 shift)) x_q`` with the field type's
representation. Only the one-cell border ring around each chart needs that transport (about
``6 / n`` of the cells): :class:`IcoPad` reads the ring with one transported sparse read
(:func:`gaugeconv.ico.tables.transport_table`) and places it around the chart interiors, which
it copies as they are. :class:`CornerRule` sets the 12 corners, which have no C6 frame.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from ..nn.util import SparseRead, as_tensor
from .atlas import IcoAtlas
from .tables import border_cells, check_atlas, check_c6_type, corner_table, transport_table

__all__ = ["CornerRule", "IcoPad"]


class _PlaceBorder(torch.autograd.Function):
    """Padded charts ``(B, C, 5, n + 2, 2n + 2)`` from an atlas tensor and its border strips."""

    @staticmethod
    def forward(ctx, x, rows, cols):
        b, c, v = x.shape
        n = cols.shape[-1] - 2
        ctx.shape = (b, c, v, n)
        padded = x.new_empty(b, c, 5, n + 2, 2 * n + 2)
        padded[..., 1 : n + 1, 1 : 2 * n + 1] = x[..., : 10 * n * n].view(b, c, 5, n, 2 * n)
        padded[..., [0, n + 1], :] = rows
        padded[..., 1 : n + 1, [0, 2 * n + 1]] = cols[..., 1 : n + 1].transpose(-1, -2)
        return padded

    @staticmethod
    def backward(ctx, grad):
        b, c, v, n = ctx.shape
        grad_x = grad.new_empty(b, c, v)
        grad_x[..., : 10 * n * n].view(b, c, 5, n, 2 * n).copy_(grad[..., 1 : n + 1, 1 : 2 * n + 1])
        grad_x[..., 10 * n * n :] = 0
        grad_rows = grad[..., [0, n + 1], :]
        grad_cols = grad.new_zeros(b, c, 5, 2, n + 2)
        grad_cols[..., 1 : n + 1] = grad[..., 1 : n + 1, [0, 2 * n + 1]].transpose(-1, -2)
        return grad_x, grad_rows, grad_cols


class IcoPad(nn.Module):
    """Pad the five charts of an atlas tensor across their seams.

    Parameters
    ----------
    field_type : C6 FieldType (trivial, irreps, regular fields)
    atlas : the :class:`IcoAtlas` of the level
    transport : apply the C6 transporters at the seams (True); False gives the naive padding
        that copies channels unchanged (wrong for non-trivial fields; a baseline)

    Shapes
    ------
    input ``(B, C, V)`` atlas order -> output ``(B, C, 5 (n + 2), 2 n + 2)``: chart k at rows
    ``k (n + 2) .. k (n + 2) + n + 1``, its owned cells at rows ``+1 .. +n`` and columns ``1 .. 2n``,
    the one-cell border read from the neighbouring charts with transport.
    Cells read by no vertex's hexagonal neighbourhood (two per chart) hold an arbitrary copy.
    Cells that read one of the 12 corners copy it without transport: a corner has no C6 frame, so
    its features must be C6-invariant, as every ico layer's output is (:class:`CornerRule`); see
    :mod:`gaugeconv.ico.atlas`.
    """

    def __init__(self, field_type: FieldType, atlas: IcoAtlas, transport: bool = True):
        super().__init__()
        self.field_type = self.in_type = self.out_type = check_c6_type(field_type)
        check_atlas(atlas, "IcoPad")
        self.level, self.n, self.n_vertices = atlas.level, atlas.n, atlas.n_vertices
        self.transport = bool(transport)
        n = atlas.n
        rows, cols = border_cells(atlas, transport)
        self.split = rows[0].size
        source, shift, valid = (np.concatenate([r.reshape(-1), c.reshape(-1)]) for r, c in zip(rows, cols))
        index, coef = transport_table(field_type, source, shift, valid, atlas.n_vertices)  # (C, M, K)
        self.border = SparseRead(index.reshape(-1, index.shape[-1]), coef.reshape(-1, coef.shape[-1]))
        self.shape = (5 * (n + 2), 2 * n + 2)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        b, c, v, n = y.shape[0], self.field_type.dim, self.n_vertices, self.n
        if y.ndim != 3 or y.shape[1] != c or y.shape[2] != v:
            raise ValueError(f"expected an atlas tensor (B, {c}, {v}), got {tuple(y.shape)}")
        cells = self.border(y.reshape(b, c * v)).view(b, c, -1)  # (B, C, border cells)
        rows = cells[..., : self.split].reshape(b, c, 5, 2, 2 * n + 2)
        cols = cells[..., self.split :].reshape(b, c, 5, 2, n + 2)
        return _PlaceBorder.apply(y, rows, cols).view(b, c, *self.shape)

    def extra_repr(self) -> str:
        return f"{self.field_type}, level={self.level}, transport={self.transport}"


class CornerRule(nn.Module):
    """Set the 12 corners of an atlas tensor to the mean of their 5 neighbours, projected onto the
    C6-invariant vectors (:func:`~gaugeconv.ico.tables.invariant_projector`: the orientation mean
    of a regular field, zero for a rotating irrep). Input and output ``(B, C, V)``.

    At level 0 every vertex is a corner, so no corner has a neighbour with a frame and the rule
    (hence every layer that applies it: :class:`~gaugeconv.ico.IcoConv`, and
    :class:`~gaugeconv.ico.IcoPool` to level 0) is not defined: the atlas must have level >= 1.

    Parameters
    ----------
    field_type : C6 FieldType
    atlas : the :class:`IcoAtlas` of the level (>= 1)

    ``forward(y, inplace=False)``: a new tensor, or ``y`` modified in place (for fresh
    intermediate tensors inside the layers).
    """

    def __init__(self, field_type: FieldType, atlas: IcoAtlas):
        super().__init__()
        self.field_type = self.in_type = self.out_type = check_c6_type(field_type)
        self.level = check_atlas(atlas, "CornerRule").level
        if self.level < 1:
            raise ValueError(
                "the corner rule needs an atlas of level >= 1 (at level 0 every vertex is a corner, none has a "
                "neighbour with a frame): convolve and pool down to level 1 at the coarsest"
            )
        v = atlas.n_vertices
        targets, index, coef = corner_table(atlas, field_type, lambda c, a: c * v + a)
        self.read = SparseRead(index, coef)
        self.register_buffer("targets", as_tensor(targets), persistent=False)

    def values(self, y: torch.Tensor) -> torch.Tensor:
        """The corner values the rule sets, ``(B, C, V) -> (B, C * 12)`` (channel-major)."""
        return self.read(y.reshape(y.shape[0], -1))

    def forward(self, y: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        values = self.values(y)
        if not inplace:
            y = y.clone(memory_format=torch.contiguous_format)
        y.view(y.shape[0], -1).index_copy_(1, self.targets, values)
        return y

    def extra_repr(self) -> str:
        return f"{self.field_type}, level={self.level}"
