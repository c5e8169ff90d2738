"""Arrows for tangent fields: where they stand, how long they are, and how they are drawn.

Glyphs stand at evenly spread vertices: farthest-point sampling, at most ``max_glyphs`` and no
two closer than 1/30 of the mesh's bounding box diagonal (so that they stay visible on a fine
mesh). Each glyph's room ``D`` is the distance to the nearest other glyph vertex (the local edge
length when every vertex has one), at most the median of these distances. An order-1 arrow is
centred on its vertex and at most ``0.9 D`` long; the k arrows of an order-k glyph start at the
vertex and are at most ``0.45 D`` long: neighbouring glyphs do not overlap. Within that room the
size follows the field's norm relative to its 90th percentile: arrows are scaled as a whole
(length and width) by ``sqrt(norm / p90)``, at most 1, so that an arrow's area is proportional
to the norm. The typical arrow is large enough to see, and a few huge vectors do not shrink the
rest to dots. Glyphs are lifted off the surface on the side facing the camera and left out where
the surface is seen edge-on (where they would be blots on the silhouette).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ._render import array, numpy_geometry

__all__ = ["glyph_points", "glyph_room", "tangent_to_3d"]

#: the norm percentile that gets a full-length arrow
REFERENCE_PERCENTILE = 90.0


def tangent_to_3d(geometry, coords) -> np.ndarray:
    """Tangent vectors in 3D from gauge coordinates: ``c * e1_p + s * e2_p``.

    Parameters
    ----------
    geometry : Geometry
    coords : (V, 2) gauge coordinates, numpy or torch

    Returns
    -------
    (V, 3) ndarray
    """
    g = numpy_geometry(geometry)
    coords = array(coords, "coords")
    if coords.shape != (g.n_vertices, 2):
        raise ValueError(f"coords must have shape ({g.n_vertices}, 2), got {coords.shape}")
    return coords[:, :1] * g.frames[:, 0] + coords[:, 1:] * g.frames[:, 1]


#: the smallest glyph spacing, as a share of the bounding box diagonal
MIN_SPACING = 1 / 30


def glyph_points(vertices, max_glyphs: int, start: int = 0, min_spacing: float = MIN_SPACING) -> np.ndarray:
    """Evenly spread vertex indices (sorted): farthest-point sampling from ``start``, at most
    ``max_glyphs`` of them and none closer to the others than ``min_spacing`` times the
    bounding box diagonal."""
    vertices = np.asarray(vertices, np.float64)
    n = len(vertices)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    closest = min_spacing * float(np.linalg.norm(np.ptp(vertices, axis=0)))
    chosen = [int(start)]
    distance = np.linalg.norm(vertices - vertices[start], axis=1)
    while len(chosen) < min(max_glyphs, n):
        far = int(np.argmax(distance))
        if distance[far] < closest or distance[far] == 0:
            break
        chosen.append(far)
        distance = np.minimum(distance, np.linalg.norm(vertices - vertices[far], axis=1))
    return np.sort(np.array(chosen, dtype=np.int64))


def glyph_room(points) -> np.ndarray:
    """(N,) each glyph's room: the distance from each point (N, 3) to its nearest other point,
    at most the median of these (so that gaps left by the sampling do not make odd big glyphs)."""
    points = np.asarray(points, np.float64)
    if len(points) < 2:
        return np.ones(len(points))
    distance, _ = cKDTree(points).query(points, k=2)
    room = distance[:, 1]
    positive = room[room > 0]
    room = np.where(room > 0, room, positive.min() if positive.size else 1.0)
    return np.minimum(room, np.median(room))


def lengths(norms, room, share: float) -> np.ndarray:
    """Arrow lengths (..., N): ``share * room`` times ``sqrt(norm / p90)`` (at most 1), p90 the
    norms' 90th percentile: arrows scaled as a whole have an area proportional to the norm."""
    norms = np.asarray(norms, np.float64)
    reference = float(np.percentile(norms, REFERENCE_PERCENTILE)) if norms.size else 0.0
    if reference <= 0:
        reference = float(norms.max()) if norms.size and norms.max() > 0 else 1.0
    return share * room * np.sqrt(np.minimum(norms / reference, 1.0))


