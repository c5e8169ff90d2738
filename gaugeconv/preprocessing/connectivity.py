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

#: Walk the fans of consistently oriented meshes by the shortcut in :func:`order_fans` (the tests
#: turn it off to check that the general walk gives the same fans).
SHORTCUTS = True


def _next_in_face(h: np.ndarray) -> np.ndarray:
    return h - h % 3 + (h % 3 + 1) % 3


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
    partner = he.partner
    h1 = np.flatnonzero(partner > np.arange(partner.size))
    h2 = partner[h1]
    f1, f2 = h1 // 3, h2 // 3
    flat = faces.reshape(-1)
    disagree = flat[h1] == flat[h2]  # both faces run along the edge the same way
    if SHORTCUTS and not disagree.any():
        # already consistent: the double cover is two copies of the face graph
        # rows f1 come sorted (h1 ascends): build the CSR directly, in the dtypes csgraph uses
        index = np.int32 if n_faces < 2**31 else np.int64
        indptr = np.zeros(n_faces + 1, dtype=index)
        np.cumsum(np.bincount(f1, minlength=n_faces), out=indptr[1:])
        graph = sparse.csr_matrix((np.ones(f1.size), f2.astype(index), indptr), shape=(n_faces,) * 2)
        n_comp, component = csgraph.connected_components(graph, directed=False)
        flipped = np.zeros(n_faces, dtype=bool)
        return Orientation(faces=faces, flipped=flipped, component=component, orientable=np.ones(n_comp, bool))
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
    comp_graph = sparse.coo_matrix((np.ones(n_faces, np.int8), (plus, minus)), shape=(cover.max() + 1,) * 2)
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


def _walk_oriented(succ, c, verts, counts, offset):
    """Fan walk with every corner traversed in its face's orientation: ``corner`` in fan order."""
    corner_sorted = np.empty(succ.size, dtype=np.int64)
    slot = offset[verts]
    k = 0
    while verts.size:
        corner_sorted[slot] = c
        k += 1
        more = counts[verts] > k
        if not more.all():
            verts, c, slot = verts[more], c[more], slot[more]
        c = succ[c]
        if (c < 0).any():
            raise ValueError("vertex fans could not be ordered: the mesh is not manifold; validate it with make_mesh")
        slot += 1
    return corner_sorted


def _walk(flat, partner, b_side, c, d, verts, counts, offset):
    """Fan walk over states (corner, direction): ``(corner, direction)`` in fan order."""
    n_corners = flat.size
    corner_sorted = np.empty(n_corners, dtype=np.int64)
    direction = np.empty(n_corners, dtype=np.int8)
    k = 0
    while verts.size:
        slot = offset[verts] + k
        corner_sorted[slot] = c
        direction[slot] = d
        k += 1
        more = counts[verts] > k
        if not more.all():
            verts, c, d = verts[more], c[more], d[more]
        exit_side = np.where(d == 1, c, b_side[c])
        ph = partner[exit_side]
        if (ph < 0).any():
            raise ValueError("vertex fans could not be ordered: the mesh is not manifold; validate it with make_mesh")
        enters_a = flat[ph] == flat[c]  # the next face runs away from v along the shared edge
        c = np.where(enters_a, ph, _next_in_face(ph))
        d = (~enters_a).astype(np.int64)
    return corner_sorted, direction


def order_fans(faces: np.ndarray, n_vertices: int, he: HalfEdges | None = None) -> Fans:
    """Order the corners around each vertex (one fan per vertex, as validated).

    Interior vertices start their fan at one of their corners, traversed with the face's own
    orientation; boundary vertices start at the corner entered through a boundary side,
    preferring one traversed with the face's orientation. On a consistently oriented mesh
    every corner is then traversed with ``d = 0``.

    All fans are walked together, one step per position: step k visits the k-th corner of
    every vertex whose fan is longer than k, so the total work is one visit per corner.
    """
    if he is None:
        he = half_edges(faces, n_vertices)
    n_corners = faces.size
    flat = faces.reshape(-1)
    partner = he.partner
    corners = np.arange(n_corners, dtype=np.int64)

    # start state per vertex: later assignments take precedence (interior < b-open < a-open)
    start = np.empty(n_vertices, dtype=np.int64)
    corners *= 2
    start[flat] = corners
    del corners
    # the half-edge on the other side of each corner's b-side (half-edge b -> v, 3 f + (i + 2) % 3)
    succ = partner.reshape(-1, 3)[:, [2, 0, 1]].reshape(-1)
    b_open = np.flatnonzero(succ == -1)
    a_open = np.flatnonzero(partner == -1)
    start[flat[b_open]] = 2 * b_open + 1
    start[flat[a_open]] = 2 * a_open
    boundary = np.zeros(n_vertices, dtype=bool)
    boundary[flat[a_open]] = True
    boundary[flat[b_open]] = True

    counts = np.bincount(flat, minlength=n_vertices)
    offset = np.zeros(n_vertices + 1, dtype=np.int64)
    np.cumsum(counts, out=offset[1:])
    verts = np.flatnonzero(counts)
    c, d = start[verts] >> 1, start[verts] & 1
    del start
    # consistently oriented (every fan traversed with d = 0): the next corner around the vertex is
    # the partner of the b-side (it starts at the vertex), one gather per visit in the walk
    oriented = SHORTCUTS and not d.any() and bool(np.all((flat[succ] == flat) | (succ < 0)))
    if oriented:
        corner_sorted = _walk_oriented(succ, c, verts, counts, offset)
        direction = np.zeros(n_corners, dtype=np.int8)
        corner_direction = direction.copy()
    else:
        del succ
        b_side = np.arange(n_corners, dtype=np.int64).reshape(-1, 3)[:, [2, 0, 1]].reshape(-1)
        corner_sorted, direction = _walk(flat, partner, b_side, c, d, verts, counts, offset)
        corner_direction = np.empty(n_corners, dtype=np.int8)
        corner_direction[corner_sorted] = direction
    seen = np.zeros(n_corners, dtype=bool)
    seen[corner_sorted] = True
    if not seen.all():  # n_corners slots: a corner visited twice leaves another unvisited
        raise ValueError("vertex fans could not be ordered: the mesh is not manifold; validate it with make_mesh")
    return Fans(
        faces=faces,
        he=he,
        partner=partner,
        offset=offset,
        corner=corner_sorted,
        direction=direction,
        corner_direction=corner_direction,
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
