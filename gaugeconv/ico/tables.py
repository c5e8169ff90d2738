"""The seam, corner and pooling tables of the icosahedral fast path, built from an :class:`IcoAtlas` (numpy).

Every transported read of the fast path is one sparse linear map on flattened atlas tensors,
``x_flat[c * V + v] = x[c, v]``: the value of a cell read across a seam is
``rho(R(60 shift)) x_q`` with the field type's own representation (:meth:`FieldType.rho`), folded
into the map's indices and coefficients (a channel permutation for regular fields, a 2x2
rotation for irreps). The layers hold these tables as buffers and apply them with
:class:`gaugeconv.nn.util.SparseRead` (which also gives the adjoint for hand-written backward
passes): one mechanism for padding, ring corrections, unpooling and the corner rule.
"""

from __future__ import annotations

import numpy as np

from ..groups import FieldType, group_elements
from ..nn.kernel import nonzeros
from .atlas import DIRECTIONS, IcoAtlas

__all__ = [
    "C6_STEP",
    "border_cells",
    "check_c6_type",
    "corner_table",
    "invariant_projector",
    "pool_window",
    "transport_matrices",
    "transport_table",
    "unpool_table",
]

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


def check_atlas(atlas, where: str) -> IcoAtlas:
    """Raise TypeError unless ``atlas`` is an :class:`IcoAtlas`."""
    if not isinstance(atlas, IcoAtlas):
        raise TypeError(f"{where}: expected an IcoAtlas (build it once: atlas = IcoAtlas(level)), got {atlas!r}")
    return atlas


def transport_matrices(field_type: FieldType) -> np.ndarray:
    """``rho(R(60 j))`` for ``j = 0..5``: ``(6, C, C)`` float64 (the C6 elements of :func:`group_elements`)."""
    check_c6_type(field_type)
    return field_type.rho(*group_elements("C6"))


def invariant_projector(field_type: FieldType) -> np.ndarray:
    """The orthogonal projector onto the C6-invariant vectors, ``(C, C)``: the group average of
    :func:`transport_matrices`. Orientation mean for a regular field, zero for irreps of order
    k not divisible by 6, the identity for trivial fields."""
    return transport_matrices(field_type).mean(0)


def transport_table(field_type: FieldType, source, shift, valid, n_vertices: int, weight: float = 1.0):
    """A transported read as a sparse linear map on flattened features ``x_flat[c * V + v] = x[c, v]``:
    ``out[c, m] = sum_k coef[c, m, k] x_flat[index[c, m, k]] = weight [rho(R(60 shift[m])) x[:, source[m]]]_c``,
    and 0 where ``valid[m]`` is False.

    Parameters
    ----------
    field_type : C6 FieldType (or trivial fields)
    source : (M,) int, atlas index of each cell's source; shift : (M,) int, C6 transport; valid : (M,) bool
    n_vertices : V of the flattened features
    weight : a factor on every coefficient

    Returns
    -------
    index (C, M, K) int64 and coef (C, M, K) float64, K the largest number of non-zeros in a row of
    ``rho`` (1 for trivial and regular fields, 2 with irreps); invalid cells and padding entries
    have coefficient 0.
    """
    cols, vals = nonzeros(transport_matrices(field_type).transpose(2, 0, 1))  # (6, C, K): row c of rho_j
    source = np.asarray(source, dtype=np.int64).reshape(-1)
    shift = np.asarray(shift, dtype=np.int64).reshape(-1) % 6
    valid = np.asarray(valid, bool).reshape(-1)
    index = cols[shift].transpose(1, 0, 2) * n_vertices + source[None, :, None]
    coef = weight * vals[shift].transpose(1, 0, 2) * valid[None, :, None]
    return index, coef


def corner_table(atlas: IcoAtlas, field_type: FieldType, position):
    """The corner rule as a sparse map: each corner gets the mean of its 5 neighbours, projected
    onto the C6-invariant vectors (:func:`invariant_projector`).

    ``position(c, a)`` maps channel c and atlas index a (arrays) to a flat position in the caller's
    layout, or -1 where the layout has none (those neighbours are left out). Returns
    ``targets (C * 12,)``, the positions of the corners (channel-major, corners in the order of
    ``IcoAtlas.corners``; -1 where none), and ``index, coef (C * 12, K)`` for a SparseRead.
    """
    corners = atlas.atlas_of_vertex[atlas.corners]  # (12,)
    ring = atlas.atlas_of_vertex[atlas.corner_neighbours]  # (12, 5)
    which, value = nonzeros(invariant_projector(field_type).T)  # (C, Kp): non-zeros of each row
    c = field_type.dim
    index = position(which[:, None, :, None], ring[None, :, None, :])  # (C, 12, Kp, 5)
    coef = np.where(index >= 0, value[:, None, :, None] / 5, 0.0)
    index, coef = np.where(coef != 0, index, 0).reshape(c * 12, -1), coef.reshape(c * 12, -1)
    return position(np.arange(c)[:, None], corners[None, :]).reshape(-1), index, coef


