"""Combinatorics of a triangle list: half-edges grouped by edge, corner fans, components.

Shared by validation (:mod:`gaugeconv.mesh`) and preprocessing (:mod:`gaugeconv.preprocessing`).
Notation: half-edge ``h = 3 f + i`` runs from ``faces[f, i]`` to ``faces[f, (i + 1) % 3]``; the
corner ``3 f + i`` sits at ``faces[f, i]``, so a corner and the half-edge leaving it share an id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

__all__ = ["HalfEdges", "components", "corner_fans", "half_edges"]


@dataclass(frozen=True)
class HalfEdges:
    """Undirected edges of a triangle list and the half-edges (face sides) on them.

    Attributes
    ----------
    edges : (E_u, 2) int64, each undirected edge ``(u, w)`` with ``u < w``, sorted
    edge_of : (3F,) int64, the undirected edge of each half-edge
    count : (E_u,) int64, how many half-edges (faces) lie on each edge
    partner : (3F,) int64, the other half-edge on the same edge; -1 on the boundary (and
        arbitrary among the others where more than two faces meet, which validation rejects)
    """

    edges: np.ndarray
    edge_of: np.ndarray
    count: np.ndarray
    partner: np.ndarray


def _sort_with_order(key: np.ndarray, bound: int):
    """``(order, key[order])`` for non-negative int64 keys below ``bound``.

    When ``bound * len(key)`` fits in 63 bits the position is packed into the low digits of the
    key, so a plain sort (several times faster than an argsort) sorts keys and positions at once.
    """
    n = key.size
    if bound * n >= 2**63:
        order = np.argsort(key, kind="stable")
        return order, key[order]
    packed = np.sort(key * n + np.arange(n, dtype=np.int64))
    return packed % n, packed // n


def half_edges(faces: np.ndarray, n_vertices: int) -> HalfEdges:
    """Group the half-edges of ``faces (F, 3)`` by undirected edge (one sort)."""
    src = faces.reshape(-1)
    dst = faces[:, [1, 2, 0]].reshape(-1)
    key = np.minimum(src, dst) * n_vertices + np.maximum(src, dst)  # the undirected edge (u < w)
    order, sorted_key = _sort_with_order(key, n_vertices**2)
    first = np.ones(src.size, dtype=bool)  # the first half-edge of each edge in sorted order
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    starts = np.flatnonzero(first)
    edge_of = np.empty(src.size, dtype=np.int64)
    edge_of[order] = np.cumsum(first) - 1
    partner = np.full(src.size, -1, dtype=np.int64)
    later = np.flatnonzero(~first)  # pair each later half-edge with the one before it
    partner[order[later]] = order[later - 1]
    partner[order[later - 1]] = order[later]
    edge_key = sorted_key[starts]
    return HalfEdges(
        edges=np.stack([edge_key // n_vertices, edge_key % n_vertices], axis=1),
        edge_of=edge_of,
        count=np.diff(np.append(starts, src.size)),
        partner=partner,
    )


def corner_fans(faces: np.ndarray, he: HalfEdges) -> np.ndarray:
    """Label each corner ``3 f + i`` with the fan it belongs to at its vertex.

    Two corners at the same vertex are in one fan when their faces share an edge at that
    vertex. A manifold vertex has exactly one fan; a vertex where several fans meet only at
    the vertex (a "bowtie") has more. Requires every edge to have at most two faces.

    Returns
    -------
    labels : (3F,) int64, fan labels (globally unique, arbitrary order)
    """
    n_corners = faces.size
    h1 = np.flatnonzero(he.partner > np.arange(n_corners))
    h2 = he.partner[h1]
    nxt1 = h1 - h1 % 3 + (h1 % 3 + 1) % 3
    nxt2 = h2 - h2 % 3 + (h2 % 3 + 1) % 3
    flat = faces.reshape(-1)
    same = flat[h1] == flat[h2]  # both half-edges point the same way: faces disagree
    a = np.concatenate([h1, nxt1])
    b = np.concatenate([np.where(same, h2, nxt2), np.where(same, nxt2, h2)])
    graph = sparse.coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n_corners,) * 2)
    return csgraph.connected_components(graph, directed=False)[1]


def components(faces: np.ndarray, n_vertices: int) -> tuple[int, np.ndarray]:
    """Connected components of the vertices of ``faces``: ``(count, labels (V,))``."""
    a = faces.reshape(-1)
    b = np.roll(faces, -1, axis=1).reshape(-1)
    graph = sparse.coo_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n_vertices,) * 2)
    return csgraph.connected_components(graph, directed=False)
