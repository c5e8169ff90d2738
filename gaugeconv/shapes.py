"""Procedural meshes: icosahedron/icosphere, Möbius strip, torus, plane, disc, cylinder.

Every generator returns a validated :class:`gaugeconv.Mesh` with consistently oriented faces
(except, necessarily, across the Möbius strip's seam) and a deterministic vertex order.
"""

from __future__ import annotations

import numpy as np

from .mesh import Mesh, make_mesh

__all__ = ["icosahedron", "mobius", "torus", "plane", "disc", "cylinder", "random_rotation", "SHAPES"]


def random_rotation(rng=None) -> np.ndarray:
    """A uniformly random rotation matrix ``(3, 3)`` (Haar measure on SO(3)), e.g. to rotate a
    shape or a spherical signal.

    QR of a Gaussian matrix with the signs of R's diagonal fixed, then det +1.

    Parameters
    ----------
    rng : numpy Generator, seed or None
    """
    rng = np.random.default_rng(rng)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _count(value, name: str, shape: str, minimum: int) -> int:
    """An integer argument of a generator, at least ``minimum`` (ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{shape}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _size(value, name: str, shape: str) -> float:
    """A length argument of a generator: a finite number > 0 (ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{shape}: {name} must be a number > 0, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{shape}: {name} must be a finite number > 0, got {value!r}")
    return float(value)


def _base_icosahedron():
    t = (1.0 + 5**0.5) / 2.0
    v = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0],
         [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
         [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]], dtype=np.float64)  # fmt: skip
    f = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11],
         [1, 5, 9], [5, 11, 4], [11, 10, 2], [10, 7, 6], [7, 1, 8],
         [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
         [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]], dtype=np.int64)  # fmt: skip
    return v / np.linalg.norm(v, axis=1, keepdims=True), f


