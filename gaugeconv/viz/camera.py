"""Where the camera looks from: a view fitted to a mesh's principal axes (numpy only).

:func:`auto_view` picks the direction from the mesh towards the camera and the picture's up
vector so that the mesh shows its largest silhouette, upright when its axes say which way is up:

* An **axis-aligned** mesh (every principal axis, area-weighted, within 15 degrees of x, y or z:
  most scans and generated shapes) stands on +y or on +z, whichever lets a side view show the
  larger silhouette (+y unless +z shows 5% more: +y is the convention of most scanned meshes).
  A y-up scan stands upright, and so does a z-up one; a flat mesh lying in the xy plane (a torus,
  a strip) stands on +y and is seen from the front of that plane; an ant with its legs spread in
  the xz plane stands on +z and is seen from below or above.
* The camera then looks along the horizontal direction with the largest silhouette (the
  thinnest horizontal spread), from 20 degrees above and 20 degrees round, so that the picture
  shows depth. Which side is the front cannot be known from the shape: the camera takes the
  side towards +z for y-up meshes and towards -y for z-up ones (those conventions' front).
* Given ``up``, a mesh lying flat on it (its thinnest principal axis along ``up``, spread less
  than half the middle one) is seen from 55 degrees above, its longer side across the window.
* Any other mesh (randomly rotated) is seen along its thinnest principal axis, the longer of the
  other two across the window, from 20 degrees above and 20 degrees round.
"""

from __future__ import annotations

import numpy as np

__all__ = ["AXES", "auto_view", "orbit", "up_vector"]

#: ``up`` names accepted by :func:`up_vector`
AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}

_FLAT = 0.5  # thinnest spread / middle spread below which a mesh is seen from above
_ALIGNED = np.cos(np.radians(15.0))
_SIDE_ELEVATION, _SIDE_AZIMUTH = np.radians(20.0), np.radians(20.0)
_TOP_ELEVATION = np.radians(55.0)
_DEGENERATE = 1.05  # spreads this close give no principal direction
_TIE = 0.05  # +z is up only when it shows a silhouette this much larger than +y does
#: where the camera stands for a side view, for each up axis: the conventional front
_FRONT = {1: np.array([0.0, 0.0, 1.0]), 2: np.array([0.0, -1.0, 0.0]), 0: np.array([0.0, 1.0, 0.0])}


def up_vector(up) -> np.ndarray:
    """A unit vector (3,) from ``"x"``, ``"y"``, ``"z"``, ``"-x"``, ... or a direction (3,)."""
    if isinstance(up, str):
        name = up.strip().lower()
        sign = -1.0 if name.startswith("-") else 1.0
        if name.lstrip("+-") not in AXES:
            raise ValueError(f"up must be x, y, z, -x, -y, -z or a direction (x, y, z), got {up!r}")
        return sign * np.array(AXES[name.lstrip("+-")])
    vector = np.asarray(up, dtype=np.float64).reshape(-1)
    if vector.shape != (3,) or not np.all(np.isfinite(vector)) or not np.any(vector):
        raise ValueError(f"up must be x, y, z, -x, -y, -z or a non-zero direction (x, y, z), got {up!r}")
    return vector / np.linalg.norm(vector)


def _unit(v):
    return v / np.linalg.norm(v)


def _positive(v):
    """``v`` or ``-v``: the one whose largest component is positive (a deterministic sign)."""
    return v if v[np.argmax(np.abs(v))] > 0 else -v


def _principal(points, weights):
    """Centred points, spreads (3,) descending and principal axes (3, 3) as columns. Where two
    spreads are within 5% (a sphere, a torus), their axes are not set by the shape: they are
    turned to a world axis in their plane if there is one (all three: the world axes)."""
    centre = np.average(points, axis=0, weights=weights)
    x = points - centre
    covariance = (x * (weights / weights.sum())[:, None]).T @ x
    spread, axes = np.linalg.eigh(covariance)
    spread, axes = np.sqrt(np.maximum(spread[::-1], 0.0)), axes[:, ::-1]  # descending: a1, a2, a3
    if spread[0] <= _DEGENERATE * spread[2]:
        return x, spread, np.eye(3)
    for i in (0, 1):
        if spread[i] <= _DEGENERATE * spread[i + 1]:
            pair = axes[:, i : i + 2]
            for e in np.eye(3):
                inside = pair @ (pair.T @ e)
                if np.linalg.norm(inside) > _ALIGNED:
                    other = 0 if i == 1 else 2  # the third axis
                    axes = axes.copy()
                    axes[:, i] = _unit(inside)
                    axes[:, i + 1] = np.cross(axes[:, other], axes[:, i])
                    break
    return x, spread, axes


