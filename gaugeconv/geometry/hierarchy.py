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

from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from ..groups import as_numpy, o2_compose, o2_inverse, wrap_angle

POOL_ARRAYS = {
    "sub": np.int64,
    "index": np.int64,
    "log_r": np.float64,
    "log_theta": np.float64,
    "transport_angle": np.float64,
    "transport_flip": np.bool_,
}


@dataclass(frozen=True, eq=False)
class PoolMap:
    """The map from a fine level (``n_fine`` vertices) to the next coarser one (``n_coarse``).

    Attributes (numpy after preprocessing, torch tensors after :meth:`to_torch`)
    ----------
    sub : (M,) int64
        Coarse vertex i is fine vertex ``sub[i]`` and shares its gauge.
    index : (2, P) int64
        Row 0 fine vertex f, row 1 coarse vertex c whose cell holds f; every fine vertex once
        (``P = n_fine``), sorted by f. Pooling sends f -> c, unpooling c -> f.
    log_r, log_theta : (P,)
        Polar coordinates of f in c's gauge (radians).
    transport_angle, transport_flip : (P,)
        ``T = R(angle) F**flip`` maps f's gauge to c's gauge.
    """

    sub: object
    index: object
    log_r: object
    log_theta: object
    transport_angle: object
    transport_flip: object

    @property
    def n_fine(self) -> int:
        return int(self.index.shape[1])

    @property
    def n_coarse(self) -> int:
        return int(self.sub.shape[0])

    def __repr__(self) -> str:
        kind = "numpy" if isinstance(self.log_r, np.ndarray) else "torch"
        return f"PoolMap({self.n_fine} -> {self.n_coarse}, {kind})"

    def gauge_transform(self, fine_angle, fine_flip, coarse_angle, coarse_flip) -> PoolMap:
        """Gauge change ``h_f`` on the fine level and ``h_c`` on the coarse one (numpy arrays
        (n_fine,) and (n_coarse,)): ``T -> h_c^-1 T h_f``, theta as in :meth:`Geometry.gauge_transform`."""
        g = self.numpy()
        f, c = g.index
        inv_a, inv_f = o2_inverse(coarse_angle[c], coarse_flip[c])
        a, fl = o2_compose(inv_a, inv_f, g.transport_angle, g.transport_flip)
        a, fl = o2_compose(a, fl, fine_angle[f], fine_flip[f])
        theta = wrap_angle(np.where(coarse_flip[c], coarse_angle[c] - g.log_theta, g.log_theta - coarse_angle[c]))
        return replace(g, log_theta=theta, transport_angle=a, transport_flip=fl)

    def to_torch(self, dtype=None, device=None) -> PoolMap:
        """Torch tensors: floats in ``dtype`` (default float32), int64 indices, bool flips."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        out = {}
        for name, kind in POOL_ARRAYS.items():
            value = np.asarray(as_numpy(getattr(self, name)), kind)
            tensor = torch.as_tensor(value).to(device=device)
            out[name] = tensor.to(dtype) if kind is np.float64 else tensor
        return replace(self, **out)

    def numpy(self) -> PoolMap:
        """A copy with numpy arrays (float64)."""
        return replace(self, **{k: np.asarray(as_numpy(getattr(self, k)), t) for k, t in POOL_ARRAYS.items()})

    def check_shapes(self, n_fine: int, n_coarse: int, where: str) -> None:
        """Raise ValueError (with ``where``) if the arrays do not fit levels of these sizes."""
        expect = {"sub": (n_coarse,), "index": (2, n_fine)}
        expect.update({k: (n_fine,) for k in ("log_r", "log_theta", "transport_angle", "transport_flip")})
        for name, shape in expect.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"{where}: pool array {name} has shape {got}, expected {shape}")
        sub, index = as_numpy(self.sub), as_numpy(self.index)
        if n_coarse and (sub.min() < 0 or sub.max() >= n_fine):
            raise ValueError(f"{where}: pool sub out of range")
        if n_fine and (
            index[0].min() < 0 or index[0].max() >= n_fine or index[1].min() < 0 or index[1].max() >= n_coarse
        ):
            raise ValueError(f"{where}: pool index out of range")


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


def voronoi_cells(geometry, roots: np.ndarray) -> Cells:
    """Cells of ``roots`` (mesh vertex ids) on ``geometry``'s edges, walked as in the module docstring."""
    n = geometry.n_vertices
    q, p = np.asarray(geometry.edge_index)
    graph = sparse.csr_matrix((np.asarray(geometry.log_r), (q, p)), shape=(n, n))
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
    disp = np.asarray(geometry.log_r) * np.exp(1j * np.asarray(geometry.log_theta))  # q in p's gauge
    ta, tf = np.asarray(geometry.transport_angle), np.asarray(geometry.transport_flip, dtype=bool)
    while not done.all():
        ready = np.flatnonzero(~done & done[np.maximum(pred, 0)])
        u, e = pred[ready], parent_edge[ready]
        position[ready] = position[u] + _act(t_angle[u], t_flip[u], disp[e])
        t_angle[ready], t_flip[ready] = o2_compose(t_angle[u], t_flip[u], ta[e], tf[e])
        done[ready] = True
    return Cells(owner.astype(np.int64), dist, position, t_angle, t_flip)


