"""Which vertices each coarse level keeps: recognised regular subdivisions, otherwise geodesic
farthest-point sampling seeded by geometry (numpy and scipy only).

Both choices are intrinsic and ignore how vertices are numbered:

* **Regular subdivision** (``coarsening="subdivision"``). A mesh made by splitting every triangle
  of a coarser mesh into four (``shapes.icosahedron(level)``, Loop-style refinements) is
  recognised combinatorially: its *irregular* vertices (interior degree != 6, boundary degree
  != 4) are old ones; across every new vertex the neighbour opposite an old vertex is old; the
  old vertices are the union of the classes of this relation that hold irregular vertices.
  The result is then checked: no two old vertices adjacent, every new vertex between exactly
  two old ones, faces split 3 : 1 into corner and centre faces. The coarse level keeps the old
  vertices, and its faces (one per centre face) are recognised again for the next level.
  Every symmetry of the mesh maps this vertex set onto itself (it is defined by the
  combinatorics alone), so the level below of the icosphere is invariant under all 60 rotations.
* **Sampling** (``coarsening="sample"``). Farthest-point sampling with graph geodesic distances
  on the mesh's own edge lengths ``log_r``, in rounds: seeds are, per connected component, the
  vertex of largest area; then each round adds the farthest vertex of every patch of vertices
  far from all chosen ones (:func:`farthest_point_order`). Seeds and choices
  come from the metric, so a relabelled, rotated or isometrically bent mesh gets the same
  levels; only exact ties (which need an exact symmetry of the mesh) fall back to the lowest
  vertex id. Level k is the prefix of ``max(ceil(V / ratio**k), n_components)`` vertices.

* **Grids** (``coarsening="grid"``): the regular coarser grid of a quad grid cut into triangles
  (the plane, torus, cylinder and Möbius strip of :mod:`gaugeconv.shapes`), see
  :mod:`~gaugeconv.preprocessing.grids`.

``coarsening="auto"`` (the default) uses a subdivision or a grid while it is recognised and
samples the remaining levels on the last recognised one (on its coarse edges).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..topology import half_edges
from .paths import edge_graph

__all__ = [
    "COARSENINGS",
    "FAR",
    "farthest_point_order",
    "level_sizes",
    "recognise_subdivision",
    "structured_sets",
]

#: Accepted values of ``coarsening``.
COARSENINGS = ("auto", "subdivision", "grid", "sample")


# ----------------------------------------------------------------------------------------- subdivision
def _rotate(h, partner, steps: int, forward: bool):
    """Half-edge reached from half-edges ``h`` (all leaving one vertex each) by turning around
    their tail ``steps`` times; -1 where the boundary stops the turn."""
    h = h.copy()
    for _ in range(steps):
        ok = h >= 0
        if forward:  # the previous half-edge of the face ends at the tail; its partner leaves it
            g = h[ok] - h[ok] % 3 + (h[ok] % 3 + 2) % 3
            h[ok] = partner[g]
        else:  # the partner arrives at the tail; the next half-edge of its face leaves it
            g = partner[h[ok]]
            h[ok] = np.where(g >= 0, g - g % 3 + (g % 3 + 1) % 3, -1)
    return h


def recognise_subdivision(faces: np.ndarray, n_vertices: int):
    """The coarser mesh of which ``faces`` is a regular 1-to-4 subdivision, or None.

    Parameters
    ----------
    faces : (F, 3) int64, consistently oriented
    n_vertices : V (vertices that no face uses are ignored)

    Returns
    -------
    None, or ``(old, coarse_faces)``: old (V,) bool marks the vertices of the coarser mesh,
    coarse_faces (F / 4, 3) int64 its faces on the same vertex ids, oriented like ``faces``.
    """
    faces = np.asarray(faces, dtype=np.int64)
    if len(faces) == 0 or len(faces) % 4:
        return None
    he = half_edges(faces, n_vertices)
    flat = faces.reshape(-1)
    head = faces[:, [1, 2, 0]].reshape(-1)
    inner = he.partner >= 0
    if np.any(flat[he.partner[inner]] != head[inner]):
        return None  # not consistently oriented
    used = np.bincount(flat, minlength=n_vertices) > 0
    degree = np.bincount(he.edges.reshape(-1), minlength=n_vertices)
    on_boundary = np.zeros(n_vertices, dtype=bool)
    on_boundary[he.edges[he.count == 1].reshape(-1)] = True
    regular = np.where(on_boundary, degree == 4, degree == 6)
    irregular = used & ~regular
    if not irregular.any() or regular.sum() < 0.5 * used.sum():
        return None  # new vertices (all regular) are about 3/4 of a subdivision's
    # across every regular vertex m: the neighbour three steps around m from a neighbour x
    h = np.arange(flat.size)
    opposite = _rotate(h, he.partner, 3, True)
    back = _rotate(h, he.partner, 3, False)
    opposite = np.where(opposite >= 0, opposite, back)
    ok = regular[flat] & (opposite >= 0)
    x, y = head[ok], head[opposite[ok]]
    graph = sparse.coo_matrix((np.ones(x.size), (x, y)), shape=(n_vertices, n_vertices))
    _, label = csgraph.connected_components(graph, directed=False)
    old = np.isin(label, np.unique(label[irregular])) & used
    # checks: old vertices independent, every new vertex between exactly two opposite old ones
    if np.any(old[he.edges[:, 0]] & old[he.edges[:, 1]]):
        return None
    new = used & ~old
    if np.any(~regular & new):
        return None
    u, w = he.edges[:, 0], he.edges[:, 1]
    mixed = old[u] != old[w]
    child, parent = np.where(old[u], w, u)[mixed], np.where(old[u], u, w)[mixed]
    if np.any(np.bincount(child, minlength=n_vertices)[new] != 2):
        return None
    to_old = old[head] & new[flat]
    if np.any(opposite[to_old] < 0) or np.any(~old[head[opposite[to_old]]]):
        return None
    per_face = old[faces].sum(axis=1)
    centre = per_face == 0
    if np.any(per_face > 1) or 4 * centre.sum() != len(faces):
        return None
    # a coarse corner is the old vertex two centre-face corners share
    parents = np.full((n_vertices, 2), -1, dtype=np.int64)
    order = np.argsort(child, kind="stable")
    parents[child[order[0::2]], 0] = parent[order[0::2]]
    parents[child[order[1::2]], 1] = parent[order[1::2]]
    m = faces[centre]
    corners = []
    for i, j in ((2, 0), (0, 1), (1, 2)):
        a, b = parents[m[:, i]], parents[m[:, j]]
        common = np.where((a[:, :1] == b[:, :1]) | (a[:, :1] == b[:, 1:]), a[:, :1], a[:, 1:])
        if np.any((common != b[:, :1]) & (common != b[:, 1:])):
            return None
        corners.append(common[:, 0])
    coarse = np.stack(corners, axis=1)
    if np.any(coarse[:, 0] == coarse[:, 1]) or np.any(coarse[:, 1] == coarse[:, 2]):
        return None
    return old, coarse


# ----------------------------------------------------------------------------------------- sampling
#: Each round of :func:`farthest_point_order` considers the vertices at least this fraction of
#: the largest distance from the chosen ones.
FAR = 0.5


def farthest_point_order(mesh: dict, count: int) -> np.ndarray:
    """Geodesic farthest-point sampling on the mesh edges, in rounds, seeded by geometry.

    Seeds: per connected component, the vertex of largest ``vertex_area``. Then each round
    computes every vertex's graph distance d (over ``log_r``) to the chosen vertices, and takes
    the local maxima of d (over their one-ring) with ``d >= FAR * max(d)`` in decreasing order of
    d, each unless a vertex taken before it in the round is closer to it than its own d (the
    farthest-point rule; distances between candidates are measured across the edge where their
    regions of nearest vertices touch). Rounds repeat until ``count`` vertices are chosen (the last keeps its
    farthest ones). A round costs about a Dijkstra search and the number of chosen vertices about
    doubles per round. Every choice is made by distance; only exact ties (an exact symmetry of
    the mesh) go to the lowest vertex id.

    Parameters
    ----------
    mesh : dict with ``vertices``, ``edge_index``, ``log_r``, ``vertex_area``
    count : number of vertices to return (at least one per connected component)

    Returns
    -------
    (count,) int64, distinct vertex ids in the order chosen: every prefix is well spread
    """
    n = len(mesh["vertices"])
    count = min(count, n)
    graph = edge_graph(mesh)
    q, p = mesh["edge_index"]
    _, label = csgraph.connected_components(graph, directed=False)
    by_label = np.lexsort((np.arange(n), -mesh["vertex_area"], label))  # per component: largest area, lowest id
    seeds = np.sort(by_label[np.r_[True, label[by_label][1:] != label[by_label][:-1]]])
    if count < seeds.size:
        raise ValueError(f"cannot sample {count} vertices with one per component ({seeds.size} components)")
    order = [seeds]
    total = seeds.size
    dist = csgraph.dijkstra(graph, indices=seeds, min_only=True)
    while total < count:
        top = dist.max()
        peak = np.full(n, -np.inf)
        np.maximum.at(peak, p, dist[q])
        cand = np.flatnonzero((dist >= FAR * top) & (dist >= peak) & (dist > 0))
        cand = cand[np.lexsort((cand, -dist[cand]))]  # farthest first
        rank = np.full(n, -1, dtype=np.int64)
        rank[cand] = np.arange(cand.size)
        # distances between candidates whose (geodesic Voronoi) regions touch, through the touching edge
        reach, _, owner = csgraph.dijkstra(graph, indices=cand, min_only=True, return_predecessors=True, limit=top)
        ok = (owner[q] >= 0) & (owner[p] >= 0)
        a, b = rank[owner[q[ok]]], rank[owner[p[ok]]]
        length = reach[q[ok]] + mesh["log_r"][ok] + reach[p[ok]]
        later, earlier = np.maximum(a, b), np.minimum(a, b)
        # a candidate is out if an earlier one is closer to it than its own distance
        close = (later != earlier) & (length < dist[cand][later])
        later, earlier = later[close], earlier[close]
        by = np.argsort(later, kind="stable")
        rivals = np.split(earlier[by], np.searchsorted(later[by], np.arange(1, cand.size)))
        taken = np.zeros(cand.size, dtype=bool)
        for i, earlier in enumerate(rivals):
            taken[i] = not taken[earlier].any()
        pick = cand[taken][: count - total]
        order.append(pick)
        total += pick.size
        dist = np.minimum(dist, csgraph.dijkstra(graph, indices=pick, min_only=True, limit=top))
    return np.concatenate(order).astype(np.int64)


def level_sizes(n_vertices: int, levels: int, ratio: float, n_components: int) -> list:
    """Vertex counts of sampled levels 0..K: ``max(ceil(V / ratio**k), n_components)``."""
    return [max(int(np.ceil(n_vertices / ratio**k)), n_components) for k in range(levels + 1)]


def _edge_length(mesh: dict, n: int):
    q, p = mesh["edge_index"]
    key = q * n + p
    order = np.argsort(key)
    return lambda u, w: mesh["log_r"][order[np.searchsorted(key[order], u * n + w)]]


def structured_sets(mesh: dict, levels: int, coarsening: str = "auto"):
    """The vertices kept by the levels below a recognised regular subdivision or grid, as far as
    it is recognised.

    Parameters
    ----------
    mesh : the buffers of level 0 (``faces`` consistently oriented where the mesh is orientable,
        ``edge_index``, ``log_r``, ``degree``, ``angle_defect``)
    levels : K, the most levels wanted
    coarsening : "auto" (whichever is recognised, as far as it is), "subdivision" or "grid" (that
        one, for all K levels: a ValueError otherwise) or "sample" (none)

    Returns
    -------
    sets : list of at most K (M_k,) int64 arrays of sorted vertex ids, nested
    kind : "subdivision", "grid" or None
    grids : for a grid, the quads (Q_k, 4) (mesh vertex ids) of the grid each set was taken from
    """
    from .grids import grid_sets

    if coarsening not in COARSENINGS:
        raise ValueError(f"coarsening must be one of {', '.join(COARSENINGS)}; got {coarsening!r}")
    n = len(mesh["vertices"])
    sets, kind, grids = [], None, []
    if coarsening in ("auto", "subdivision"):
        faces = np.asarray(mesh["faces"], dtype=np.int64)
        while len(sets) < levels:
            found = recognise_subdivision(faces, n)
            if found is None:
                break
            old, faces = found
            sets.append(np.flatnonzero(old))
        kind = "subdivision" if sets else None
    if not sets and coarsening in ("auto", "grid"):
        score = np.c_[mesh["degree"], np.round(mesh["angle_defect"], 9)]
        sets, grids = grid_sets(mesh["faces"], n, levels, _edge_length(mesh, n), score)
        kind = "grid" if sets else None
    if coarsening in ("subdivision", "grid") and len(sets) < levels:
        what = "a regular 1-to-4 subdivision" if coarsening == "subdivision" else "a regular quad grid"
        raise ValueError(
            f"coarsening={coarsening!r}: level {len(sets)} is not {what} of a coarser one; "
            "use coarsening='auto' or 'sample'"
        )
    return sets, kind, grids