def _subdivide(vertices, faces):
    """Split every triangle into four at its edge midpoints (midpoints shared)."""
    n = len(vertices)
    a, b, c = faces.T
    pairs = np.stack([np.stack([a, b], 1), np.stack([b, c], 1), np.stack([c, a], 1)], 1).reshape(-1, 2)
    key = np.minimum(pairs[:, 0], pairs[:, 1]) * n + np.maximum(pairs[:, 0], pairs[:, 1])
    uniq, inverse = np.unique(key, return_inverse=True)
    mid = 0.5 * (vertices[uniq // n] + vertices[uniq % n])
    m = (n + inverse).reshape(-1, 3)
    ab, bc, ca = m.T
    new_faces = np.stack(
        [np.stack([a, ab, ca], 1), np.stack([ab, b, bc], 1), np.stack([ca, bc, c], 1), np.stack([ab, bc, ca], 1)], 1
    ).reshape(-1, 3)
    return np.concatenate([vertices, mid]), new_faces


def icosahedron(level: int = 0, sphere: bool = True, radius: float = 1.0) -> Mesh:
    """The icosahedron subdivided ``level`` times: ``10 * 4**level + 2`` vertices.

    Parameters
    ----------
    level : subdivisions (each splits every triangle into 4)
    sphere : project the vertices onto the sphere (an icosphere); if False the subdivided
        icosahedron stays flat (intrinsically flat except at its 12 corners)
    radius : circumradius
    """
    level = _count(level, "level", "icosahedron", 0)
    radius = _size(radius, "radius", "icosahedron")
    v, f = _base_icosahedron()
    for _ in range(level):
        v, f = _subdivide(v, f)
    if sphere:
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
    return make_mesh(radius * v, f, name=f"icosahedron{level}{'' if sphere else '-flat'}")


def _grid_faces(n_u: int, n_v: int, wrap_u: bool = False, wrap_v: bool = False, twist: bool = False):
    """Triangulate a grid of vertices ``index = i * n_v + j``; ``twist`` glues the last column
    to the first with ``j -> n_v - 1 - j`` (a Möbius seam)."""
    cols = n_u if wrap_u else n_u - 1
    rows = n_v if wrap_v else n_v - 1
    i, j = np.meshgrid(np.arange(cols), np.arange(rows), indexing="ij")
    i, j = i.ravel(), j.ravel()
    i1 = (i + 1) % n_u
    j1 = (j + 1) % n_v
    seam = (i == n_u - 1) & twist
    jj, jj1 = np.where(seam, n_v - 1 - j, j), np.where(seam, n_v - 1 - j1, j1)
    v00, v01 = i * n_v + j, i * n_v + j1
    v10, v11 = i1 * n_v + jj, i1 * n_v + jj1
    # alternate the diagonal so the triangulation has no preferred direction
    even = (i + j) % 2 == 0
    t1 = np.where(even[:, None], np.stack([v00, v10, v11], 1), np.stack([v00, v10, v01], 1))
    t2 = np.where(even[:, None], np.stack([v00, v11, v01], 1), np.stack([v10, v11, v01], 1))
    return np.concatenate([t1, t2])


def mobius(
    length: float = 2 * np.pi, width: float = 1.0, n_length: int = 48, n_width: int = 8, flat: bool = True
) -> Mesh:
    """A Möbius strip: ``n_length`` columns of ``n_width`` vertices, glued with a half twist.

    Parameters
    ----------
    length : length of the strip's centre line
    width : width across the strip
    n_length, n_width : vertices along and across
    flat : use the intrinsic lengths of the flat rectangle ``length x width`` (a paper strip),
        so the mesh is intrinsically flat; if False the metric is the 3D embedding's
    """
    n_length, n_width = _count(n_length, "n_length", "mobius", 3), _count(n_width, "n_width", "mobius", 2)
    length, width = _size(length, "length", "mobius"), _size(width, "width", "mobius")
    u = np.arange(n_length) * (length / n_length)
    w = np.linspace(-width / 2, width / 2, n_width)
    uu, ww = np.meshgrid(u, w, indexing="ij")
    radius = length / (2 * np.pi)
    phi = uu / radius
    x = (radius + ww * np.cos(phi / 2)) * np.cos(phi)
    y = (radius + ww * np.cos(phi / 2)) * np.sin(phi)
    z = ww * np.sin(phi / 2)
    vertices = np.stack([x, y, z], -1).reshape(-1, 3)
    faces = _grid_faces(n_length, n_width, wrap_u=True, twist=True)
    lengths = None
    if flat:
        # flat coordinates: column i at u_i, row j at w_j; across the seam, row j continues as
        # row n_width-1-j one period further along
        plane = np.stack([uu, ww], -1).reshape(-1, 2)
        corners = plane[faces]
        i_col = faces // n_width
        seam_face = (i_col == 0).any(1) & (i_col == n_length - 1).any(1)
        wrapped = seam_face[:, None] & (i_col == 0)
        corners[wrapped, 0] += length
        corners[wrapped, 1] *= -1
        lengths = np.linalg.norm(corners - np.roll(corners, -1, axis=1), axis=2)
    return make_mesh(vertices, faces, name="mobius", lengths=lengths)


def torus(major_radius: float = 1.0, minor_radius: float = 0.35, n_major: int = 48, n_minor: int = 16) -> Mesh:
    """A torus of revolution around the z axis (closed, genus 1, chi = 0);
    ``0 < minor_radius < major_radius``, at least 3 vertices around each circle."""
    n_major, n_minor = _count(n_major, "n_major", "torus", 3), _count(n_minor, "n_minor", "torus", 3)
    major_radius = _size(major_radius, "major_radius", "torus")
    minor_radius = _size(minor_radius, "minor_radius", "torus")
    if minor_radius >= major_radius:
        raise ValueError(f"torus: minor_radius must be < major_radius, got {minor_radius} >= {major_radius}")
    u = np.arange(n_major) * 2 * np.pi / n_major
    v = np.arange(n_minor) * 2 * np.pi / n_minor
    uu, vv = np.meshgrid(u, v, indexing="ij")
    r = major_radius + minor_radius * np.cos(vv)
    vertices = np.stack([r * np.cos(uu), r * np.sin(uu), minor_radius * np.sin(vv)], -1).reshape(-1, 3)
    return make_mesh(vertices, _grid_faces(n_major, n_minor, wrap_u=True, wrap_v=True), name="torus")


def plane(width: float = 1.0, height: float = 1.0, nx: int = 16, ny: int = 16) -> Mesh:
    """A flat rectangle in the xy plane, ``nx x ny`` vertices (boundary: one loop)."""
    nx, ny = _count(nx, "nx", "plane", 2), _count(ny, "ny", "plane", 2)
    width, height = _size(width, "width", "plane"), _size(height, "height", "plane")
    x, y = np.meshgrid(np.linspace(0, width, nx), np.linspace(0, height, ny), indexing="ij")
    vertices = np.stack([x, y, np.zeros_like(x)], -1).reshape(-1, 3)
    return make_mesh(vertices, _grid_faces(nx, ny), name="plane")


def disc(radius: float = 1.0, n_rings: int = 8) -> Mesh:
    """A flat disc of concentric rings (ring k has 6k vertices), triangulated like a hexagon."""
    radius, n_rings = _size(radius, "radius", "disc"), _count(n_rings, "n_rings", "disc", 1)
    pts = [np.zeros(2)]
    for k in range(1, n_rings + 1):
        t = np.arange(6 * k) * 2 * np.pi / (6 * k)
        pts.append(np.stack([np.cos(t), np.sin(t)], 1) * radius * k / n_rings)
    pts = np.concatenate([p.reshape(-1, 2) for p in pts])
    from scipy.spatial import Delaunay

    faces = Delaunay(pts).simplices.astype(np.int64)
    u, w = pts[faces[:, 1]] - pts[faces[:, 0]], pts[faces[:, 2]] - pts[faces[:, 0]]
    ccw = u[:, 0] * w[:, 1] - u[:, 1] * w[:, 0] > 0
    faces[~ccw] = faces[~ccw][:, ::-1]
    return make_mesh(np.c_[pts, np.zeros(len(pts))], faces, name="disc")


def cylinder(radius: float = 1.0, height: float = 2.0, n_around: int = 32, n_height: int = 12) -> Mesh:
    """An open cylinder around the z axis (two boundary loops, intrinsically flat)."""
    n_around, n_height = _count(n_around, "n_around", "cylinder", 3), _count(n_height, "n_height", "cylinder", 2)
    radius, height = _size(radius, "radius", "cylinder"), _size(height, "height", "cylinder")
    t = np.arange(n_around) * 2 * np.pi / n_around
    z = np.linspace(0, height, n_height)
    tt, zz = np.meshgrid(t, z, indexing="ij")
    vertices = np.stack([radius * np.cos(tt), radius * np.sin(tt), zz], -1).reshape(-1, 3)
    return make_mesh(vertices, _grid_faces(n_around, n_height, wrap_u=True), name="cylinder")


#: Generators by name, as used by ``gaugeconv shape NAME``.
SHAPES = {
    "icosahedron": icosahedron,
    "mobius": mobius,
    "torus": torus,
    "plane": plane,
    "disc": disc,
    "cylinder": cylinder,
}