def coarse_edges(geometry, cells: Cells, local: np.ndarray) -> dict:
    """Directed edges between neighbouring cells (sharing a mesh edge), grouped by target in
    angular order. ``local`` maps a mesh vertex id of a root to its coarse index.

    Returns a dict of edge_index (2, E_c), log_r, log_theta, transport_angle, transport_flip.
    """
    q, p = np.asarray(geometry.edge_index)
    cross = np.flatnonzero(cells.owner[q] != cells.owner[p])
    b, a = q[cross], p[cross]  # mesh edge b -> a, a in the target cell
    src, dst = local[cells.owner[b]], local[cells.owner[a]]
    cost = cells.dist[a] + cells.dist[b] + np.asarray(geometry.log_r)[cross]
    undirected = np.minimum(a, b) * geometry.n_vertices + np.maximum(a, b)  # same tie-break both ways
    pair = dst * (local.max() + 1) + src
    pick = np.lexsort((undirected, cost, pair))
    first = np.r_[True, pair[pick][1:] != pair[pick][:-1]]
    pick = pick[first]
    e, a, b, src, dst = cross[pick], a[pick], b[pick], src[pick], dst[pick]
    ta, tf = np.asarray(geometry.transport_angle)[e], np.asarray(geometry.transport_flip, dtype=bool)[e]
    disp = np.asarray(geometry.log_r)[e] * np.exp(1j * np.asarray(geometry.log_theta)[e])
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


