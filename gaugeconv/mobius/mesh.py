"""Links between the grid path and the mesh path of the Möbius strip.

- :func:`grid_to_vertices`, :func:`vertices_to_grid`: the chart ``(B, C, W, L)`` and per-vertex
  features ``(B, V, C)`` of :func:`gaugeconv.shapes.mobius` (vertex ``i * W + j``).
- :func:`flip_reduction`: from a Geometry's buffers alone, a gauge transformation after which
  every transporter is ``e`` or ``F`` — the reduction of the structure group to the flip group
  that the grid path uses implicitly.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from ..groups import o2_compose, o2_conjugate, wrap_angle

__all__ = ["flip_reduction", "grid_to_vertices", "vertices_to_grid"]


def grid_to_vertices(x: torch.Tensor) -> torch.Tensor:
    """Chart features (B, C, W, L) -> vertex features (B, V, C), vertex ``i * W + j``."""
    if x.dim() != 4:
        raise ValueError(f"features must have shape (B, C, W, L), got {tuple(x.shape)}")
    b, c, w, length = x.shape
    return x.permute(0, 3, 2, 1).reshape(b, length * w, c)


def vertices_to_grid(x: torch.Tensor, width: int) -> torch.Tensor:
    """Vertex features (B, V, C) -> chart features (B, C, W, L) with ``W = width``."""
    if x.dim() != 3 or x.shape[1] % width:
        raise ValueError(f"features must have shape (B, V, C) with V a multiple of {width}, got {tuple(x.shape)}")
    b, v, c = x.shape
    return x.reshape(b, v // width, width, c).permute(0, 3, 2, 1)


def flip_reduction(geometry, root: int = 0, direction: float = 0.0, tol: float = 1e-8):
    """A gauge transformation reducing a flat strip's transporters to the flip group ``{e, F}``.

    Gauges are propagated from ``root`` along a breadth-first tree of edges with the
    transporters (so tree edges become the identity); the holonomy around the strip is then a
    reflection ``R(a) F`` for every edge that closes a loop through the twist, and rotating all
    gauges by ``a / 2`` turns it into ``F``. Of the two solutions (``e1`` along either direction
    of the strip) the one whose ``e1`` at the root is nearer the angle ``direction`` (radians, in
    the root's current gauge) is returned.

    Parameters
    ----------
    geometry : Geometry (numpy or torch) of an intrinsically flat strip, cylinder or plane
    root : vertex whose gauge is only rotated
    direction : preferred direction of the new ``e1`` at the root, in its current gauge
    tol : allowed deviation (radians) of the reduced transporters from ``e`` or ``F``

    Returns
    -------
    angle : (V,) float64, flip : (V,) bool, to pass to ``geometry.gauge_transform(angle, flip)``

    Raises
    ------
    ValueError
        if the mesh is not connected or its holonomy is not in ``{e, F}`` up to one rotation
        (the mesh is not flat, e.g. it has curvature or its transporters are wrong).
    """
    g = geometry.numpy() if not isinstance(geometry.log_r, np.ndarray) else geometry
    n = g.n_vertices
    q_all, p_all = g.edge_index
    order = np.argsort(q_all, kind="stable")
    out_start = np.searchsorted(q_all[order], np.arange(n + 1))
    angle = np.full(n, np.nan)
    flip = np.zeros(n, dtype=bool)
    angle[root] = 0.0
    queue = deque([root])
    while queue:
        q = queue.popleft()
        for e in order[out_start[q] : out_start[q + 1]]:
            p = p_all[e]
            if np.isnan(angle[p]):
                # h_p = T_e h_q makes the new transporter h_p^-1 T_e h_q the identity
                a, f = o2_compose(g.transport_angle[e], g.transport_flip[e], angle[q], flip[q])
                angle[p], flip[p] = a, f
                queue.append(p)
    if np.isnan(angle).any():
        raise ValueError("flip_reduction needs a connected mesh")
    a, f = _reduced(g, angle, flip)
    if f.any():
        holonomy = a[f]
        axis = wrap_angle(holonomy[0])
        if np.abs(wrap_angle(holonomy - axis)).max() > tol:
            raise ValueError("the reflections around the strip do not share one axis: the mesh is not flat")
        shift = axis / 2.0
        # e1 at the root becomes R(shift) e1 or R(shift + pi) e1: take the one nearer `direction`
        if abs(wrap_angle(shift - direction)) > np.pi / 2:
            shift += np.pi
        angle = wrap_angle(angle + np.where(flip, -shift, shift))  # h_p -> h_p R(shift)
        a, f = _reduced(g, angle, flip)
    if np.abs(wrap_angle(a)).max() > tol:
        raise ValueError("transporters are not in {e, F} after the reduction: the mesh is not flat")
    return angle, flip


def _reduced(g, angle, flip):
    """Transporters ``h_p^-1 T_e h_q`` for the gauges ``h = R(angle) F**flip``."""
    q, p = g.edge_index
    return o2_conjugate(angle[p], flip[p], g.transport_angle, g.transport_flip, angle[q], flip[q])
