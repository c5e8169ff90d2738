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

from ..topology import HalfEdges, half_edges

__all__ = [
    "Fans",
    "Orientation",
    "boundary_loops",
    "next_corner",
    "order_fans",
    "order_fans_oriented",
    "orient",
    "previous_corner",
]


def next_corner(c: np.ndarray) -> np.ndarray:
    """The corner after ``c`` in its face: ``3 f + (i + 1) % 3`` for ``c = 3 f + i``."""
    return c - c % 3 + (c % 3 + 1) % 3


def previous_corner(c: np.ndarray) -> np.ndarray:
    """The corner before ``c`` in its face: ``3 f + (i + 2) % 3`` for ``c = 3 f + i``."""
    return c - c % 3 + (c % 3 + 2) % 3


def b_side_partner(partner: np.ndarray) -> np.ndarray:
    """``partner[previous_corner(c)]`` for every corner c: the half-edge on the other side of each
    corner's b-side (-1 on the boundary), by a column permutation."""
    return partner.reshape(-1, 3)[:, [2, 0, 1]].reshape(-1)


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
    partner = he.partner
    h1 = np.flatnonzero(partner > np.arange(partner.size))
    h2 = partner[h1]
    f1, f2 = h1 // 3, h2 // 3
    flat = faces.reshape(-1)
    disagree = flat[h1] == flat[h2]  # both faces run along the edge the same way
    if not disagree.any():
        return _already_consistent(faces, f1, f2)
    return _double_cover(faces, f1, f2, disagree)


def _already_consistent(faces: np.ndarray, f1: np.ndarray, f2: np.ndarray) -> Orientation:
    """:func:`orient` when every pair of adjacent faces already agrees: the double cover is two
    copies of the face graph, so the components of the face graph are all that is needed."""
    n_faces = len(faces)
    # rows f1 come sorted (h1 ascends): the CSR is built directly, in the dtypes csgraph uses
    index = np.int32 if n_faces < 2**31 else np.int64
    indptr = np.zeros(n_faces + 1, dtype=index)
    np.cumsum(np.bincount(f1, minlength=n_faces), out=indptr[1:])
    graph = sparse.csr_matrix((np.ones(f1.size), f2.astype(index), indptr), shape=(n_faces,) * 2)
    n_comp, component = csgraph.connected_components(graph, directed=False)
    flipped = np.zeros(n_faces, dtype=bool)
    return Orientation(faces=faces, flipped=flipped, component=component, orientable=np.ones(n_comp, bool))


def _double_cover(faces: np.ndarray, f1: np.ndarray, f2: np.ndarray, disagree: np.ndarray) -> Orientation:
    """:func:`orient` in general: components of the orientation double cover. Faces f1[i], f2[i]
    share an edge; ``disagree[i]`` when they run along it the same way."""
    n_faces = len(faces)
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


def _fan_starts(faces: np.ndarray, n_vertices: int, partner: np.ndarray, b_partner: np.ndarray):
    """Where each vertex's fan starts, and the fan sizes.

    Interior vertices start at one of their corners, traversed forwards; a boundary vertex starts
    at the corner entered through its boundary side: forwards if that is the corner's a-side,
    backwards if it is the b-side (forwards preferred when both are open). ``b_partner`` is
    :func:`b_side_partner` of ``partner``.

    Returns
    -------
    vertices : (V',) the vertices that have corners; corner, direction : (V',) their start states;
    counts : (V,) corners per vertex; offset : (V + 1,) fan slots; boundary : (V,) bool
    """
    flat = faces.reshape(-1)
    corners = np.arange(flat.size, dtype=np.int64)
    b_open = np.flatnonzero(b_partner == -1)  # the b-side is a boundary side
    a_open = np.flatnonzero(partner == -1)  # the a-side (half-edge c) is a boundary side
    # start state 2 c + d per vertex; later assignments take precedence (interior < b-open < a-open)
    start = np.empty(n_vertices, dtype=np.int64)
    start[flat] = 2 * corners
    start[flat[b_open]] = 2 * b_open + 1
    start[flat[a_open]] = 2 * a_open
    boundary = np.zeros(n_vertices, dtype=bool)
    boundary[flat[a_open]] = True
    boundary[flat[b_open]] = True
    counts = np.bincount(flat, minlength=n_vertices)
    offset = np.concatenate([[0], np.cumsum(counts)])
    vertices = np.flatnonzero(counts)
    return vertices, start[vertices] >> 1, start[vertices] & 1, counts, offset, boundary


