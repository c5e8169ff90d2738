"""Embedded frames ``(e1, e2, n)`` of the gauges, for display and for mapping features to 3D.

The layers never read frames: the gauge is defined intrinsically (e1 points to the first
neighbour of the fan, angles increase in the fan's direction). The frame shows that gauge in the
embedding: n is the angle-weighted normal in the vertex's local orientation, e1 the direction to
the first neighbour projected onto the tangent plane, e2 = n x e1.

The work runs over blocks of faces and of vertices (:func:`~gaugeconv.preprocessing.metric.blocks`):
the per-face temporaries of the whole mesh would otherwise set the peak memory of preprocessing
(measured on the level-7 icosphere: 560 against 130 bytes per vertex for this step).
"""

from __future__ import annotations

import numpy as np

from .connection import Connection
from .connectivity import Fans
from .metric import blocks

__all__ = ["vertex_frames"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, corner_sign: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Angle-weighted unit normals ``(V, 3)``: every corner adds its face's unit normal times its
    angle and its sign (``corner_sign (F, 3)``: -1 where the vertex's fan runs against the face)."""
    x, y, z = vertices.T  # one coordinate at a time: (B, 3) gathers instead of (B, 3, 3)
    normal = np.zeros((3, len(vertices)))
    for block in blocks(len(faces)):
        f = faces[block]
        fx, fy, fz = x[f], y[f], z[f]  # (B, 3): the coordinate at each corner
        ux, uy, uz = fx[:, 1] - fx[:, 0], fy[:, 1] - fy[:, 0], fz[:, 1] - fz[:, 0]  # side 0 -> 1
        wx, wy, wz = fx[:, 2] - fx[:, 0], fy[:, 2] - fy[:, 0], fz[:, 2] - fz[:, 0]  # side 0 -> 2
        face_normal = np.stack([uy * wz - uz * wy, uz * wx - ux * wz, ux * wy - uy * wx])  # u x w, (3, B)
        face_normal /= np.sqrt(np.sum(face_normal**2, axis=0))
        weight = corner_sign[block] * angles[block]  # (B, 3)
        for k in range(3):
            np.add.at(normal[k], f.reshape(-1), (weight * face_normal[k][:, None]).reshape(-1))
    normal /= np.sqrt(np.sum(normal**2, axis=0))
    return normal.T


def vertex_frames(vertices: np.ndarray, fans: Fans, conn: Connection, angles: np.ndarray) -> np.ndarray:
    """Frames ``(V, 3, 3)``: ``frames[p] = (e1, e2, n)`` as rows.

    Parameters
    ----------
    vertices : (V, 3) positions
    fans : the ordered fans (their directions give each vertex's local orientation)
    conn : the connection (the first edge into p comes from the neighbour at angle 0)
    angles : (F, 3) corner angles, the normal's weights

    Intrinsic angles are rescaled at curved vertices, so the frame is exact for display, not for
    measurement.
    """
    corner_sign = np.where(fans.corner_direction.reshape(-1, 3) == 1, -1.0, 1.0)
    normal = vertex_normals(vertices, fans.faces, corner_sign, angles)
    first = conn.edge_index[0, np.cumsum(conn.degree) - conn.degree]  # the neighbour at angle 0
    frames = np.empty((len(vertices), 3, 3))
    for block in blocks(len(vertices)):
        n = normal[block]
        towards = vertices[first[block]] - vertices[block]
        e1 = _unit(towards - np.sum(towards * n, axis=1, keepdims=True) * n)
        frames[block] = np.stack([e1, np.cross(n, e1), n], axis=1)
    return frames
