"""Regular grids and their coarser grids (numpy and scipy only).

The grids of :mod:`gaugeconv.shapes` (plane, torus, cylinder, Möbius strip) are quad grids cut
into triangles along one diagonal per quad. Such a mesh is recognised intrinsically and
combinatorially:

1. every triangle's longest side (clearly longest: the diagonal) is also the longest side of
   the triangle across it; the two make a quad;
2. the quad sides fall into two directions (opposite sides of a quad are parallel, adjacent
   ones perpendicular), and every vertex gets a parity per direction, flipped by each quad side
   of that direction; a grid whose parities do not close up (an odd period) is not recognised;
3. the coarser grid keeps one of the four parity classes, every second vertex in both
   directions; its quads are the 2 x 2 blocks of quads around each vertex of the opposite class,
   and the coarser grid is recognised again (step 2) for the next level.

Which class is kept is decided per connected component by geometry: the class holding more of
the boundary's corners, then more of the boundary, then the larger sum of mesh degrees (the
centres of a union-jack pattern), then the larger total angle defect; only where the mesh's own
symmetry maps the classes onto each other does the lowest vertex id decide.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

__all__ = ["coarser_grid", "grid_sets", "quads_from_triangles"]


def _components(a, b, n):
    graph = sparse.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1]


def _parity(a, b, odd, n):
    """Parity (n,) of every vertex such that it changes along the ``odd`` pairs (a, b) and not
    along the others, or None if that is inconsistent (an odd cycle)."""
    # doubled graph: node v + n * bit; an odd pair links opposite bits
    lo = np.r_[a, a + n]
    hi = np.r_[np.where(odd, b + n, b), np.where(odd, b, b + n)]
    label = _components(lo, hi, 2 * n)
    zero, one = label[:n], label[n:]
    if np.any(zero == one):
        return None
    return (zero > one).astype(np.int64)


def quads_from_triangles(faces: np.ndarray, edge_length) -> np.ndarray | None:
    """Pair every triangle with the one across its clearly longest side (1% longer than the
    others, and the other's longest too). Returns quads (F / 2, 4) int64 in cyclic order, or None.

    Parameters
    ----------
    faces : (F, 3) int64
    edge_length : function (u, w) -> lengths of the mesh edges u-w (arrays)
    """
    if len(faces) % 2:
        return None
    a, b, c = faces.T
    sides = np.stack([edge_length(a, b), edge_length(b, c), edge_length(c, a)], axis=1)
    longest = np.argmax(sides, axis=1)
    ordered = np.sort(sides, axis=1)
    if np.any(ordered[:, 2] < 1.01 * ordered[:, 1]):
        return None
    rows = np.arange(len(faces))
    u, w = faces[rows, longest], faces[rows, (longest + 1) % 3]
    apex = faces[rows, (longest + 2) % 3]
    key = np.minimum(u, w) * (faces.max() + 1) + np.maximum(u, w)
    order = np.argsort(key, kind="stable")
    k = key[order]
    if np.any(k[0::2] != k[1::2]) or (k.size > 2 and np.any(k[1:-1:2] == k[2::2])):
        return None  # a diagonal not shared by exactly two triangles
    first, second = order[0::2], order[1::2]
    return np.stack([u[first], apex[first], w[first], apex[second]], axis=1)


def _coarse_quads(quads, old, centre, n):
    """The 2 x 2 blocks of quads around every ``centre`` vertex with four quads, as quads on the
    ``old`` corners in cyclic order; None if some block is not of that shape."""
    corner = np.repeat(np.arange(len(quads)), 4)
    flat = quads.reshape(-1)
    pos = np.tile(np.arange(4), len(quads))
    at = centre[flat]
    c = flat[at]
    opposite = quads[corner[at], (pos[at] + 2) % 4]
    side1 = quads[corner[at], (pos[at] + 1) % 4]
    side2 = quads[corner[at], (pos[at] + 3) % 4]
    count = np.bincount(c, minlength=n)
    full = count[c] == 4
    c, opposite, side1, side2 = c[full], opposite[full], side1[full], side2[full]
    if not np.all(old[opposite]):
        return None
    order = np.argsort(c, kind="stable")
    c, opposite, side1, side2 = c[order], opposite[order], side1[order], side2[order]
    # around c: the block's quads chain through the side vertices they share
    o = opposite.reshape(-1, 4)
    s1, s2 = side1.reshape(-1, 4), side2.reshape(-1, 4)
    ring = [o[:, 0]]
    prev = s1[:, 0]
    cur = np.zeros(len(o), dtype=np.int64)
    rows = np.arange(len(o))
    for _ in range(3):
        shares = (s1 == prev[:, None]) | (s2 == prev[:, None])
        shares[rows, cur] = False
        if np.any(shares.sum(axis=1) != 1):
            return None
        nxt = np.argmax(shares, axis=1)
        prev = np.where(s1[rows, nxt] == prev, s2[rows, nxt], s1[rows, nxt])
        cur = nxt
        ring.append(o[rows, nxt])
    # the ring goes the other way round than s1 of the first quad: (o0, o3, o2, o1) order is fine
    return np.stack(ring, axis=1)


def coarser_grid(quads: np.ndarray, n: int, score: np.ndarray):
    """The vertices of the coarser grid (every second in both directions) and its quads.

    Parameters
    ----------
    quads : (Q, 4) int64, a quad grid in cyclic order (orientation not needed)
    n : V
    score : (V, S) float, more per-vertex criteria to choose the kept class (after the corners
        and the boundary): per component, the class with the lexicographically largest sums
        wins (ties: the class of the lowest id)

    Returns
    -------
    None, or ``(old, coarse_quads)``: old (V,) bool, coarse_quads (Q', 4) int64 (possibly empty)
    """
    if len(quads) == 0:
        return None
    sides = np.stack([quads, np.roll(quads, -1, axis=1)], axis=2)  # (Q, 4, 2)
    lo, hi = np.minimum(sides[..., 0], sides[..., 1]), np.maximum(sides[..., 0], sides[..., 1])
    edge_key, edge = np.unique(lo * n + hi, return_inverse=True)
    edge = edge.reshape(-1, 4)
    n_edges = edge_key.size
    # directions: opposite sides are parallel (one class), adjacent sides perpendicular
    parallel = _components(np.r_[edge[:, 0], edge[:, 1]], np.r_[edge[:, 2], edge[:, 3]], n_edges)
    direction = _parity(parallel[edge[:, 0]], parallel[edge[:, 1]], np.ones(len(quads), bool), parallel.max() + 1)
    if direction is None:
        return None
    kind = direction[parallel]  # per quad side: 0 or 1
    u, w = edge_key // n, edge_key % n
    used = np.zeros(n, dtype=bool)
    used[quads.reshape(-1)] = True
    parities = [_parity(u, w, kind == d, n) for d in (0, 1)]
    if parities[0] is None or parities[1] is None:
        return None
    cls = parities[0] * 2 + parities[1]  # 0..3 relative to each component's own labels
    # boundary sides have one quad; a corner is a boundary vertex of one quad
    n_quads_at = np.bincount(quads.reshape(-1), minlength=n)
    side_count = np.bincount(edge.reshape(-1), minlength=n_edges)
    on_boundary = np.zeros(n)
    on_boundary[np.r_[u[side_count == 1], w[side_count == 1]]] = 1.0
    score = np.c_[on_boundary * (n_quads_at == 1), on_boundary, score]
    comp = _components(u, w, n)
    n_comp = comp.max() + 1
    best = np.full(n_comp, -1)
    best_score = None
    for k in range(4):
        mine = used & (cls == k)
        sums = np.stack([np.bincount(comp[mine], weights=col[mine], minlength=n_comp) for col in score.T], 1)
        lowest = np.full(n_comp, n)
        np.minimum.at(lowest, comp[mine], np.flatnonzero(mine))
        key = np.c_[sums, -lowest]
        if best_score is None:
            best, best_score = np.zeros(n_comp, dtype=np.int64), key
            continue
        better = np.zeros(n_comp, dtype=bool)
        decided = np.zeros(n_comp, dtype=bool)
        for col in range(key.shape[1]):
            gt, lt = key[:, col] > best_score[:, col], key[:, col] < best_score[:, col]
            better |= gt & ~decided
            decided |= gt | lt
        best[better], best_score[better] = k, key[better]
    old = used & (cls == best[comp])
    centre = used & (cls == (3 - best[comp]))  # the opposite class: both parities differ
    coarse = _coarse_quads(quads, old, centre, n)
    if coarse is None or not old.any():
        return None
    return old, coarse


def grid_sets(faces, n, levels, edge_length, score):
    """The vertices kept by up to ``levels`` coarser grids of a recognised grid (see module
    docstring), and the quads of the grid each was taken from (mesh vertex ids); two empty lists
    if the mesh is not one."""
    quads = quads_from_triangles(np.asarray(faces, dtype=np.int64), edge_length)
    sets, grids = [], []
    while quads is not None and len(quads) and len(sets) < levels:
        found = coarser_grid(quads, n, score)
        if found is None:
            break
        grids.append(quads)
        old, quads = found
        sets.append(np.flatnonzero(old))
    return sets, grids