def _fill(x, direction, view_up, aspect) -> float:
    """How much of a window (width / height = aspect) the points cover seen along ``direction``
    with ``view_up`` up: the projected spread (area) times the square of the fitting zoom."""
    up = _unit(view_up - (view_up @ direction) * direction)
    right = np.cross(up, direction)
    h, v = x @ right, x @ up
    extent_h, extent_v = max(np.ptp(h), 1e-300), max(np.ptp(v), 1e-300)
    area = np.sqrt(max(np.linalg.det(np.cov(np.stack([h, v]))), 0.0)) if len(x) > 2 else extent_h * extent_v
    return float(area * min(aspect / extent_h, 1.0 / extent_v) ** 2)


def _turn(horizontal, up, elevation, azimuth):
    """The direction ``elevation`` above the plane normal to ``up``, ``azimuth`` round from ``horizontal``."""
    around = np.cos(azimuth) * horizontal + np.sin(azimuth) * np.cross(up, horizontal)
    return _unit(np.cos(elevation) * around + np.sin(elevation) * up)


def _area(x, direction) -> float:
    """The silhouette's size seen along ``direction``: the spread of the projected points (an area)."""
    plane = np.eye(3) - np.outer(direction, direction)
    spread = np.linalg.eigvalsh(plane @ np.cov(x.T) @ plane)
    return float(np.sqrt(max(spread[1] * spread[2], 0.0)))


def _side_view(x, up):
    """The horizontal direction (normal to ``up``) with the largest silhouette, on the front side."""
    plane = np.eye(3) - np.outer(up, up)
    spread, axes = np.linalg.eigh(plane @ np.cov(x.T) @ plane)  # ascending; one eigenvector is up
    horizontal = [axes[:, i] for i in range(3) if abs(axes[:, i] @ up) < 0.5]
    best = horizontal[0]  # the thinnest horizontal direction: the others span the largest silhouette
    axis = int(np.argmax(np.abs(up)))
    for front in (_FRONT.get(axis) if abs(up[axis]) > _ALIGNED else None, *np.eye(3)):
        if front is not None and abs(best @ front) > 0.1:
            return best if best @ front > 0 else -best
    return best


def auto_view(points, *, weights=None, up=None, aspect: float = 4 / 3):
    """The camera for a picture of ``points``: the direction towards the camera and the up vector.

    Parameters
    ----------
    points : (N, 3) vertex positions
    weights : (N,) optional non-negative weights (vertex areas), default equal
    up : None (detect), ``"x"``, ``"y"``, ``"z"``, ``"-y"``, ... or a direction (3,)
    aspect : window width / height

    Returns
    -------
    direction : (3,) unit vector from the mesh's centre towards the camera
    view_up : (3,) unit vector that points up in the picture (not normal to ``direction``: the
        picture shows its part normal to it; it is the axis the views of :func:`orbit` turn round)
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    weights = np.ones(len(points)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(points) < 4 or weights.sum() <= 0:
        return _unit(np.array([1.0, 1.0, 1.0])), np.array([0.0, 0.0, 1.0])
    x, spread, axes = _principal(points, weights)
    if up is not None:
        w = up_vector(up)
    elif np.all(np.max(np.abs(axes), axis=0) > _ALIGNED):  # axis-aligned: stand it on +y or +z
        y, z = (_area(x, _side_view(x, e)) for e in np.eye(3)[1:])
        w = np.eye(3)[2 if z > (1 + _TIE) * y else 1]
    else:  # along the thinnest axis, the longer of the other two across the window
        thin = _positive(axes[:, 2])
        w = max((_positive(axes[:, 0]), _positive(axes[:, 1])), key=lambda u: _fill(x, thin, u, aspect))
        return _turn(thin, w, _SIDE_ELEVATION, _SIDE_AZIMUTH), w
    if spread[2] < _FLAT * spread[1] and abs(w @ axes[:, 2]) > 0.9:
        # lying flat on its up axis: from above, its longer side across the window, from the near end
        plane = [_positive(a - (a @ w) * w) for a in (axes[:, 0], axes[:, 1])]
        far = max(plane, key=lambda v: _fill(x, w, _unit(v), aspect))
        return _turn(-_unit(far), w, _TOP_ELEVATION, 0.0), w
    return _turn(_side_view(x, w), w, _SIDE_ELEVATION, _SIDE_AZIMUTH), w


def orbit(direction, up, count: int):
    """``count`` camera directions round the axis ``up``, starting at ``direction`` (same elevation).

    Parameters
    ----------
    direction : (3,) from the mesh towards the camera
    up : (3,) the axis to turn round (the up vector of :func:`auto_view`)
    count : number of views; the k-th is turned by ``360 k / count`` degrees

    Returns
    -------
    (count, 3) unit directions
    """
    direction, axis = _unit(np.asarray(direction, np.float64)), _unit(np.asarray(up, np.float64))
    angle = 2 * np.pi * np.arange(count)[:, None] / count
    along = (axis @ direction) * axis  # Rodrigues' rotation of direction about axis
    return np.cos(angle) * (direction - along) + np.sin(angle) * np.cross(axis, direction) + along