def add_arrows(plotter, pv, points, vectors, length, color, centred=False, width=1.0):
    """Arrows at ``points`` (N, 3) along ``vectors`` (N, 3), each ``length`` (N,) or scalar long.

    ``centred`` arrows have their middle at the point (order-1 fields), else they start there.
    ``width`` scales the arrows' thickness."""
    vectors = np.asarray(vectors, np.float64)
    norm = np.linalg.norm(vectors, axis=1)
    length = np.broadcast_to(np.asarray(length, np.float64), norm.shape)
    keep = (norm > 1e-12) & (length > 0)
    if not keep.any():
        return
    cloud = pv.PolyData(np.asarray(points, np.float64)[keep])
    cloud["vectors"] = vectors[keep] / norm[keep, None] * length[keep, None]
    start = (-0.5, 0.0, 0.0) if centred else (0.0, 0.0, 0.0)
    arrow = pv.Arrow(start=start, tip_length=0.35, tip_radius=0.19 * width, shaft_radius=0.08 * width)
    glyphs = cloud.glyph(orient="vectors", scale="vectors", factor=1.0, geom=arrow)
    plotter.add_mesh(glyphs, color=color, ambient=0.3, diffuse=0.7, specular=0.0)


def field_parts(x, kind: str, field_type):
    """Colour values (V,) and gauge-coordinate glyph directions [(V, 2), ...] of one field
    ``x`` (V, width) of the given kind (as listed by iterating a FieldType)."""
    if kind in ("0", "0-"):
        return x[:, 0], []
    if kind == "reg":
        # channel i (and i + N for D_N's flipped copy) points along the gauge angle i 2pi/N; the
        # order-1 Fourier coefficient over these directions is an order-1 field (the preferred one)
        n = field_type.order
        if field_type.has_reflections:
            x = x.reshape(len(x), 2, n).sum(1)
        first = (x @ np.exp(2j * np.pi * np.arange(n) / n)) * (2.0 / n)
        return x.mean(1), [np.stack([first.real, first.imag], 1)]
    k = int(kind)
    radius, psi = np.hypot(x[:, 0], x[:, 1]), np.arctan2(x[:, 1], x[:, 0])
    angles = (psi[:, None] + 2 * np.pi * np.arange(k)) / k  # (V, k): the k-fold symmetric glyph
    return radius, [radius[:, None] * np.stack([np.cos(a), np.sin(a)], 1) for a in angles.T]


def facing(normals, direction):
    """Which side of the surface faces the camera, and where the surface is seen edge-on.

    Parameters
    ----------
    normals : (N, 3) unit normals
    direction : (3,) towards the camera

    Returns
    -------
    side : (N,) +1 or -1, the sign of ``n . direction`` (glyphs are lifted to that side)
    shown : (N,) bool, False where the surface is seen at a grazing angle (glyphs there would be
        blots on the silhouette)
    """
    cosine = np.asarray(normals, np.float64) @ np.asarray(direction, np.float64)
    return np.where(cosine < 0, -1.0, 1.0), np.abs(cosine) > GRAZING


#: glyphs are left out where the surface's normal is this close to normal to the line of sight
GRAZING = 0.3


def add_tangent_glyphs(plotter, pv, g, directions, max_glyphs, glyph_scale, camera, color="black"):
    """The glyphs of one field: ``directions`` a list of k arrays (V, 2) of gauge coordinates
    (k arrows per vertex, an order-k glyph), lifted off the surface towards the ``camera``
    direction (3,). Returns the number of glyph vertices drawn."""
    index = glyph_points(g.vertices, max_glyphs)
    room = glyph_room(g.vertices[index])
    vectors = np.stack(directions)[:, index]  # (k, n, 2): k arrows at each of n vertices
    norms = np.hypot(vectors[..., 0], vectors[..., 1])
    centred = len(directions) == 1
    length = glyph_scale * lengths(norms, room, 0.9 if centred else 0.45)
    side, shown = facing(g.frames[index, 2], camera)
    lift = g.vertices[index] + (0.06 * room * side)[:, None] * g.frames[index, 2]
    for v, size in zip(vectors, length):
        arrows = v[:, :1] * g.frames[index, 0] + v[:, 1:] * g.frames[index, 1]
        add_arrows(plotter, pv, lift[shown], arrows[shown], size[shown], color, centred=centred)
    return int(shown.sum())
