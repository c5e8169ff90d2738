"""Seam transport for atlas tensors: the C6 transporters, the border of every chart, padding, and
the corner rule.

An atlas tensor holds per-vertex features ``(B, C, V)`` in atlas order (see
:mod:`gaugeconv.ico.atlas`). Inside a chart every transporter is the identity; across a seam the
value of a neighbour q is read in p's frame as ``rho(R(60 shift)) x_q`` with the field type's
representation ``rho`` (:meth:`FieldType.rho`): a cyclic shift of the 6 orientation channels for a
C6-regular field (channel i -> i + shift), a rotation by ``60 k shift`` degrees for an irrep of
order k, the identity for a trivial field. One mechanism serves every kind of field:
:class:`TransportGather` reads any list of (source, shift) cells, applying the matrices
``rho(R(60 j))`` to the few cells with a non-zero shift, grouped by shift.

Only the one-cell border ring around each chart needs transport (about ``6 / n`` of the cells),
so the layers read the chart interiors as plain views and transport just the border:
:class:`ChartBorder` gives the ring of every chart as four strips; :class:`IcoPad` assembles the
padded charts from them; :class:`gaugeconv.ico.IcoConv` corrects a zero-padded ``conv2d`` with them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from .atlas import ico_atlas

#: The rotation generating C6, in radians.
C6_STEP = np.pi / 3


def check_c6_type(field_type: FieldType) -> FieldType:
    """Return ``field_type`` if it is a C6 field type (or only trivial fields); raise otherwise.

    Raises TypeError for a non-FieldType and ValueError for another group's non-trivial fields.
    """
    if not isinstance(field_type, FieldType):
        raise TypeError(f"expected a FieldType like FieldType('4xreg', group='C6'), got {field_type!r}")
    trivial = all(k == "0" for _, k in field_type.fields)
    if field_type.group != "C6" and not trivial:
        raise ValueError(
            f"the icosahedral fast path supports C6 field types (trivial '0', irreps '1', '2', '3', regular 'reg'), "
            f"got {field_type!r}; use e.g. FieldType('2x0 + 8xreg', group='C6')"
        )
    return field_type


def transport_matrices(field_type: FieldType) -> np.ndarray:
    """``rho(R(60 j))`` for ``j = 0..5``: ``(6, C, C)`` float64."""
    check_c6_type(field_type)
    if field_type.group != "C6":  # trivial fields of another group
        return np.broadcast_to(np.eye(field_type.dim), (6, field_type.dim, field_type.dim)).copy()
    return field_type.rho(np.arange(6) * C6_STEP)


def invariant_projector(field_type: FieldType) -> np.ndarray:
    """The orthogonal projector onto the C6-invariant vectors, ``(C, C)``: the mean of
    :func:`transport_matrices`. Orientation mean for a regular field, zero for irreps of order
    k not divisible by 6, the identity for trivial fields."""
    return transport_matrices(field_type).mean(0)


def nonzeros(table: np.ndarray):
    """The non-zero entries along the first axis of ``table (n, *entry)``, for sparse maps:
    ``(which, value)`` of shape ``(*entry, K)``, K the most non-zeros of an entry (at least 1), in
    increasing order of ``which``; an entry with fewer has padding terms of value 0."""
    k = max(1, int((table != 0).sum(0).max()))
    order = np.argsort(table == 0, axis=0, kind="stable")[:k]  # non-zero elements first
    return np.moveaxis(order, 0, -1), np.moveaxis(np.take_along_axis(table, order, 0), 0, -1)


def transport_table(field_type: FieldType, source, shift, valid, n_vertices: int):
    """The transported read of :class:`TransportGather` as a sparse linear map on flattened
    features ``x_flat[c * V + v] = x[c, v]``: ``out[c, m] = sum_k coef[c, m, k] x_flat[index[c, m, k]]``.

    Returns ``index (C, M, K)`` int64 and ``coef (C, M, K)`` float64, K the largest number of
    non-zeros in a row of ``rho`` (1 for trivial and regular fields, 2 with irreps); invalid cells
    and padding entries have coefficient 0.
    """
    cols, vals = nonzeros(transport_matrices(field_type).transpose(2, 0, 1))  # (6, C, K): row c of rho_j
    source = np.asarray(source, dtype=np.int64).reshape(-1)
    shift = np.asarray(shift, dtype=np.int64).reshape(-1) % 6
    valid = np.asarray(valid, bool).reshape(-1)
    index = cols[shift].transpose(1, 0, 2) * n_vertices + source[None, :, None]
    coef = vals[shift].transpose(1, 0, 2) * valid[None, :, None]
    return index, coef


def corner_table(level: int, field_type: FieldType, position):
    """The corner rule as a sparse map: each corner gets the mean of its 5 neighbours, projected
    onto the C6-invariant vectors (:func:`invariant_projector`).

    ``position(c, a)`` maps channel c and atlas index a (arrays) to a flat position in the caller's
    layout, or -1 where the layout has none (those neighbours are left out). Returns
    ``targets (C * 12,)``, the positions of the corners (channel-major, corners in the order of
    ``IcoAtlas.corners``; -1 where none), and ``index, coef (C * 12, K)`` for :class:`SparseRead`.
    """
    atlas = ico_atlas(level)
    corners = atlas.atlas_of_vertex[atlas.corners]  # (12,)
    ring = atlas.atlas_of_vertex[atlas.corner_neighbours]  # (12, 5)
    which, value = nonzeros(invariant_projector(field_type).T)  # (C, Kp): non-zeros of each row
    c = field_type.dim
    index = position(which[:, None, :, None], ring[None, :, None, :])  # (C, 12, Kp, 5)
    coef = np.where(index >= 0, value[:, None, :, None] / 5, 0.0)
    index, coef = np.where(coef != 0, index, 0).reshape(c * 12, -1), coef.reshape(c * 12, -1)
    return position(np.arange(c)[:, None], corners[None, :]).reshape(-1), index, coef


class SparseRead(nn.Module):
    """A fixed sparse linear map on flattened features, ``(B, N) -> (B, R)``:
    ``out[:, r] = sum_k coef[r, k] x[:, index[r, k]]``, with its adjoint for custom backward passes.

    Parameters
    ----------
    index : (R, K) int, coef : (R, K) float (coefficients exactly 1 with K = 1 skip the product)
    """

    def __init__(self, index, coef):
        super().__init__()
        index, coef = np.asarray(index, dtype=np.int64), np.asarray(coef, dtype=np.float64)
        self.rows, self.width = index.shape
        # a plain gather when every row reads one entry with coefficient 1 (or is empty)
        self.plain = self.width == 1 and bool(np.all((coef == 1.0) | (coef == 0.0)))
        empty = np.flatnonzero(coef[:, 0] == 0.0) if self.plain else np.zeros(0, np.int64)
        self.register_buffer("empty", torch.as_tensor(empty), persistent=False)
        # k-major: the K terms of a row are K planes, summed over a middle axis
        self.register_buffer("index", torch.as_tensor(np.ascontiguousarray(index.T).reshape(-1)), persistent=False)
        self.register_buffer("coef", torch.as_tensor(np.ascontiguousarray(coef.T)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.index_select(1, self.index)
        if self.plain:
            return out.index_fill_(1, self.empty, 0) if self.empty.numel() else out
        return (out.view(x.shape[0], self.width, self.rows) * self.coef.to(x.dtype)).sum(1)

    def adjoint_(self, grad: torch.Tensor, grad_x: torch.Tensor) -> torch.Tensor:
        """``grad_x[:, index[r, k]] += coef[r, k] grad[:, r]``; ``grad (B, R)``, ``grad_x (B, N)`` in place."""
        if not self.plain:
            grad = (grad.unsqueeze(1) * self.coef.to(grad.dtype)).reshape(grad.shape[0], -1)
        elif self.empty.numel():
            grad = grad.index_fill(1, self.empty, 0)
        return grad_x.index_add_(1, self.index, grad)


class TransportGather(nn.Module):
    """Read transported cells of an atlas tensor: ``out[..., m] = rho(R(60 shift[m])) x[..., source[m]]``,
    and zero where ``valid[m]`` is False.

    Parameters
    ----------
    field_type : C6 FieldType of the features
    source : (M,) int, atlas index of each cell's source
    shift : (M,) int, the C6 transport (rotation by ``60 shift`` degrees)
    valid : (M,) bool or None (all valid)

    Shapes
    ------
    ``(..., C, V) -> (..., C, M)``. One ``index_select``; the cells with a non-zero shift (and a
    non-identity ``rho``) are then transported in place, one ``(C, C)`` matrix product per shift.
    """

    def __init__(self, field_type: FieldType, source, shift, valid=None):
        super().__init__()
        source = np.asarray(source, dtype=np.int64).reshape(-1)
        shift = np.asarray(shift, dtype=np.int64).reshape(-1) % 6
        valid = np.ones(len(source), bool) if valid is None else np.asarray(valid, bool).reshape(-1)
        mats = transport_matrices(field_type)
        moving = [j for j in range(1, 6) if not np.array_equal(mats[j], mats[0])]
        moved = np.flatnonzero(valid & np.isin(shift, moving))
        moved = moved[np.argsort(shift[moved], kind="stable")]
        counts = np.bincount(shift[moved], minlength=6)
        stops = np.cumsum(counts)
        self.groups = [(j, int(stops[j] - counts[j]), int(stops[j])) for j in range(6) if counts[j]]
        self.register_buffer("source", torch.as_tensor(source), persistent=False)
        self.register_buffer("moved", torch.as_tensor(moved), persistent=False)
        self.register_buffer("invalid", torch.as_tensor(np.flatnonzero(~valid)), persistent=False)
        self.register_buffer("matrices", torch.as_tensor(mats), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        out = x.reshape(-1, x.shape[-1]).index_select(1, self.source)  # 2-D: index_select's fast path
        if self.moved.numel():
            before = out.index_select(1, self.moved).view(*lead, -1)
            mats = self.matrices.to(x.dtype)
            after = [torch.matmul(mats[j], before[..., a:b]) for j, a, b in self.groups]
            after = after[0] if len(after) == 1 else torch.cat(after, -1)
            out.index_copy_(1, self.moved, after.reshape(out.shape[0], -1))
        if self.invalid.numel():
            out.index_fill_(1, self.invalid, 0)
        return out.view(*lead, -1)


def border_cells(level: int, transport: bool = True):
    """Source, shift and validity of the border ring of every chart, as four strips.

    Returns ``(rows, cols)``, each a tuple ``(source, shift, valid)`` of int/bool arrays:
    ``rows`` of shape ``(5, 2, 2n + 2)``: the lattice rows ``s = -1`` (strip 0) and ``s = n``
    (strip 1) of chart k, columns ``t = -1 .. 2n``; ``cols`` of shape ``(5, 2, n + 2)``: the lattice
    columns ``t = -1`` and ``t = 2n`` at ``s = -1 .. n``, whose two end cells (already in the rows)
    are marked invalid. ``transport=False`` zeroes the shifts (naive padding).
    """
    atlas = ico_atlas(level)
    n = atlas.n
    src, shift = atlas.pad_source, atlas.pad_shift if transport else np.zeros_like(atlas.pad_shift)
    rows = (src[:, [0, n + 1], :], shift[:, [0, n + 1], :], np.ones((5, 2, 2 * n + 2), bool))
    valid = np.ones((5, 2, n + 2), bool)
    valid[:, :, [0, n + 1]] = False
    cols = (src[:, :, [0, 2 * n + 1]].transpose(0, 2, 1), shift[:, :, [0, 2 * n + 1]].transpose(0, 2, 1), valid)
    return rows, cols


class ChartBorder(nn.Module):
    """The transported border ring of every chart of an atlas tensor (see :func:`border_cells`).

    Shapes
    ------
    ``(B, C, V)`` -> ``(rows (B, C, 5, 2, 2n + 2), cols (B, C, 5, 2, n + 2))``; invalid cells are zero.
    """

    def __init__(self, level: int, field_type: FieldType, transport: bool = True):
        super().__init__()
        self.n = ico_atlas(level).n
        rows, cols = border_cells(level, transport)
        self.split = rows[0].size
        source, shift, valid = (np.concatenate([r.reshape(-1), c.reshape(-1)]) for r, c in zip(rows, cols))
        self.gather = TransportGather(field_type, source, shift, valid)

    def forward(self, x: torch.Tensor):
        cells = self.gather(x)
        n, lead = self.n, x.shape[:-1]
        rows = cells[..., : self.split].reshape(*lead, 5, 2, 2 * n + 2)
        cols = cells[..., self.split :].reshape(*lead, 5, 2, n + 2)
        return rows, cols


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
    level : subdivision level r of the icosahedron (``n = 2**r``)
    field_type : C6 FieldType (trivial, irreps, regular fields)
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

    def __init__(self, level: int, field_type: FieldType, transport: bool = True):
        super().__init__()
        self.atlas = ico_atlas(level)
        self.field_type = check_c6_type(field_type)
        self.transport = bool(transport)
        self.border = ChartBorder(level, field_type, transport)
        self.shape = (5 * (self.atlas.n + 2), 2 * self.atlas.n + 2)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.ndim != 3 or y.shape[1] != self.field_type.dim or y.shape[2] != self.atlas.n_vertices:
            raise ValueError(
                f"expected an atlas tensor (B, {self.field_type.dim}, {self.atlas.n_vertices}), got {tuple(y.shape)}"
            )
        rows, cols = self.border(y)
        return _PlaceBorder.apply(y, rows, cols).view(y.shape[0], y.shape[1], *self.shape)

    def extra_repr(self) -> str:
        return f"level={self.atlas.level}, {self.field_type}, transport={self.transport}"


class CornerRule(nn.Module):
    """Set the 12 corners of an atlas tensor to the mean of their 5 neighbours, projected onto the
    C6-invariant vectors (:func:`invariant_projector`: the orientation mean of a regular field,
    zero for a rotating irrep). Input and output ``(B, C, V)``.

    ``forward(y, inplace=False)``: a new tensor, or ``y`` modified in place (for fresh
    intermediate tensors inside the layers).
    """

    def __init__(self, level: int, field_type: FieldType):
        super().__init__()
        v = ico_atlas(level).n_vertices
        targets, index, coef = corner_table(level, field_type, lambda c, a: c * v + a)
        self.read = SparseRead(index, coef)
        self.register_buffer("targets", torch.as_tensor(targets), persistent=False)

    def values(self, y: torch.Tensor) -> torch.Tensor:
        """The corner values the rule sets, ``(B, C, V) -> (B, C * 12)`` (channel-major)."""
        return self.read(y.reshape(y.shape[0], -1))

    def forward(self, y: torch.Tensor, inplace: bool = False) -> torch.Tensor:
        values = self.values(y)
        if not inplace:
            y = y.clone(memory_format=torch.contiguous_format)
        y.view(y.shape[0], -1).index_copy_(1, self.targets, values)
        return y
