"""Group elements of O(2) and its subgroups, as plain numpy arrays.

An element of O(2) is stored as a pair ``(angle, flip)``: ``g = R(angle) @ F**flip`` with
``R(a)`` the rotation by ``a`` radians (counter-clockwise, from e1 towards e2) and
``F = diag(1, -1)`` the reflection across e1. SO(2) is the subset ``flip == False``; C_N and
D_N are the subsets whose angle is a multiple of ``2*pi/N``.

Every function broadcasts over arrays of elements; angles are float64 radians, flips bool.
These helpers are used by preprocessing (transporters, gauge transformations) and by the
field types of the layers.
"""

from __future__ import annotations

import numpy as np

TWO_PI = 2.0 * np.pi


def wrap_angle(angle):
    """Wrap angles to ``[-pi, pi)``.

    Parameters
    ----------
    angle : array_like, any shape
    """
    return (np.asarray(angle, dtype=np.float64) + np.pi) % TWO_PI - np.pi


def o2_compose(a1, f1, a2, f2):
    """Product ``g1 @ g2`` of O(2) elements ``g_i = R(a_i) F**f_i``.

    Uses ``F R(a) = R(-a) F``, so ``R(a1) F^f1 R(a2) F^f2 = R(a1 + (-1)^f1 a2) F^(f1 xor f2)``.

    Returns
    -------
    angle : ndarray, broadcast shape, wrapped to ``[-pi, pi)``
    flip : ndarray of bool, broadcast shape
    """
    f1 = np.asarray(f1, dtype=bool)
    f2 = np.asarray(f2, dtype=bool)
    sign = np.where(f1, -1.0, 1.0)
    return wrap_angle(np.asarray(a1) + sign * np.asarray(a2)), np.logical_xor(f1, f2)


def o2_inverse(angle, flip):
    """Inverse of ``R(angle) F**flip``: ``R(-angle)`` for rotations, itself for reflections."""
    flip = np.asarray(flip, dtype=bool)
    angle = np.asarray(angle, dtype=np.float64)
    return wrap_angle(np.where(flip, angle, -angle)), flip.copy()


def o2_act_on_angle(angle, flip, theta):
    """Direction angle of ``g @ (cos theta, sin theta)`` for ``g = R(angle) F**flip``."""
    flip = np.asarray(flip, dtype=bool)
    theta = np.asarray(theta, dtype=np.float64)
    return wrap_angle(np.asarray(angle) + np.where(flip, -theta, theta))


def o2_matrix(angle, flip):
    """The 2x2 matrices ``R(angle) @ F**flip``.

    Returns
    -------
    ndarray of shape ``(..., 2, 2)``
    """
    angle = np.asarray(angle, dtype=np.float64)
    sign = np.where(np.asarray(flip, dtype=bool), -1.0, 1.0)
    c, s = np.cos(angle), np.sin(angle)
    out = np.empty(np.broadcast(angle, sign).shape + (2, 2))
    out[..., 0, 0] = c
    out[..., 1, 0] = s
    out[..., 0, 1] = -s * sign
    out[..., 1, 1] = c * sign
    return out
