"""The 60 rotations of the icosahedron, derived from the grid, as vertex permutations.

A rotation symmetry is fixed by where it sends one base face with its corners: any of the 20
base faces, with any of its 3 cyclic corner assignments (a cyclic one keeps the orientation).
Each rotation is the orthogonal Procrustes fit between the corner positions; it is accepted
only if it maps the vertex set of the grid onto itself, which gives the vertex permutation.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from ..shapes import icosahedron

__all__ = ["icosahedral_rotations", "procrustes_rotation"]


def procrustes_rotation(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The rotation R (det +1) minimising ``|R source_i - target_i|``; source, target ``(K, 3)``."""
    u, _, vt = np.linalg.svd(target.T @ source)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def icosahedral_rotations(level: int, sphere: bool = False, tol: float = 1e-9):
    """The 60 rotations of the icosahedron and the vertex permutations they induce at ``level``.

    Parameters
    ----------
    level : subdivision level of :func:`gaugeconv.shapes.icosahedron`
    sphere : use the icosphere's vertices instead of the flat icosahedron's (same permutations)
    tol : largest accepted distance between a rotated vertex and the vertex it lands on

    Returns
    -------
    rotations : (60, 3, 3) float64, ``rotations[g] @ x`` rotates a point x
    permutations : (60, V) int64, vertex v goes to vertex ``permutations[g, v]``; a signal f is
        rotated by ``f_rot[permutations[g]] = f``
    """
    mesh = icosahedron(level, sphere=sphere)
    base = icosahedron(0, sphere=sphere)
    pos = np.asarray(mesh.vertices)
    corners = np.asarray(base.vertices)
    faces = np.asarray(base.faces)
    tree = cKDTree(pos)
    rotations, permutations = [], []
    for face in faces:
        for roll in range(3):
            rot = procrustes_rotation(corners[faces[0]], corners[np.roll(face, roll)])
            dist, perm = tree.query(pos @ rot.T)
            if dist.max() > tol or len(np.unique(perm)) != len(pos):
                raise RuntimeError("a face-to-face map is not a symmetry of the grid (internal error)")
            rotations.append(rot)
            permutations.append(perm)
    return np.stack(rotations), np.stack(permutations).astype(np.int64)
