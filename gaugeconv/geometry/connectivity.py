"""Combinatorics of a validated mesh: orientation, ordered vertex fans, boundary.

Everything here is vectorised numpy and works on non-orientable meshes: the fan of each
vertex is ordered on its own (a vertex star is always a disc or half-disc), walking over
*states* ``(corner, direction)`` so that neighbouring faces of opposite orientation are
traversed backwards.

Notation: corner ``c = 3 f + i`` sits at vertex ``faces[f, i]``; its *a-side* is the face side
towards ``a = faces[f, (i + 1) % 3]`` (half-edge ``c``), its *b-side* the side towards
``b = faces[f, (i + 2) % 3]`` (half-edge ``3 f + (i + 2) % 3``). A corner traversed with
direction ``d = 0`` is entered through its a-side and left through its b-side (the face's own
orientation); ``d = 1`` is the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..mesh import HalfEdges, half_edges


def _next_in_face(h: np.ndarray) -> np.ndarray:
    return h - h % 3 + (h % 3 + 1) % 3


def _partners(he: HalfEdges) -> np.ndarray:
    """For each half-edge the other half-edge on its edge, or -1 on the boundary."""
    n = he.edge_of.size
    order = np.argsort(he.edge_of, kind="stable")
    sorted_edge = he.edge_of[order]
    partner = np.full(n, -1, dtype=np.int64)
    same = sorted_edge[1:] == sorted_edge[:-1]
    i = np.flatnonzero(same)
    partner[order[i]] = order[i + 1]
    partner[order[i + 1]] = order[i]
    return partner


@dataclass(frozen=True)
class Orientation:
    """Face orientation chosen per component.

    Attributes
    ----------
    faces : (F, 3) int64, faces reoriented consistently on each orientable component (the
        orientation most faces already had); faces of non-orientable components are kept
    flipped : (F,) bool, faces whose order was reversed
    component : (F,) int64, connected component of each face
    orientable : (n_components,) bool
    """

    faces: np.ndarray
    flipped: np.ndarray
    component: np.ndarray
    orientable: np.ndarray


def orient(faces: np.ndarray, he: HalfEdges) -> Orientation:
    """Orient each component consistently where possible (orientation double cover)."""
    n_faces = len(faces)
    partner = _partners(he)
    h1 = np.flatnonzero(partner > np.arange(partner.size))
    h2 = partner[h1]
    f1, f2 = h1 // 3, h2 // 3
    flat = faces.reshape(-1)
    disagree = flat[h1] == flat[h2]  # both faces run along the edge the same way
    # node f: face f as given; node f + F: face f reversed
    a = np.concatenate([f1, f1 + n_faces])
    b = np.concatenate([np.where(disagree, f2 + n_faces, f2), np.where(disagree, f2, f2 + n_faces)])
    graph = sparse.coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(2 * n_faces,) * 2)
    _, cover = csgraph.connected_components(graph, directed=False)
    plus, minus = cover[:n_faces], cover[n_faces:]
    non_orientable_face = plus == minus
    size = np.bincount(plus, minlength=cover.max() + 1)
    # keep the sheet of the cover on which most faces already lie (ties: lower label)
    flipped = ~non_orientable_face & ((size[minus] > size[plus]) | ((size[minus] == size[plus]) & (minus < plus)))
    oriented = faces.copy()
    oriented[flipped] = faces[flipped][:, ::-1]
    # mesh components: merge the two sheets of each cover component
    comp_graph = sparse.coo_matrix(
        (np.ones(n_faces, np.int8), (plus, minus)), shape=(cover.max() + 1,) * 2
    )
    _, sheet_comp = csgraph.connected_components(comp_graph, directed=False)
    component = sheet_comp[plus]
    orientable = np.ones(component.max() + 1, dtype=bool)
    orientable[component[non_orientable_face]] = False
    return Orientation(faces=oriented, flipped=flipped, component=component, orientable=orientable)


@dataclass(frozen=True)
class Fans:
    """Every vertex's corners in angular order, plus the half-edge structure.

    Attributes
    ----------
    faces : (F, 3) int64, the oriented faces all indices below refer to
    he : HalfEdges of ``faces``
    partner : (3F,) int64, the opposite half-edge on each edge, -1 on the boundary
    offset : (V + 1,) int64, the fan of vertex v is ``order[offset[v]:offset[v + 1]]``
    corner : (3F,) int64, corners sorted by (vertex, position in its fan)
    direction : (3F,) int8, traversal direction of each corner in ``corner`` order
    corner_direction : (3F,) int8, the same indexed by corner id
    boundary : (V,) bool, vertex lies on the boundary
    """

    faces: np.ndarray
    he: HalfEdges
    partner: np.ndarray
    offset: np.ndarray
    corner: np.ndarray
    direction: np.ndarray
    corner_direction: np.ndarray
    boundary: np.ndarray


def order_fans(faces: np.ndarray, n_vertices: int, he: HalfEdges | None = None) -> Fans:
    """Order the corners around each vertex (one fan per vertex, as validated).

    Interior vertices start their fan at their first corner, traversed with the face's own
    orientation; boundary vertices start at the corner entered through a boundary side,
    preferring one traversed with the face's orientation. On a consistently oriented mesh
    every corner is then traversed with ``d = 0``.
    """
    if he is None:
        he = half_edges(faces, n_vertices)
    n_corners = faces.size
    flat = faces.reshape(-1)
    partner = _partners(he)
    corners = np.arange(n_corners, dtype=np.int64)
    b_side = corners - corners % 3 + (corners % 3 + 2) % 3

    # successor of every state s = 2 c + d (terminal states point to themselves)
    nxt = np.empty(2 * n_corners, dtype=np.int64)
    for d, exit_side in ((0, b_side), (1, corners)):
        ph = partner[exit_side]
        inside = ph >= 0
        phs = np.where(inside, ph, 0)
        enters_a = flat[phs] == flat
        target = np.where(enters_a, 2 * phs, 2 * _next_in_face(phs) + 1)
        nxt[2 * corners + d] = np.where(inside, target, 2 * corners + d)

    # one start state per vertex: priority boundary-with-d0, boundary-with-d1, interior
    a_open = partner == -1
    b_open = partner[b_side] == -1
    priority = np.where(a_open, 0, np.where(b_open, 1, 2)).astype(np.int64)
    key = priority * n_corners + corners
    best = np.full(n_vertices, 3 * n_corners, dtype=np.int64)
    np.minimum.at(best, flat, key)
    start_corner = best % n_corners
    start_state = 2 * start_corner + (best // n_corners == 1)
    boundary = best // n_corners < 2

    # cut every cycle just before its start state
    is_start = np.zeros(2 * n_corners, dtype=bool)
    is_start[start_state] = True
    cut = is_start[nxt] & (nxt != np.arange(2 * n_corners))
    nxt[cut] = np.flatnonzero(cut)

    # pointer doubling: distance of every state to the end of its chain
    counts = np.bincount(flat, minlength=n_vertices)
    steps = int(np.ceil(np.log2(max(int(counts.max()), 2)))) + 1
    ptr = nxt.copy()
    dist = (ptr != np.arange(2 * n_corners)).astype(np.int64)
    for _ in range(steps):
        dist += dist[ptr]
        ptr = ptr[ptr]
    # a state belongs to its vertex's fan if its chain ends where the start's chain ends
    end = ptr[start_state][flat]  # per corner: end state of its vertex's fan
    chosen_d = np.where(ptr[2 * corners] == end, 0, 1)
    if np.any(ptr[2 * corners + chosen_d] != end):
        raise ValueError("vertex fans could not be ordered: the mesh is not manifold; validate it with make_mesh")
    state = 2 * corners + chosen_d
    position = counts[flat] - 1 - dist[state]

    offset = np.zeros(n_vertices + 1, dtype=np.int64)
    np.cumsum(counts, out=offset[1:])
    slot = offset[flat] + position
    corner_sorted = np.empty(n_corners, dtype=np.int64)
    corner_sorted[slot] = corners
    direction = chosen_d.astype(np.int8)
    return Fans(
        faces=faces,
        he=he,
        partner=partner,
        offset=offset,
        corner=corner_sorted,
        direction=direction[corner_sorted],
        corner_direction=direction,
        boundary=boundary,
    )


def boundary_loops(he: HalfEdges, n_vertices: int) -> int:
    """Number of boundary loops (components of the graph of boundary edges)."""
    open_edges = he.edges[he.count == 1]
    if len(open_edges) == 0:
        return 0
    graph = sparse.coo_matrix(
        (np.ones(len(open_edges), np.int8), (open_edges[:, 0], open_edges[:, 1])), shape=(n_vertices,) * 2
    )
    n, labels = csgraph.connected_components(graph, directed=False)
    return int(np.unique(labels[open_edges[:, 0]]).size)
