"""Coarse levels and pooling maps with parallel transporters (numpy and scipy only).

Level 0 is the mesh. The vertices of level k are a subset of those of level k-1
(:mod:`~gaugeconv.preprocessing.coarsening`: the subdivision level below where the mesh is a
regular subdivision, geodesic farthest-point sampling otherwise), so coarse vertex i of level k
*is* a mesh vertex and shares its gauge; gauge transformations of the hierarchy are a matter of
indexing.

Everything else is intrinsic, composed along the mesh edges by
:func:`~gaugeconv.preprocessing.paths.shortest_paths` (log maps and transporters along shortest
paths, equally short paths averaged):

* **Cells.** Every mesh vertex belongs to the cell of its nearest level-k vertex (graph distance
  over ``log_r``). A vertex at the same distance from several level-k vertices belongs to all of
  them, with equal shares (``weight = 1 / count``): ties are shared, never split by vertex
  number, so the cells are as symmetric as the vertex set. On a subdivision, level k-1's new
  vertices are the midpoints of level k's edges and go half to each end.
* **Pooling maps.** ``pools[k-1]`` lists, for every level-(k-1) vertex f, the level-k vertices c
  whose cell holds it, with f's position in c's gauge, the transporter f -> c and f's share.
* **Coarse edges.** Two level-k vertices a, b are neighbours when their cells touch: a vertex
  shared by both, or a mesh edge from one cell to the other. The edge b -> a goes through the
  shortest such crossing u <- v (u in a's cell, v in b's; equally short crossings averaged):
  ``T = T_a(u) T_(v->u) T_b(v)^-1`` and ``x = x_a(u) + T_a(u) log_u(v) - T x_b(v)``. Reverse edges
  carry inverse transporters. Edges are grouped by target in angular order, like level 0.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csgraph

from ..groups import o2_compose, o2_inverse, wrap_angle
from .coarsening import farthest_point_order, level_sizes, structured_sets
from .paths import act, edge_graph, nearest_sources, shortest_paths, tie_tolerance

__all__ = ["build_hierarchy", "cells", "coarse_edges", "sort_edges", "subdivision_step"]


def _average(slot, n, z, angle, flip):
    """Per slot: mean position and mean transporter of the rows with the slot's preferred
    reflection (unreflected if any), as in :mod:`~gaugeconv.preprocessing.paths`."""
    keep = flip == ~(np.bincount(slot, weights=~flip, minlength=n) > 0)[slot]
    slot, z, angle, flip = slot[keep], z[keep], angle[keep], flip[keep]
    count = np.bincount(slot, minlength=n)
    mean = (np.bincount(slot, z.real, n) + 1j * np.bincount(slot, z.imag, n)) / count
    ang = np.arctan2(np.bincount(slot, np.sin(angle), n), np.bincount(slot, np.cos(angle), n))
    out_flip = np.zeros(n, dtype=bool)
    out_flip[slot] = flip
    return mean, wrap_angle(ang), out_flip


def sort_edges(src, dst, z, angle, flip) -> dict:
    """Edge buffers grouped by target, in angular order: a dict of edge_index (2, E), log_r,
    log_theta, transport_angle, transport_flip."""
    theta = wrap_angle(np.angle(z))
    order = np.lexsort((theta, dst))
    return {
        "edge_index": np.stack([src[order], dst[order]]).astype(np.int64),
        "log_r": np.abs(z)[order],
        "log_theta": theta[order],
        "transport_angle": angle[order],
        "transport_flip": flip[order],
    }


def cells(mesh: dict, roots: np.ndarray):
    """Cells of the mesh vertices ``roots``: the pairs (root, mesh vertex) of every vertex with
    its nearest roots, as :class:`~gaugeconv.preprocessing.paths.Paths` restricted to those pairs,
    sorted by vertex. ``paths.source`` indexes ``roots``."""
    nearest = csgraph.dijkstra(edge_graph(mesh), indices=roots, min_only=True)
    if not np.all(np.isfinite(nearest)):
        raise ValueError("some vertices cannot reach a coarse vertex: every component needs one")
    n = len(mesh["vertices"])
    tol = tie_tolerance(mesh)
    paths = shortest_paths(mesh, roots, float(nearest.max()) + 2 * tol, tol, reach=nearest)
    pick = nearest_sources(paths, n, tol)
    pick = pick[np.argsort(paths.target[pick], kind="stable")]
    return type(paths)(*(getattr(paths, name)[pick] for name in paths.__dataclass_fields__))


def coarse_edges(mesh: dict, cell) -> dict:
    """Directed edges between touching cells (module docstring), as :func:`sort_edges` returns."""
    n = len(mesh["vertices"])
    q, p = mesh["edge_index"]
    start = np.searchsorted(cell.target, np.arange(n + 1))
    # crossings u <- v: every mesh edge v -> u and every shared vertex (u = v), every owner pair;
    # edges inside one cell cross nothing
    count = np.diff(start)
    single = np.where(count == 1, cell.source[np.minimum(start[:-1], cell.source.size - 1)], -1)
    across = np.flatnonzero((single[q] != single[p]) | (single[q] < 0))
    shared = np.flatnonzero(count > 1)
    u = np.r_[p[across], shared]
    v = np.r_[q[across], shared]
    e = np.r_[across, np.full(shared.size, -1)]
    nu, nv = start[u + 1] - start[u], start[v + 1] - start[v]
    row = np.repeat(np.arange(u.size), nu * nv)
    k = np.arange(row.size) - np.repeat(np.cumsum(nu * nv) - nu * nv, nu * nv)
    ia = start[u][row] + k // nv[row]  # pair of u with its root a
    ib = start[v][row] + k % nv[row]  # pair of v with its root b
    a, b = cell.source[ia], cell.source[ib]
    keep = a != b
    row, ia, ib, a, b = row[keep], ia[keep], ib[keep], a[keep], b[keep]
    e = e[row]
    inner = e >= 0
    length = np.where(inner, mesh["log_r"][np.maximum(e, 0)], 0.0)
    cost = cell.dist[ia] + length + cell.dist[ib]
    n_roots = int(cell.source.max()) + 1
    uniq, slot = np.unique(a * n_roots + b, return_inverse=True)
    best = np.full(uniq.size, np.inf)
    np.minimum.at(best, slot, cost)
    tie = cost <= best[slot] + tie_tolerance(mesh)
    ia, ib, e, inner, slot = ia[tie], ib[tie], e[tie], inner[tie], slot[tie]
    # T = T_a(u) T_(v->u) T_b(v)^-1, x = x_a(u) + T_a(u) log_u(v) - T x_b(v)
    ta = np.where(inner, mesh["transport_angle"][np.maximum(e, 0)], 0.0)
    tf = inner & mesh["transport_flip"][np.maximum(e, 0)]
    disp = np.where(inner, mesh["log_r"][np.maximum(e, 0)] * np.exp(1j * mesh["log_theta"][np.maximum(e, 0)]), 0)
    a_angle, a_flip = cell.transport_angle[ia], cell.transport_flip[ia]
    angle, flip = o2_compose(a_angle, a_flip, ta, tf)
    angle, flip = o2_compose(angle, flip, *o2_inverse(cell.transport_angle[ib], cell.transport_flip[ib]))
    x = cell.position[ia] + act(a_angle, a_flip, disp) - act(angle, flip, cell.position[ib])
    # equally short crossings in clearly different directions (around a handle of a coarse torus)
    # are different routes: one edge each; the others are averaged
    first = np.zeros(uniq.size, dtype=np.complex128)
    first[slot[::-1]] = x[::-1]  # one member per pair: directions relative to it do not wrap
    theta = np.angle(x * np.conj(first[slot]))
    by = np.lexsort((theta, slot))
    route = np.cumsum(np.r_[True, (slot[by][1:] != slot[by][:-1]) | (np.diff(theta[by]) > 0.5)])
    route = route[np.argsort(by)] - 1
    n_routes = int(route.max()) + 1
    z, angle, flip = _average(route, n_routes, x, angle, flip)
    pair = np.zeros(n_routes, dtype=np.int64)
    pair[route] = uniq[slot]
    dst, src = np.divmod(pair, n_roots)
    return sort_edges(src, dst, z, angle, flip)


def subdivision_step(fine: dict, old: np.ndarray):
    """The level below a recognised subdivision, along the finer level's own edges.

    Every new vertex f (a midpoint) lies half in the cell of each of its two old neighbours a, b
    (its parents) and every old vertex wholly in its own, so pooling averages a vertex with the
    midpoints of its edges (half weight) and unpooling interpolates linearly. The coarse edge
    b -> a goes through f: ``x = log_a(f) + T_(f->a) log_f(b)``, ``T = T_(f->a) T_(b->f)``.
    Nothing is chosen, so the level is as symmetric as the mesh.

    Parameters
    ----------
    fine : the buffers of the finer level (``edge_index``, ``log_r``, ``log_theta``,
        ``transport_angle``, ``transport_flip``)
    old : (V_fine,) bool, the vertices the coarse level keeps

    Returns
    -------
    edges : dict as :func:`sort_edges` returns, on the coarse numbering
    pool : dict of PoolMap arrays ``index``, ``log_r``, ``log_theta``, ``transport_angle``,
        ``transport_flip``, ``weight``
    """
    q, p = fine["edge_index"]
    coarse = np.cumsum(old) - 1
    up = np.flatnonzero(~old[q] & old[p])  # f -> a: f's position in a's gauge, T_(f->a)
    up = up[np.lexsort((p[up], q[up]))]  # by f, then by parent
    down = np.flatnonzero(old[q] & ~old[p])  # b -> f
    down = down[np.lexsort((q[down], p[down]))]  # by f, then by parent: parallel to up
    n_fine = old.size
    own = np.flatnonzero(old)
    f_all = np.r_[own, q[up]]
    order = np.argsort(f_all, kind="stable")
    pool = dict(
        index=np.stack([f_all, np.r_[coarse[own], coarse[p[up]]]])[:, order],
        log_r=np.r_[np.zeros(own.size), fine["log_r"][up]][order],
        log_theta=np.r_[np.zeros(own.size), fine["log_theta"][up]][order],
        transport_angle=np.r_[np.zeros(own.size), fine["transport_angle"][up]][order],
        transport_flip=np.r_[np.zeros(own.size, dtype=bool), fine["transport_flip"][up]][order],
        weight=np.r_[np.ones(own.size), np.full(up.size, 0.5)][order],
    )
    if np.bincount(q[up], minlength=n_fine)[~old].min(initial=2) != 2 or up.size != down.size:
        raise ValueError("subdivision_step: every new vertex needs exactly two old neighbours")
    # per midpoint: edges (f -> a), (f -> b) at up[2i], up[2i+1]; (a -> f), (b -> f) at down[2i], down[2i+1]
    f_a, f_b, a_f, b_f = up[0::2], up[1::2], down[0::2], down[1::2]
    e_to, e_from = np.r_[f_a, f_b], np.r_[b_f, a_f]  # edge b -> a: through f_a then b_f; a -> b likewise
    ta, tf = fine["transport_angle"], fine["transport_flip"]
    disp = fine["log_r"] * np.exp(1j * fine["log_theta"])
    angle, flip = o2_compose(ta[e_to], tf[e_to], ta[e_from], tf[e_from])
    x = disp[e_to] + act(ta[e_to], tf[e_to], disp[e_from])
    edges = sort_edges(coarse[q[e_from]], coarse[p[e_to]], x, angle, flip)
    return edges, pool


def grid_step(fine: dict, quads: np.ndarray, old: np.ndarray):
    """The coarser grid of a recognised grid, along the finer level's edges.

    The kept vertices are every second one in both directions; every other vertex lies in the
    cells of the kept vertices of its 2 x 2 block with equal shares: a side midpoint half in each
    of its two ends, a block centre a quarter in each corner (bilinear interpolation for
    unpooling). A midpoint's position in its end's gauge is their edge's; a centre's is the
    average over the two two-edge paths around its quad. The coarse edge b -> a goes through a
    vertex both cells share (the side midpoint, or the centre for a diagonal), the shortest such,
    ``x = x_a(f) - T T_b(f)^-1``-composed as in :func:`coarse_edges`.

    Parameters
    ----------
    fine : the buffers of the finer level
    quads : (Q, 4) int64, its quad grid (fine vertex numbers, cyclic order)
    old : (V_fine,) bool, the vertices the coarse level keeps

    Returns
    -------
    edges, pool : as :func:`subdivision_step` returns
    """
    q, p = fine["edge_index"]
    n_fine = old.size
    key = q * n_fine + p
    order = np.argsort(key)

    def edge(a, b):  # edge a -> b of the finer level
        pos = np.minimum(np.searchsorted(key[order], a * n_fine + b), key.size - 1)
        if np.any(key[order][pos] != a * n_fine + b):
            raise ValueError("grid_step: a quad side is not an edge of the finer level")
        return order[pos]

    ta, tf = fine["transport_angle"], fine["transport_flip"]
    disp = fine["log_r"] * np.exp(1j * fine["log_theta"])
    child, parent, z, angle, flip = [], [], [], [], []
    for i in range(4):
        x, s1, o, s2 = (quads[:, (i + j) % 4] for j in range(4))
        corner = old[x]
        for s in (s1, s2):  # side midpoints: their edge to the corner
            e = edge(s[corner], x[corner])
            child.append(s[corner]), parent.append(x[corner]), z.append(disp[e])
            angle.append(ta[e]), flip.append(tf[e])
        # block centres: the two paths around the quad, averaged
        c, xc = o[corner], x[corner]
        legs = []
        for s in (s1[corner], s2[corner]):
            e1, e2 = edge(s, xc), edge(c, s)  # s -> corner, centre -> s
            legs.append((disp[e1] + act(ta[e1], tf[e1], disp[e2]), *o2_compose(ta[e1], tf[e1], ta[e2], tf[e2])))
        slot = np.r_[np.arange(c.size), np.arange(c.size)]
        mean, a, f = _average(slot, c.size, *(np.r_[legs[0][j], legs[1][j]] for j in range(3)))
        child.append(c), parent.append(xc), z.append(mean), angle.append(a), flip.append(f)
    own = np.flatnonzero(old)
    child, parent = np.r_[own, np.concatenate(child)], np.r_[own, np.concatenate(parent)]
    z = np.r_[np.zeros(own.size), np.concatenate(z)]
    angle, flip = (
        np.r_[np.zeros(own.size), np.concatenate(angle)],
        np.r_[np.zeros(own.size, bool), np.concatenate(flip)],
    )
    _, first = np.unique(child * n_fine + parent, return_index=True)  # a side is in two quads
    child, parent, z, angle, flip = child[first], parent[first], z[first], angle[first], flip[first]
    share = 1.0 / np.bincount(child, minlength=n_fine)[child]
    coarse = np.cumsum(old) - 1
    pool = dict(
        index=np.stack([child, coarse[parent]]),
        log_r=np.abs(z),
        log_theta=wrap_angle(np.angle(z)),
        transport_angle=wrap_angle(angle),
        transport_flip=flip,
        weight=share,
    )
    # coarse edges through a shared vertex: every ordered pair of its parents, shortest wins
    shared = np.flatnonzero(share < 1)
    start = np.searchsorted(child[shared], np.arange(n_fine + 1))
    count = np.diff(start)
    f_of = np.repeat(np.arange(n_fine), count * count)
    k = np.arange(f_of.size) - np.repeat(np.cumsum(count * count) - count * count, count * count)
    ia = shared[start[f_of] + k // count[f_of]]
    ib = shared[start[f_of] + k % count[f_of]]
    keep = parent[ia] != parent[ib]
    ia, ib = ia[keep], ib[keep]
    cost = np.abs(z[ia]) + np.abs(z[ib])
    pair = coarse[parent[ia]] * old.sum() + coarse[parent[ib]]
    uniq, slot = np.unique(pair, return_inverse=True)
    best = np.full(uniq.size, np.inf)
    np.minimum.at(best, slot, cost)
    tie = cost <= best[slot] + tie_tolerance(fine)
    ia, ib, slot = ia[tie], ib[tie], slot[tie]
    t_angle, t_flip = o2_compose(angle[ia], flip[ia], *o2_inverse(angle[ib], flip[ib]))
    x = z[ia] - act(t_angle, t_flip, z[ib])
    mean, t_angle, t_flip = _average(slot, uniq.size, x, t_angle, t_flip)
    dst, src = np.divmod(uniq, old.sum())
    return sort_edges(src, dst, mean, t_angle, t_flip), pool


def _explicit_sets(sets, levels: int, n: int) -> list:
    """Check K explicit, nested, non-empty sets of vertex ids and return them sorted."""
    sets = [np.unique(np.asarray(ids, dtype=np.int64)) for ids in sets]
    if len(sets) != levels:
        raise ValueError(f"coarsening lists {len(sets)} vertex sets for {levels} levels")
    for k, ids in enumerate(sets):
        finer = sets[k - 1] if k else np.arange(n)
        if ids.size == 0 or not np.isin(ids, finer).all():
            raise ValueError(f"coarsening: the vertices of level {k + 1} must be a non-empty subset of level {k}'s")
    return sets


def build_hierarchy(mesh: dict, levels: int, ratio: float = 4.0, coarsening: str = "auto"):
    """Coarse levels 1..K and the pooling maps between consecutive levels.

    Parameters
    ----------
    mesh : the buffers of level 0, a dict as :func:`~gaugeconv.preprocessing.compute_buffers`
        returns (its edges must be the mesh's one-ring edges)
    levels : K >= 0, number of coarse levels
    ratio : > 1, vertex count ratio between consecutive sampled levels
    coarsening : "auto", "subdivision", "grid" or "sample" (:mod:`~gaugeconv.preprocessing.coarsening`), or
        the vertices of every level given explicitly: K nested arrays of mesh vertex ids

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
    if isinstance(coarsening, str):
        sets, kind, grids = structured_sets(mesh, levels, coarsening)
    else:
        sets, kind, grids = _explicit_sets(coarsening, levels, n), None, []
    out_levels, pools = [], []
    fine = np.arange(n)
    n_subdivided = len(sets) if kind == "subdivision" else 0
    n_structured = len(sets)
    for k in range(1, levels + 1):
        if k > len(sets):  # sample the remaining levels on the last level's edges, as prefixes of one order
            base = out_levels[-1] if out_levels else mesh
            n_comp = csgraph.connected_components(edge_graph(base), directed=False)[0]
            sizes = level_sizes(fine.size, levels - k + 1, ratio, n_comp)
            order = fine[farthest_point_order(base, sizes[1])]
            sets += [np.sort(order[:size]) for size in sizes[1:]]
        roots = sets[k - 1]
        local = np.full(n, -1, dtype=np.int64)
        local[fine] = np.arange(fine.size)
        if k <= n_subdivided or k <= len(grids):  # parents along the finer level's edges
            source = out_levels[-1] if out_levels else mesh
            if k <= n_subdivided:
                edges, pool = subdivision_step(source, np.isin(fine, roots))
            else:
                edges, pool = grid_step(source, np.searchsorted(fine, grids[k - 1]), np.isin(fine, roots))
            member, owner, share = pool["index"][0], pool["index"][1], pool["weight"]
        else:  # geodesic cells on the mesh
            source = mesh
            cell = cells(mesh, roots)
            edges = coarse_edges(mesh, cell)
            member, owner = cell.target, cell.source
            share = 1.0 / np.bincount(member, minlength=n)[member]
            rows = np.flatnonzero(local[member] >= 0)  # the pairs of the level-(k-1) vertices
            z = cell.position[rows]
            pool = dict(
                index=np.stack([local[member[rows]], owner[rows]]),
                log_r=np.abs(z),
                log_theta=wrap_angle(np.angle(z)),
                transport_angle=cell.transport_angle[rows],
                transport_flip=cell.transport_flip[rows].copy(),
                weight=share[rows],
            )
        m = roots.size

        def total(values, member=member, owner=owner, share=share, m=m):
            return np.bincount(owner, weights=values[member] * share, minlength=m)

        flips = bool(edges["transport_flip"].any())
        out_levels.append(
            dict(
                vertices=mesh["vertices"][roots],
                faces=np.zeros((0, 3), dtype=np.int64),
                frames=mesh["frames"][roots],
                vertex_area=total(source["vertex_area"]),
                degree=np.bincount(edges["edge_index"][1], minlength=m),
                boundary=total(source["boundary"].astype(np.float64)) > 0,
                angle_defect=total(source["angle_defect"]),
                **edges,
                orientable=mesh["orientable"],
                structure_group="O2" if (flips or mesh["structure_group"] == "O2") else "SO2",
                n_components=mesh["n_components"],
                n_boundary_loops=mesh["n_boundary_loops"],
                euler_characteristic=mesh["euler_characteristic"],
                mesh_hash=mesh["mesh_hash"],
                name=f"{mesh['name']}/level{k}",
                coarsening=(kind or "given") if k <= n_structured else "sample",
            )
        )
        pools.append(dict(sub=np.searchsorted(fine, roots).astype(np.int64), **pool, n_fine=int(fine.size)))
        fine = roots
    return out_levels, pools
