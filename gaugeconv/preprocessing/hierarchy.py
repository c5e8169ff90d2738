"""Coarse levels and pooling maps with parallel transporters (numpy/scipy only).

Level 0 is the mesh. Level k keeps ``ceil(V / ratio**k)`` of its vertices, chosen by
farthest-point sampling in 3D from one seed per connected component; the levels are nested
prefixes of one sampling order, so coarse vertex i of level k *is* vertex i of level k-1 and,
through the chain, a mesh vertex. A coarse vertex shares that mesh vertex's gauge, which makes
gauge transformations of the hierarchy a matter of indexing.

Everything else is composed along mesh edges, intrinsically:

* a multi-source Dijkstra on the mesh edges (lengths ``log_r``) from the level-k vertices gives
  every mesh vertex its nearest coarse vertex (a geodesic Voronoi cell) and a shortest-path tree;
* walking each tree from its root, the position of a vertex in the root's gauge is the running
  sum of the edge displacements (``log_r``, ``log_theta``) transported to the root by the composed
  transporters, and the transporter to the root is the running product ``T_root<-v``. On a flat
  mesh this discrete log map is exact; on a curved one it follows the tree (checked against the
  vector heat log map of potpourri3d in the tests);
* two coarse vertices are neighbours when their cells share a mesh edge ``b -> a``; the pair's log
  map and transporter go through the shortest such crossing: ``T = T_a T_ab T_b^-1`` and
  ``x = x_a + T_a log_a(b) - T T_b x_b`` (``x_v`` the position of v in its root's gauge);
* the pooling map from level k-1 to level k assigns each level-(k-1) vertex to its cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..groups import o2_compose, o2_inverse, wrap_angle


# ----------------------------------------------------------------------------------------- sampling
def farthest_point_order(points: np.ndarray, count: int, seeds) -> np.ndarray:
    """Deterministic farthest-point sampling: ``seeds`` first, then repeatedly the point
    farthest (Euclidean) from all chosen ones, ties to the lowest index.

    Exact, and fast: choosing a point can only lower the distances inside the current covering
    radius, so only that ball (a k-d tree query) is updated, and the maximum is kept per block of
    ``sqrt(V)`` points (only the blocks the ball touches are recomputed).

    Parameters
    ----------
    points : (V, 3)
    count : number of points to return, ``len(seeds) <= count <= V``
    seeds : (S,) int, distinct

    Returns
    -------
    (count,) int64, distinct indices; every prefix is well spread.
    """
    from scipy.spatial import cKDTree

    points = np.asarray(points, dtype=np.float64)
    seeds = np.asarray(seeds, dtype=np.int64)
    n = len(points)
    order = np.empty(count, dtype=np.int64)
    order[: len(seeds)] = seeds
    width = max(int(np.ceil(np.sqrt(n))), 1)
    n_blocks = -(-n // width)
    flat = np.full(n_blocks * width, -np.inf)  # squared distance to the chosen points; padding -inf
    flat[:n] = np.inf
    for s in seeds:
        np.minimum(flat[:n], np.sum((points - points[s]) ** 2, axis=1), out=flat[:n])
    blocks = flat.reshape(n_blocks, width)  # a view: block maxima are recomputed from it
    block_max = blocks.max(axis=1)
    tree = cKDTree(points)
    for k in range(len(seeds), count):
        b = int(np.argmax(block_max))  # first block holding the maximum, then its first index
        j = int(np.argmax(blocks[b]))
        nxt = b * width + j
        order[k] = nxt
        radius = np.sqrt(blocks[b, j]) * (1 + 1e-12) + 1e-300
        ball = np.asarray(tree.query_ball_point(points[nxt], radius), dtype=np.int64)
        nd = np.sum((points[ball] - points[nxt]) ** 2, axis=1)
        lower = nd < flat[ball]
        changed = ball[lower]
        flat[changed] = nd[lower]
        touched = np.unique(changed // width)
        block_max[touched] = blocks[touched].max(axis=1)
    return order


# ----------------------------------------------------------------------------------------- tree walk
@dataclass(frozen=True)
class Cells:
    """Geodesic Voronoi cells of some mesh vertices (the roots) with the discrete log map.

    owner (V,) int64 root of each vertex (a mesh vertex id); dist (V,) path length to it;
    position (V,) complex: the vertex in its root's gauge (x + i y); transport_angle,
    transport_flip (V,): ``T`` from the vertex's gauge to its root's gauge.
    """

    owner: np.ndarray
    dist: np.ndarray
    position: np.ndarray
    transport_angle: np.ndarray
    transport_flip: np.ndarray


def _act(angle, flip, z):
    """``T z`` for ``T = R(angle) F**flip`` acting on complex coordinates ``z``."""
    return np.exp(1j * angle) * np.where(flip, np.conj(z), z)


def voronoi_cells(mesh: dict, roots: np.ndarray) -> Cells:
    """Cells of ``roots`` (vertex ids) on the edges of ``mesh`` (a dict of buffers as
    :func:`~gaugeconv.preprocessing.compute_buffers` returns), walked as in the module docstring."""
    n = len(mesh["vertices"])
    q, p = mesh["edge_index"]
    graph = sparse.csr_matrix((mesh["log_r"], (q, p)), shape=(n, n))
    dist, pred, owner = csgraph.dijkstra(graph, indices=roots, min_only=True, return_predecessors=True)
    if not np.all(np.isfinite(dist)):
        raise ValueError("some vertices cannot reach a coarse vertex: every component needs a root")
    # edge id of v -> pred[v] (source v, target pred[v]) by a sorted key lookup
    key = p * n + q
    order = np.argsort(key)
    child = np.flatnonzero(pred >= 0)
    edge = order[np.searchsorted(key[order], pred[child] * n + child)]
    parent_edge = np.full(n, -1, dtype=np.int64)
    parent_edge[child] = edge
    position = np.zeros(n, dtype=np.complex128)
    t_angle = np.zeros(n)
    t_flip = np.zeros(n, dtype=bool)
    done = pred < 0  # the roots
    disp = mesh["log_r"] * np.exp(1j * mesh["log_theta"])  # q in p's gauge
    ta, tf = mesh["transport_angle"], mesh["transport_flip"]
    while not done.all():
        ready = np.flatnonzero(~done & done[np.maximum(pred, 0)])
        u, e = pred[ready], parent_edge[ready]
        position[ready] = position[u] + _act(t_angle[u], t_flip[u], disp[e])
        t_angle[ready], t_flip[ready] = o2_compose(t_angle[u], t_flip[u], ta[e], tf[e])
        done[ready] = True
    return Cells(owner.astype(np.int64), dist, position, t_angle, t_flip)


def coarse_edges(mesh: dict, cells: Cells, local: np.ndarray) -> dict:
    """Directed edges between neighbouring cells (sharing a mesh edge), grouped by target in
    angular order. ``local`` maps a mesh vertex id of a root to its coarse index.

    Returns a dict of edge_index (2, E_c), log_r, log_theta, transport_angle, transport_flip.
    """
    q, p = mesh["edge_index"]
    cross = np.flatnonzero(cells.owner[q] != cells.owner[p])
    b, a = q[cross], p[cross]  # mesh edge b -> a, a in the target cell
    src, dst = local[cells.owner[b]], local[cells.owner[a]]
    cost = cells.dist[a] + cells.dist[b] + mesh["log_r"][cross]
    undirected = np.minimum(a, b) * len(mesh["vertices"]) + np.maximum(a, b)  # same tie-break both ways
    pair = dst * (local.max() + 1) + src
    pick = np.lexsort((undirected, cost, pair))
    first = np.r_[True, pair[pick][1:] != pair[pick][:-1]]
    pick = pick[first]
    e, a, b, src, dst = cross[pick], a[pick], b[pick], src[pick], dst[pick]
    ta, tf = mesh["transport_angle"][e], mesh["transport_flip"][e]
    disp = mesh["log_r"][e] * np.exp(1j * mesh["log_theta"][e])
    # T = T_a T_ab T_b^-1, x = x_a + T_a log_a(b) - T x_b
    t_a, f_a = cells.transport_angle[a], cells.transport_flip[a]
    ang, fl = o2_compose(t_a, f_a, ta, tf)
    ib_a, ib_f = o2_inverse(cells.transport_angle[b], cells.transport_flip[b])
    ang, fl = o2_compose(ang, fl, ib_a, ib_f)
    x = cells.position[a] + _act(t_a, f_a, disp) - _act(ang, fl, cells.position[b])
    theta = wrap_angle(np.angle(x))
    order = np.lexsort((theta, dst))
    return {
        "edge_index": np.stack([src[order], dst[order]]),
        "log_r": np.abs(x)[order],
        "log_theta": theta[order],
        "transport_angle": ang[order],
        "transport_flip": fl[order],
    }


# ----------------------------------------------------------------------------------------- hierarchy
def level_sizes(n_vertices: int, levels: int, ratio: float, n_components: int) -> list:
    """Vertex counts of levels 0..K: ``max(ceil(V / ratio**k), n_components)``."""
    return [max(int(np.ceil(n_vertices / ratio**k)), n_components) for k in range(levels + 1)]


def build_hierarchy(mesh: dict, levels: int, ratio: float = 4.0):
    """Coarse levels 1..K and the pooling maps between consecutive levels.

    Parameters
    ----------
    mesh : the buffers of level 0, a dict as :func:`~gaugeconv.preprocessing.compute_buffers` returns
    levels : K >= 0, number of coarse levels
    ratio : > 1, vertex count ratio between consecutive levels

    Returns
    -------
    levels : list of K dicts of Geometry fields (level k has ``name + "/level{k}"``, no faces)
    pools : list of K dicts of :class:`~gaugeconv.buffers.PoolMap` fields, ``pools[k-1]`` from
        level k-1 to level k
    """
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool) or levels < 0:
        raise ValueError(f"levels must be an integer >= 0, got {levels!r}")
    if not ratio > 1:
        raise ValueError(f"ratio must be > 1, got {ratio!r}")
    if levels == 0:
        return [], []
    n = len(mesh["vertices"])
    q, p = mesh["edge_index"]
    graph = sparse.csr_matrix((np.ones(q.size), (q, p)), shape=(n, n))
    _, label = csgraph.connected_components(graph, directed=False)
    seeds = np.unique(label, return_index=True)[1]  # lowest vertex of every component
    sizes = level_sizes(n, levels, ratio, len(seeds))
    samples = farthest_point_order(mesh["vertices"], sizes[1], np.sort(seeds))
    vertex_area, boundary, defect = mesh["vertex_area"], mesh["boundary"], mesh["angle_defect"]
    out_levels, pools = [], []
    for k in range(1, levels + 1):
        roots = samples[: sizes[k]]
        local = np.full(n, -1, dtype=np.int64)
        local[roots] = np.arange(sizes[k])
        cells = voronoi_cells(mesh, roots)
        owner = local[cells.owner]
        edges = coarse_edges(mesh, cells, local)
        m = sizes[k]
        degree = np.bincount(edges["edge_index"][1], minlength=m)
        flips = bool(edges["transport_flip"].any())
        out_levels.append(
            dict(
                vertices=mesh["vertices"][roots],
                faces=np.zeros((0, 3), dtype=np.int64),
                frames=mesh["frames"][roots],
                vertex_area=np.bincount(owner, weights=vertex_area, minlength=m),
                degree=degree,
                boundary=np.bincount(owner, weights=boundary, minlength=m) > 0,
                angle_defect=np.bincount(owner, weights=defect, minlength=m),
                **edges,
                orientable=mesh["orientable"],
                structure_group="O2" if (flips or mesh["structure_group"] == "O2") else "SO2",
                n_components=mesh["n_components"],
                n_boundary_loops=mesh["n_boundary_loops"],
                euler_characteristic=mesh["euler_characteristic"],
                mesh_hash=mesh["mesh_hash"],
                name=f"{mesh['name']}/level{k}",
            )
        )
        fine = samples[: sizes[k - 1]] if k > 1 else np.arange(n)
        z = cells.position[fine]
        pools.append(
            dict(
                sub=np.arange(m, dtype=np.int64) if k > 1 else roots.copy(),
                index=np.stack([np.arange(len(fine)), owner[fine]]),
                log_r=np.abs(z),
                log_theta=wrap_angle(np.angle(z)),
                transport_angle=cells.transport_angle[fine],
                transport_flip=cells.transport_flip[fine].copy(),
            )
        )
    return out_levels, pools
