"""Shortest paths on the edges of a mesh, with the discrete log map and parallel transport
composed along them (numpy and scipy only).

From every source vertex s, the search finds every vertex v within a graph distance ``bound``
(lengths ``log_r`` of the mesh edges) and, along the shortest paths s -> v, composes

* the position of v in s's gauge, ``z_v = z_u + T_u log_u(v)`` for the last edge u <- v,
* the transporter from v's gauge to s's, ``T_v = T_u T_(v->u)``.

On a flat mesh every path gives the same result, so this is the exact log map. On a curved one
it follows the shortest path; where several paths are equally short (within ``tol``, e.g. on a
mesh with a symmetry) their results are **averaged** instead of one being picked, so nothing
depends on the order in which vertices are numbered or visited. Positions are averaged as
complex numbers, transporters as unit complex numbers ``e^{i angle}``; paths whose transporters
disagree in their reflection (possible only on non-orientable meshes) are not mixed: the ones
without reflection are kept.

Everything is vectorised over all sources at once: first the distances (Bellman-Ford rounds on
the set of (source, vertex) pairs, linear in the number of pairs times the degree), then the
compositions, pair by pair in the order of the shortest-path DAG.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import sparse

from ..groups import o2_compose, wrap_angle

__all__ = [
    "Paths",
    "TIE_TOLERANCE",
    "act",
    "edge_graph",
    "nearest_sources",
    "shortest_paths",
    "tie_tolerance",
]

#: Two path lengths closer than this (times the mean edge length) count as a tie.
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Paths:
    """The (source, vertex) pairs within the bound, sorted by source then vertex.

    Attributes
    ----------
    source : (N,) int64, index into the ``sources`` the search started from
    target : (N,) int64, vertex id
    dist : (N,) float64, shortest-path length
    position : (N,) complex128, the vertex in the source's gauge (x + i y)
    transport_angle, transport_flip : (N,), ``T = R(angle) F**flip`` from the vertex's gauge to
        the source's
    """

    source: np.ndarray
    target: np.ndarray
    dist: np.ndarray
    position: np.ndarray
    transport_angle: np.ndarray
    transport_flip: np.ndarray


def act(angle, flip, z):
    """``T z`` for ``T = R(angle) F**flip`` acting on complex coordinates ``z``."""
    return np.exp(1j * angle) * np.where(flip, np.conj(z), z)


def edge_graph(mesh: dict) -> sparse.csr_matrix:
    """The edges of a level as a sparse (V, V) matrix of lengths ``log_r`` (row: target p)."""
    n = len(mesh["vertices"])
    q, p = mesh["edge_index"]
    return sparse.csr_matrix((mesh["log_r"], (p, q)), shape=(n, n))


def tie_tolerance(mesh: dict) -> float:
    """Absolute tolerance for equal path lengths on ``mesh``: :data:`TIE_TOLERANCE` mean edges."""
    return TIE_TOLERANCE * float(np.mean(mesh["log_r"])) if mesh["log_r"].size else 0.0


def _incoming(mesh: dict, n: int):
    """Edges grouped by target: ``(start (n + 1,), order)`` so that the edges into u are
    ``order[start[u]:start[u + 1]]``."""
    p = mesh["edge_index"][1]
    order = np.argsort(p, kind="stable")
    start = np.searchsorted(p[order], np.arange(n + 1))
    return start, order


def _expand(u, start, order):
    """For pair positions with current vertex ``u`` (k,), every edge into u: ``(row, edge)``."""
    count = start[u + 1] - start[u]
    row = np.repeat(np.arange(u.size), count)
    first = np.repeat(start[u] - np.cumsum(count) + count, count)
    return row, order[first + np.arange(row.size)]


def _distances(mesh, sources, bound, reach, tol, start, order):
    """Sorted pair keys ``source_index * n + v`` and their shortest distances."""
    n = len(mesh["vertices"])
    q, log_r = mesh["edge_index"][0], mesh["log_r"]
    key = np.arange(sources.size, dtype=np.int64) * n + sources
    dist = np.zeros(sources.size)
    f_key, f_dist = key, dist
    while f_key.size:
        s, u = np.divmod(f_key, n)
        row, e = _expand(u, start, order)
        d = f_dist[row] + log_r[e]
        w = q[e]
        keep = d <= bound[s[row]] + tol
        if reach is not None:
            keep &= d <= reach[w] + tol
        c_key, c_dist = s[row][keep] * n + w[keep], d[keep]
        if not c_key.size:
            break
        pick = np.argsort(c_key)
        c_key, c_dist = c_key[pick], c_dist[pick]
        first = np.flatnonzero(np.r_[True, c_key[1:] != c_key[:-1]])
        c_key, c_dist = c_key[first], np.minimum.reduceat(c_dist, first)  # per key its shortest
        pos = np.searchsorted(key, c_key)
        found = pos < key.size
        found[found] = key[pos[found]] == c_key[found]
        better = found.copy()
        better[found] = c_dist[found] < dist[pos[found]] - tol
        dist[pos[better]] = c_dist[better]
        new = ~found
        key = np.insert(key, pos[new], c_key[new])
        dist = np.insert(dist, pos[new], c_dist[new])
        f_key, f_dist = c_key[better | new], c_dist[better | new]
    return key, dist


def shortest_paths(mesh: dict, sources, bound, tol: float | None = None, reach=None) -> Paths:
    """Shortest paths from every source to every vertex within ``bound``, with the log map and
    transporter composed along them (ties averaged; see the module docstring).

    Parameters
    ----------
    mesh : dict with ``vertices`` (V, 3) (only its length is read), ``edge_index`` (2, E) (row 0
        source q, row 1 target p, both directions present), ``log_r``, ``log_theta`` (E,) (q in
        p's gauge) and ``transport_angle``, ``transport_flip`` (E,) (q's gauge to p's)
    sources : (S,) int, distinct vertex ids
    bound : float or (S,) float, largest path length searched from each source
    tol : ties in path length; default :func:`tie_tolerance`
    reach : (V,) float or None, largest path length searched to each vertex (e.g. its distance
        to the nearest source, to find only the nearest ones)

    Returns
    -------
    Paths, every source's pair with itself included (distance 0, identity transporter)
    """
    n = len(mesh["vertices"])
    sources = np.asarray(sources, dtype=np.int64)
    bound = np.broadcast_to(np.asarray(bound, dtype=np.float64), sources.shape)
    tol = tie_tolerance(mesh) if tol is None else float(tol)
    incoming = _incoming(mesh, n)
    # sources are independent: blocks of them keep the pair arrays small (cache-friendly lookups)
    parts, lo, size = [], 0, 256
    while lo < sources.size:
        hi = min(lo + size, sources.size)
        part = _block(mesh, sources[lo:hi], bound[lo:hi], tol, reach, incoming)
        parts.append(replace(part, source=part.source + lo))
        size = int(np.clip((1 << 17) * size / max(part.source.size, 1), 64, 1 << 16))
        lo = hi
    if not parts:
        return _block(mesh, sources, bound, tol, reach, incoming)
    return Paths(*(np.concatenate([getattr(part, f.name) for part in parts]) for f in fields(Paths)))


def _block(mesh, sources, bound, tol, reach, incoming) -> Paths:
    """:func:`shortest_paths` for one block of sources (``source`` numbered within the block)."""
    n = len(mesh["vertices"])
    start, order = incoming
    key, dist = _distances(mesh, sources, bound, reach, tol, start, order)
    q, log_r = mesh["edge_index"][0], mesh["log_r"]
    # predecessor links: pair (s, u) -> pair (s, w) over the edge w -> u when it lies on a shortest path
    parent, child, edge = [], [], []
    block = 1 << 20
    for lo in range(0, key.size, block):
        s, u = np.divmod(key[lo : lo + block], n)
        row, e = _expand(u, start, order)
        c_key = s[row] * n + q[e]
        pos = np.minimum(np.searchsorted(key, c_key), key.size - 1)
        ok = (key[pos] == c_key) & (dist[lo + row] + log_r[e] <= dist[pos] + tol) & (dist[pos] > 0)
        parent.append(lo + row[ok])
        child.append(pos[ok])
        edge.append(e[ok])
    parent, child, edge = (np.concatenate(a) if a else np.zeros(0, np.int64) for a in (parent, child, edge))
    by_child = np.argsort(child, kind="stable")
    parent, child, edge = parent[by_child], child[by_child], edge[by_child]
    n_pred = np.bincount(child, minlength=key.size)
    child_start = np.r_[0, np.cumsum(n_pred)]
    by_parent = np.argsort(parent, kind="stable")
    parent_start = np.r_[0, np.cumsum(np.bincount(parent, minlength=key.size))]

    position = np.zeros(key.size, dtype=np.complex128)
    t_angle = np.zeros(key.size)
    t_flip = np.zeros(key.size, dtype=bool)
    remaining = n_pred.copy()
    disp = log_r * np.exp(1j * mesh["log_theta"])  # q in p's gauge
    ta, tf = mesh["transport_angle"], mesh["transport_flip"]
    done = np.flatnonzero(dist == 0)  # the sources themselves
    while done.size:
        # links leaving the pairs finished last round
        count = parent_start[done + 1] - parent_start[done]
        first = np.repeat(parent_start[done] - np.cumsum(count) + count, count)
        links = by_parent[first + np.arange(first.size)]
        hit = child[links]
        np.subtract.at(remaining, hit, 1)
        ready = np.sort(hit[remaining[hit] == 0])
        ready = ready[np.r_[True, ready[1:] != ready[:-1]]] if ready.size else ready
        if not ready.size:
            break
        # every predecessor link of the ready pairs, composed and averaged per pair
        count = n_pred[ready]
        slot = np.repeat(np.arange(ready.size), count)
        links = np.repeat(child_start[ready] - np.cumsum(count) + count, count) + np.arange(slot.size)
        u, e = parent[links], edge[links]
        z = position[u] + act(t_angle[u], t_flip[u], disp[e])
        a, f = o2_compose(t_angle[u], t_flip[u], ta[e], tf[e])
        keep = f == ~(np.bincount(slot, weights=~f, minlength=ready.size) > 0)[slot]  # unreflected ones if any
        slot, z, a = slot[keep], z[keep], a[keep]
        n_kept = np.bincount(slot, minlength=ready.size)
        position[ready] = (np.bincount(slot, z.real, ready.size) + 1j * np.bincount(slot, z.imag, ready.size)) / n_kept
        t_angle[ready] = np.arctan2(np.bincount(slot, np.sin(a), ready.size), np.bincount(slot, np.cos(a), ready.size))
        t_flip[ready] = f[keep][np.r_[0, np.cumsum(n_kept)[:-1]]]
        done = ready
    s, v = np.divmod(key, n)
    return Paths(s, v, dist, position, wrap_angle(t_angle), t_flip)


def nearest_sources(paths: Paths, n_vertices: int, tol: float) -> np.ndarray:
    """Positions (into ``paths``) of the pairs that link every vertex to its nearest sources:
    all sources within ``tol`` of the shortest distance (ties shared). Raises ValueError if a
    vertex has no source within the bound."""
    best = np.full(n_vertices, np.inf)
    np.minimum.at(best, paths.target, paths.dist)
    if not np.all(np.isfinite(best)):
        raise ValueError("some vertices cannot reach a coarse vertex: every component needs one")
    return np.flatnonzero(paths.dist <= best[paths.target] + tol)