def build_hierarchy(geometry, levels: int, ratio: float = 4.0):
    """Coarse levels 1..K and the pooling maps between consecutive levels.

    Parameters
    ----------
    geometry : a numpy :class:`~gaugeconv.Geometry` (level 0)
    levels : K >= 0, number of coarse levels
    ratio : > 1, vertex count ratio between consecutive levels

    Returns
    -------
    levels : list of K dicts of Geometry fields (level k has ``name + "/level{k}"``, no faces)
    pools : list of K :class:`PoolMap`, ``pools[k-1]`` from level k-1 to level k
    """
    if not isinstance(levels, (int, np.integer)) or isinstance(levels, bool) or levels < 0:
        raise ValueError(f"levels must be an integer >= 0, got {levels!r}")
    if not ratio > 1:
        raise ValueError(f"ratio must be > 1, got {ratio!r}")
    if levels == 0:
        return [], []
    n = geometry.n_vertices
    q, p = np.asarray(geometry.edge_index)
    graph = sparse.csr_matrix((np.ones(q.size), (q, p)), shape=(n, n))
    _, label = csgraph.connected_components(graph, directed=False)
    seeds = np.unique(label, return_index=True)[1]  # lowest vertex of every component
    sizes = level_sizes(n, levels, ratio, len(seeds))
    samples = farthest_point_order(geometry.vertices, sizes[1], np.sort(seeds))
    vertex_area = np.asarray(geometry.vertex_area)
    boundary = np.asarray(geometry.boundary, dtype=bool)
    defect = np.asarray(geometry.angle_defect)
    out_levels, pools = [], []
    for k in range(1, levels + 1):
        roots = samples[: sizes[k]]
        local = np.full(n, -1, dtype=np.int64)
        local[roots] = np.arange(sizes[k])
        cells = voronoi_cells(geometry, roots)
        owner = local[cells.owner]
        edges = coarse_edges(geometry, cells, local)
        m = sizes[k]
        degree = np.bincount(edges["edge_index"][1], minlength=m)
        flips = bool(edges["transport_flip"].any())
        out_levels.append(
            dict(
                vertices=np.asarray(geometry.vertices)[roots],
                faces=np.zeros((0, 3), dtype=np.int64),
                frames=np.asarray(geometry.frames)[roots],
                vertex_area=np.bincount(owner, weights=vertex_area, minlength=m),
                degree=degree,
                boundary=np.bincount(owner, weights=boundary, minlength=m) > 0,
                angle_defect=np.bincount(owner, weights=defect, minlength=m),
                **edges,
                orientable=geometry.orientable,
                structure_group="O2" if (flips or geometry.structure_group == "O2") else "SO2",
                n_components=geometry.n_components,
                n_boundary_loops=geometry.n_boundary_loops,
                euler_characteristic=geometry.euler_characteristic,
                mesh_hash=geometry.mesh_hash,
                name=f"{geometry.name}/level{k}",
            )
        )
        fine = samples[: sizes[k - 1]] if k > 1 else np.arange(n)
        z = cells.position[fine]
        pools.append(
            PoolMap(
                sub=np.arange(m, dtype=np.int64) if k > 1 else roots.copy(),
                index=np.stack([np.arange(len(fine)), owner[fine]]),
                log_r=np.abs(z),
                log_theta=wrap_angle(np.angle(z)),
                transport_angle=cells.transport_angle[fine],
                transport_flip=cells.transport_flip[fine].copy(),
            )
        )
    return out_levels, pools


def transform_hierarchy(levels: tuple, pools: tuple, angle: np.ndarray, flip: np.ndarray):
    """Apply the level-0 gauge change ``(angle, flip)`` (V,) to every level and pooling map;
    coarse vertices share the gauge of the vertex they are (``pool.sub``)."""
    new_levels, new_pools = [], []
    for level, pool in zip(levels, pools):
        sub = as_numpy(pool.sub)
        c_angle, c_flip = angle[sub], flip[sub]
        new_pools.append(pool.gauge_transform(angle, flip, c_angle, c_flip))
        new_levels.append(level.gauge_transform(c_angle, c_flip))
        angle, flip = c_angle, c_flip
    return tuple(new_levels), tuple(new_pools)


def batch_pools(pools) -> PoolMap:
    """Pooling maps of several meshes as one (all numpy or all torch), for batched levels:
    fine and coarse vertex numbers are offset like :meth:`Geometry.batch` offsets vertices."""
    numpy = isinstance(pools[0].log_r, np.ndarray)
    if numpy:
        cat = np.concatenate
    else:
        import torch

        cat = torch.cat
    fine = np.cumsum([0] + [p.n_fine for p in pools[:-1]])
    coarse = np.cumsum([0] + [p.n_coarse for p in pools[:-1]])
    index = [
        p.index + (np.array([[f], [c]]) if numpy else _offsets(p.index, f, c)) for p, f, c in zip(pools, fine, coarse)
    ]
    return PoolMap(
        sub=cat([p.sub + int(f) for p, f in zip(pools, fine)]),
        index=cat(index, 1),
        **{
            name: cat([getattr(p, name) for p in pools])
            for name in ("log_r", "log_theta", "transport_angle", "transport_flip")
        },
    )


def _offsets(like, fine: int, coarse: int):
    import torch

    return torch.tensor([[int(fine)], [int(coarse)]], dtype=like.dtype, device=like.device)