def border_cells(atlas: IcoAtlas, transport: bool = True):
    """Source, shift and validity of the border ring of every chart, as four strips.

    Returns ``(rows, cols)``, each a tuple ``(source, shift, valid)`` of int/bool arrays:
    ``rows`` of shape ``(5, 2, 2n + 2)``: the lattice rows ``s = -1`` (strip 0) and ``s = n``
    (strip 1) of chart k, columns ``t = -1 .. 2n``; ``cols`` of shape ``(5, 2, n + 2)``: the lattice
    columns ``t = -1`` and ``t = 2n`` at ``s = -1 .. n``, whose two end cells (already in the rows)
    are marked invalid. ``transport=False`` zeroes the shifts (naive padding).
    """
    n = atlas.n
    src, shift = atlas.pad_source, atlas.pad_shift if transport else np.zeros_like(atlas.pad_shift)
    rows = (src[:, [0, n + 1], :], shift[:, [0, n + 1], :], np.ones((5, 2, 2 * n + 2), bool))
    valid = np.ones((5, 2, n + 2), bool)
    valid[:, :, [0, n + 1]] = False
    cols = (src[:, :, [0, 2 * n + 1]].transpose(0, 2, 1), shift[:, :, [0, 2 * n + 1]].transpose(0, 2, 1), valid)
    return rows, cols


def check_nested(fine: IcoAtlas, coarse: IcoAtlas) -> None:
    """Raise ValueError unless ``coarse`` is the level below ``fine`` with the same charts."""
    if coarse.level != fine.level - 1:
        raise ValueError(f"expected atlases of consecutive levels, got fine level {fine.level}, coarse {coarse.level}")
    fine_cells = fine.charts(fine.vertex_of_atlas[None])[0][:, ::2, ::2]
    if not np.array_equal(fine_cells, coarse.charts(coarse.vertex_of_atlas[None])[0]):
        raise RuntimeError("coarse and fine atlases are not nested (internal error)")


def pool_window(fine: IcoAtlas, coarse: IcoAtlas) -> np.ndarray:
    """(7, V_coarse) int64: the cell of the padded fine charts (:class:`IcoPad` layout, flattened
    ``(5 (n + 2), 2 n + 2)``) of each tap of the hexagon (centre, directions 0..5) around every
    coarse vertex (the fine cell ``(k, 2s, 2t)``); the two poles read cell 0 (set by the corner rule)."""
    check_nested(fine, coarse)
    n, m = fine.n, coarse.n
    k, s, t = np.meshgrid(np.arange(5), np.arange(m), np.arange(2 * m), indexing="ij")
    offsets = np.concatenate([[(0, 0)], DIRECTIONS])
    rows = k.reshape(1, -1) * (n + 2) + 1 + 2 * s.reshape(1, -1) + offsets[:, :1]
    cols = 1 + 2 * t.reshape(1, -1) + offsets[:, 1:]
    window = rows * (2 * n + 2) + cols  # (7, 10 m^2)
    return np.concatenate([window, np.zeros((7, 2), dtype=np.int64)], 1)


def unpool_table(field_type: FieldType, fine: IcoAtlas, coarse: IcoAtlas):
    """Upsampling as a sparse map ``(C, V_coarse) -> (C, V_fine)``: coarse vertices keep their
    value; each midpoint gets the mean of its two coarse neighbours, transported into its frame.

    Returns ``index, coef`` of shape ``(C * V_fine, K)`` on flattened coarse features.
    """
    check_nested(fine, coarse)
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
    valid = np.ones(sources.shape, bool)
    index, coef = transport_table(field_type, sources, shifts, valid, coarse.n_vertices, weight=0.5)  # (C, 2V, K)
    c, k = field_type.dim, index.shape[-1]
    index = index.reshape(c, fine.n_vertices, 2 * k)  # both neighbours' terms side by side
    coef = coef.reshape(c, fine.n_vertices, 2 * k)
    return index.reshape(c * fine.n_vertices, 2 * k), coef.reshape(c * fine.n_vertices, 2 * k)
