"""Parallel transport of tangent vectors along edge paths (numpy and scipy only).

The connection is given by the buffers of a geometry: ``edge_index (2, E)`` (row 0 source q,
row 1 target p) and per directed edge the transporter ``T_e = R(transport_angle) F**transport_flip``
that maps coordinates in q's gauge to coordinates in p's gauge (docs/conventions.md). Along a
path ``v0 -> v1 -> ... -> vL`` a vector with gauge coordinates ``x`` at ``v0`` arrives as
``T_L ... T_1 x``; for a closed path that product is the holonomy of the loop.

Shortest paths use the edge lengths ``log_r`` (E,) as weights. Vertices are numbered
``0 .. V-1`` with ``V = edge_index.max() + 1``: every vertex of a geometry has edges.

These are the headless maths behind :func:`gaugeconv.viz.plot_transport` and
:func:`gaugeconv.viz.plot_structure`; arrays in, arrays out, no torch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from ..groups import o2_compose, o2_matrix

__all__ = ["edge_ids", "loop_through", "shortest_paths", "transport_path", "transport_tree"]


def _n_vertices(edge_index: np.ndarray) -> int:
    return int(edge_index.max()) + 1 if edge_index.size else 0


def _edge_index(edge_index) -> np.ndarray:
    edge_index = np.asarray(edge_index)
    if edge_index.ndim != 2 or edge_index.shape[0] != 2 or not np.issubdtype(edge_index.dtype, np.integer):
        raise ValueError(f"edge_index must be an integer array of shape (2, E), got {edge_index.shape}")
    return edge_index.astype(np.int64, copy=False)


def _per_edge(values, edge_index: np.ndarray, name: str, dtype) -> np.ndarray:
    values = np.asarray(values, dtype=dtype)
    if values.shape != (edge_index.shape[1],):
        raise ValueError(f"{name} must have shape (E,) = ({edge_index.shape[1]},), got {values.shape}")
    return values


def _vertex(vertex, n_vertices: int, name: str) -> int:
    if not (isinstance(vertex, (int, np.integer)) and not isinstance(vertex, bool) and 0 <= vertex < n_vertices):
        raise ValueError(f"{name} must be a vertex index in [0, {n_vertices}), got {vertex!r}")
    return int(vertex)


def _vector(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64).reshape(-1)
    if vector.shape != (2,) or not np.all(np.isfinite(vector)) or not np.any(vector):
        raise ValueError(f"vector must be 2 finite, non-zero gauge coordinates (c, s), got {vector.tolist()}")
    return vector


def edge_ids(edge_index, sources, targets) -> np.ndarray:
    """Index of the directed edge ``sources[i] -> targets[i]``, or -1 where there is none.

    Parameters
    ----------
    edge_index : (2, E) int, row 0 source q, row 1 target p
    sources, targets : (N,) vertex indices

    Returns
    -------
    (N,) int64 edge indices into ``edge_index``'s columns
    """
    edge_index = _edge_index(edge_index)
    q, p = edge_index
    n = _n_vertices(edge_index)
    ids = sp.csr_matrix((np.arange(1, q.size + 1), (q, p)), shape=(n, n))
    return np.asarray(ids[np.asarray(sources), np.asarray(targets)]).reshape(-1).astype(np.int64) - 1


def shortest_paths(edge_index, log_r, source) -> tuple[np.ndarray, np.ndarray]:
    """Dijkstra distances and the shortest-path tree from ``source`` (a vertex or an array of
    vertices), with the edge lengths ``log_r`` (E,) as weights.

    Returns
    -------
    distance : (V,) float64 (or (S, V) for S sources); inf where not reachable
    predecessor : (V,) int (or (S, V)); the previous vertex on a shortest path, -9999 at the
        source and where not reachable (scipy's convention)
    """
    edge_index = _edge_index(edge_index)
    q, p = edge_index
    n = _n_vertices(edge_index)
    # zero weights would be read as missing edges by scipy's sparse graph
    weights = np.maximum(_per_edge(log_r, edge_index, "log_r", np.float64), 1e-300)
    graph = sp.csr_matrix((weights, (q, p)), shape=(n, n))
    return dijkstra(graph, indices=source, return_predecessors=True)


def transport_tree(edge_index, log_r, transport_angle, transport_flip, source: int, vector) -> np.ndarray:
    """Transport a tangent vector from ``source`` to every vertex along a shortest-path tree.

    Along each tree edge q -> p, ``x_p = T_e x_q`` with ``T_e = R(transport_angle) F**flip``.
    Where branches of the tree meet, their vectors differ by the holonomy of the loop they close.

    Parameters
    ----------
    edge_index : (2, E) int
    log_r, transport_angle : (E,) float
    transport_flip : (E,) bool
    source : vertex index
    vector : (2,) gauge coordinates at ``source``, not zero

    Returns
    -------
    (V, 2) float64 gauge coordinates at every vertex; NaN where the vertex is not reachable.
    """
    edge_index = _edge_index(edge_index)
    n = _n_vertices(edge_index)
    source, vector = _vertex(source, n, "source"), _vector(vector)
    T = o2_matrix(
        _per_edge(transport_angle, edge_index, "transport_angle", np.float64),
        _per_edge(transport_flip, edge_index, "transport_flip", bool),
    )  # (E, 2, 2)
    distance, predecessor = shortest_paths(edge_index, log_r, source)
    order = np.argsort(distance, kind="stable")
    order = order[np.isfinite(distance[order]) & (order != source)]  # parents before children
    edge = edge_ids(edge_index, predecessor[order], order)
    out = np.full((n, 2), np.nan)
    out[source] = vector
    for p, e in zip(order, edge):
        out[p] = T[e] @ out[predecessor[p]]
    return out


def loop_through(edge_index, log_r, waypoints) -> np.ndarray:
    """A closed edge path ``w0 -> w1 -> ... -> w0`` joining the waypoints by shortest paths.

    Parameters
    ----------
    edge_index : (2, E) int
    log_r : (E,) float, edge lengths
    waypoints : sequence of at least 2 vertex indices

    Returns
    -------
    (L + 1,) int64 vertex indices, first and last equal to ``waypoints[0]``.
    """
    edge_index = _edge_index(edge_index)
    n = _n_vertices(edge_index)
    waypoints = [_vertex(int(w), n, "waypoint") for w in waypoints]
    if len(waypoints) < 2:
        raise ValueError("a loop needs at least 2 waypoints")
    path = [waypoints[0]]
    for a, b in zip(waypoints, waypoints[1:] + waypoints[:1]):
        distance, predecessor = shortest_paths(edge_index, log_r, b)
        if not np.isfinite(distance[a]):
            raise ValueError(f"waypoints {a} and {b} lie on different components")
        while a != b:  # walk from a towards b along b's tree
            a = int(predecessor[a])
            path.append(a)
    return np.asarray(path, dtype=np.int64)


def transport_path(edge_index, transport_angle, transport_flip, path, vector) -> tuple[np.ndarray, tuple]:
    """Transport a vector along an edge path ``path[0] -> path[1] -> ...``.

    Parameters
    ----------
    edge_index : (2, E) int
    transport_angle : (E,) float
    transport_flip : (E,) bool
    path : (L + 1,) vertex indices, consecutive ones joined by an edge
    vector : (2,) gauge coordinates at ``path[0]``, not zero

    Returns
    -------
    vectors : (L + 1, 2) float64 gauge coordinates at each vertex of the path
    holonomy : (angle, flip), the O(2) element ``T_L ... T_1`` composed along the path; for a
        closed path it maps the start vector to the returned one.
    """
    edge_index = _edge_index(edge_index)
    n = _n_vertices(edge_index)
    angles = _per_edge(transport_angle, edge_index, "transport_angle", np.float64)
    flips = _per_edge(transport_flip, edge_index, "transport_flip", bool)
    path = np.asarray([_vertex(int(v), n, "path vertex") for v in path], dtype=np.int64)
    vector = _vector(vector)
    edge = edge_ids(edge_index, path[:-1], path[1:])
    if np.any(edge < 0):
        i = int(np.flatnonzero(edge < 0)[0])
        raise ValueError(f"path vertices {path[i]} and {path[i + 1]} are not joined by an edge")
    angle, flip = 0.0, False
    out = [vector]
    for e in edge:
        out.append(o2_matrix(angles[e], flips[e]) @ out[-1])
        angle, flip = o2_compose(angles[e], flips[e], angle, flip)
    return np.asarray(out), (float(angle), bool(flip))