def _check_visited(corner_sorted: np.ndarray) -> None:
    seen = np.zeros(corner_sorted.size, dtype=bool)
    seen[corner_sorted] = True
    if not seen.all():  # as many slots as corners: a corner visited twice leaves another unvisited
        raise ValueError("vertex fans could not be ordered: the mesh is not manifold; validate it with make_mesh")


def order_fans(faces: np.ndarray, n_vertices: int, he: HalfEdges | None = None) -> Fans:
    """Order the corners around each vertex (one fan per vertex, as validated); any mesh.

    The walk runs over states (corner, direction): leaving a corner through its exit side (the
    b-side forwards, the a-side backwards) it enters the partner face at the corner of the same
    vertex, forwards if the partner face runs away from the vertex along the shared edge and
    backwards otherwise. All fans are walked together, one step per position: step k visits the
    k-th corner of every vertex whose fan is longer than k (one visit per corner in total).
    On a consistently oriented mesh every direction is 0: :func:`order_fans_oriented` is then the
    faster way to the same fans.
    """
    he = half_edges(faces, n_vertices) if he is None else he
    flat = faces.reshape(-1)
    partner = he.partner
    verts, c, d, counts, offset, boundary = _fan_starts(faces, n_vertices, partner, b_side_partner(partner))
    corner_sorted = np.empty(flat.size, dtype=np.int64)
    direction = np.empty(flat.size, dtype=np.int8)
    k = 0
    while verts.size:
        slot = offset[verts] + k
        corner_sorted[slot], direction[slot] = c, d
        k += 1
        more = counts[verts] > k
        verts, c, d = verts[more], c[more], d[more]
        exit_side = np.where(d == 1, c, previous_corner(c))
        ph = partner[exit_side]
        if (ph < 0).any():
            raise ValueError("vertex fans could not be ordered: the mesh is not manifold; validate it with make_mesh")
        enters_a = flat[ph] == flat[c]  # the next face runs away from the vertex along the shared edge
        c = np.where(enters_a, ph, next_corner(ph))
        d = (~enters_a).astype(np.int64)
    _check_visited(corner_sorted)
    corner_direction = np.empty(flat.size, dtype=np.int8)
    corner_direction[corner_sorted] = direction
    return Fans(faces, he, partner, offset, corner_sorted, direction, corner_direction, boundary)


def order_fans_oriented(faces: np.ndarray, n_vertices: int, he: HalfEdges | None = None) -> Fans:
    """:func:`order_fans` for consistently oriented faces (the fast path): every corner is
    traversed forwards, so the corner after c around its vertex is the partner of c's b-side,
    one gather per step.

    Raises ValueError if the faces are not consistently oriented.
    """
    he = half_edges(faces, n_vertices) if he is None else he
    flat = faces.reshape(-1)
    partner = he.partner
    succ = b_side_partner(partner)  # a corner of the same vertex when oriented
    verts, c, d, counts, offset, boundary = _fan_starts(faces, n_vertices, partner, succ)
    if d.any() or not np.all((flat[succ] == flat) | (succ < 0)):
        raise ValueError("order_fans_oriented needs consistently oriented faces; use order_fans")
    corner_sorted = np.empty(flat.size, dtype=np.int64)
    slot = offset[verts]
    k = 0
    while verts.size:
        corner_sorted[slot] = c
        k += 1
        more = counts[verts] > k
        verts, c, slot = verts[more], succ[c[more]], slot[more] + 1
        if (c < 0).any():
            raise ValueError("vertex fans could not be ordered: the mesh is not manifold; validate it with make_mesh")
    _check_visited(corner_sorted)
    direction = np.zeros(flat.size, dtype=np.int8)
    return Fans(faces, he, partner, offset, corner_sorted, direction, direction.copy(), boundary)


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
