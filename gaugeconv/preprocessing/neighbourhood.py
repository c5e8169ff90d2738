"""Neighbourhoods wider than the one-ring: every vertex within a geodesic radius, with the
intrinsic log map and the transporter to the centre (numpy and scipy only).

A neighbourhood graph is an edge set like the one-ring: edge q -> p for every q != p whose
position in p's gauge, composed along the shortest edge paths from p
(:func:`~gaugeconv.preprocessing.paths.shortest_paths`, equally short paths averaged), lies
within ``radius``; ``log_r``, ``log_theta`` are that position in polar form and the transporter
is the one composed along the same paths. On a flat mesh both are exact: the log map is the
planar offset, the neighbourhood the disc. A layer that reads edges
(:class:`~gaugeconv.nn.GaugeConv`) therefore runs on it unchanged, and its radial rings (hat
functions up to the largest ``log_r``) see neighbours at every distance up to the radius
instead of one ring of roughly equal edge lengths.

The search follows edge paths up to :data:`SLACK` times the radius, so a vertex whose shortest
edge path is longer than that (on very anisotropic meshes) is left out. Works on non-orientable
meshes (transporters may flip); on every mesh the hierarchy's coarse levels get their own
neighbourhoods, searched on the mesh edges (:func:`neighbourhood_levels`).
"""

from __future__ import annotations

import numpy as np

from .hierarchy import sort_edges
from .paths import shortest_paths, tie_tolerance

__all__ = ["SLACK", "geodesic_neighbourhoods", "mean_edge_length", "neighbourhood_levels"]

#: Edge paths are searched up to this multiple of the radius (graph distance >= geodesic distance;
#: on a regular triangle grid the ratio is at most 2 / sqrt(3) = 1.155, irregular meshes need more).
SLACK = 1.5


def mean_edge_length(buffers: dict) -> float:
    """Mean length of the edges of a level (its one-ring ``log_r``)."""
    return float(np.mean(buffers["log_r"]))


def geodesic_neighbourhoods(mesh: dict, radius: float, centres=None) -> dict:
    """Edges from every vertex within geodesic ``radius`` of each centre to that centre.

    Parameters
    ----------
    mesh : the one-ring buffers of the mesh (a dict as
        :func:`~gaugeconv.preprocessing.compute_buffers` returns)
    radius : > 0, in mesh units
    centres : (M,) int sorted mesh vertex ids, or None for all vertices. Both the centres and
        their neighbours are taken from this set (a coarse level's vertices), and the edges are
        numbered on it.

    Returns
    -------
    dict of edge_index (2, E) (row 0 neighbour q, row 1 centre p; grouped by p in angular
    order, no self-pairs), log_r, log_theta (E,) (q in p's gauge), transport_angle,
    transport_flip (E,) (q's gauge to p's) and degree (M,)
    """
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number, got {radius!r}")
    n = len(mesh["vertices"])
    centres = np.arange(n) if centres is None else np.asarray(centres, dtype=np.int64)
    local = np.full(n, -1, dtype=np.int64)
    local[centres] = np.arange(centres.size)
    paths = shortest_paths(mesh, centres, SLACK * radius)
    keep = (local[paths.target] >= 0) & (paths.dist > 0) & (np.abs(paths.position) <= radius + tie_tolerance(mesh))
    src, dst = local[paths.target[keep]], paths.source[keep]
    edges = sort_edges(src, dst, paths.position[keep], paths.transport_angle[keep], paths.transport_flip[keep])
    edges["degree"] = np.bincount(edges["edge_index"][1], minlength=centres.size)
    return edges


def neighbourhood_levels(mesh: dict, levels: list, pools: list, radius: float):
    """Level 0 and every coarse level with its edges replaced by neighbourhoods of ``radius``
    times that level's mean edge length (so the radius spans the same number of edges at every
    level). Coarse levels are searched on the mesh edges, among their own vertices.

    Parameters
    ----------
    mesh : the one-ring buffers of level 0
    levels, pools : as :func:`~gaugeconv.preprocessing.hierarchy.build_hierarchy` returns
    radius : > 0, in mean edge lengths of each level

    Returns
    -------
    mesh, levels : new dicts (the inputs are not modified), each with ``radius`` in mesh units
    """
    if not (isinstance(radius, (int, float, np.floating, np.integer)) and np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be a positive number of mean edge lengths, got {radius!r}")
    out = []
    ids = np.arange(len(mesh["vertices"]))
    for k, level in enumerate([mesh, *levels]):
        if k:
            ids = ids[pools[k - 1]["sub"]]
        r = float(radius) * mean_edge_length(level)
        edges = geodesic_neighbourhoods(mesh, r, None if k == 0 else ids)
        out.append({**level, **edges, "radius": r})
    return out[0], out[1:]
