"""Spherical signals sampled on the icosahedral grid (numpy).

The grid points are the vertices of the icosphere ``shapes.icosahedron(level, sphere=True)``
(unit vectors, the vertex order of every gaugeconv icosahedron). A rotation R moves a signal
``f`` to ``f_R(x) = f(R^-1 x)``, so sampling a rotated signal means evaluating ``f`` at ``R^-1 x``.

Conventions: latitude ``lat = arcsin(z)``, longitude ``lon = atan2(y, x)`` (radians); an
equirectangular image ``(H, W[, C])`` has row 0 at the north pole (``lat = +pi/2``) and row
``H - 1`` at the south pole, column 0 at ``lon = -pi``; pixel centres at half-integers.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..shapes import icosahedron
from ..shapes import random_rotation as random_rotation  # re-exported: part of this module's API

__all__ = ["grid_points", "project_planar_image", "random_rotation", "sample_equirectangular", "sample_function"]


@lru_cache(maxsize=8)
def _unit_grid(level: int) -> np.ndarray:
    points = np.array(icosahedron(level, sphere=True).vertices, dtype=np.float64)
    points.flags.writeable = False
    return points


def grid_points(level: int) -> np.ndarray:
    """Unit vectors of the grid at ``level``, ``(V, 3)``, in mesh vertex order (a new array)."""
    return _unit_grid(level).copy()


def _points(level, rotation):
    x = _unit_grid(level)
    if rotation is None:
        return x
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-8):
        raise ValueError(f"rotation must be a (3, 3) rotation matrix, got shape {rotation.shape}")
    return x @ rotation  # rows R^T x = R^-1 x


def sample_function(function, level: int, rotation=None) -> np.ndarray:
    """Sample ``function((V, 3) unit vectors) -> (V,) or (V, C)`` on the grid, rotated by ``rotation``.

    Returns
    -------
    (V, C) float64 (C = 1 for a scalar function)
    """
    values = np.asarray(function(_points(level, rotation)), dtype=np.float64)
    if values.shape[0] != len(_unit_grid(level)):
        raise ValueError(f"function must return one value per point, got shape {values.shape}")
    return values.reshape(values.shape[0], -1)


def _bilinear(image, u, v, wrap_columns):
    """Bilinear interpolation at continuous pixel coordinates (u rows, v columns; pixel centres at
    integers). Outside the image: zero (rows), wrapped or zero (columns). image (H, W, C) -> (N, C)."""
    h, w = image.shape[:2]
    u0, v0 = np.floor(u).astype(np.int64), np.floor(v).astype(np.int64)
    fu, fv = u - u0, v - v0
    out = np.zeros((len(u), image.shape[2]))
    for du, wu in ((0, 1 - fu), (1, fu)):
        for dv, wv in ((0, 1 - fv), (1, fv)):
            r, c = u0 + du, v0 + dv
            if wrap_columns:
                c = c % w
            ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            out[ok] += (wu * wv)[ok, None] * image[r[ok], c[ok]]
    return out


def _as_image(image):
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    return image


def sample_equirectangular(image, level: int, rotation=None) -> np.ndarray:
    """Bilinear samples of an equirectangular image ``(H, W[, C])`` on the grid (see the module
    conventions); longitudes wrap around, rows are clamped at the poles.

    Returns
    -------
    (V, C) float64
    """
    image = _as_image(image)
    h, w = image.shape[:2]
    x = _points(level, rotation)
    lat = np.arcsin(np.clip(x[:, 2], -1.0, 1.0))
    lon = np.arctan2(x[:, 1], x[:, 0])
    u = np.clip((np.pi / 2 - lat) / np.pi * h - 0.5, 0.0, h - 1.0)
    v = (lon + np.pi) / (2 * np.pi) * w - 0.5
    return _bilinear(image, u, v, wrap_columns=True)


def project_planar_image(image, level: int, rotation=None) -> np.ndarray:
    """Project a planar image onto the sphere as in the Spherical MNIST benchmark (S2CNN generator).

    Each grid point x (after ``rotation``: the signal is rotated by it) is projected from the north
    pole ``(0, 0, 1)`` onto the plane ``z = -1`` tangent at the south pole:
    ``q = 2 (x, y) / (1 - z)``. The image covers the square ``[-1.5, 1.5]^2`` of that plane
    (so it lands on the southern hemisphere), its rows along ``q_x`` and columns along ``q_y``,
    and is sampled bilinearly; points outside it get 0. (The generator writes the projection
    origin as (0, 0, 2) in coordinates shifted by +1 along z, i.e. the north pole.)

    Parameters
    ----------
    image : (H, W) or (H, W, C), e.g. a 28 x 28 digit
    level : grid level
    rotation : (3, 3) rotation matrix or None

    Returns
    -------
    (V, C) float64
    """
    image = _as_image(image)
    h, w = image.shape[:2]
    x = _points(level, rotation)
    north = 1.0 - x[:, 2] < 1e-9  # projects to infinity
    denom = np.where(north, 1.0, 1.0 - x[:, 2])
    qx, qy = 2 * x[:, 0] / denom, 2 * x[:, 1] / denom
    u = (qx + 1.5) / 3.0 * h - 0.5  # continuous pixel coordinates, centres at integers
    v = (qy + 1.5) / 3.0 * w - 0.5
    inside = (np.abs(qx) < 1.5) & (np.abs(qy) < 1.5) & ~north
    out = np.zeros((len(x), image.shape[2]))
    out[inside] = _bilinear(image, u[inside], v[inside], wrap_columns=False)
    return out
