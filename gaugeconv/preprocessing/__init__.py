"""Preprocessing: mesh -> G-structure -> geometric buffers (numpy and scipy only, no torch).

The functions of this package take and return arrays; only :func:`preprocess` wraps the result
in a :class:`~gaugeconv.buffers.Geometry`.
"""

from __future__ import annotations

import numpy as np

from ..buffers import Geometry, PoolMap
from ..mesh import Mesh, half_edges
from .connection import _CHUNK, Connection, connect, corner_angles, side_lengths, vertex_frames
from .connectivity import Fans, Orientation, boundary_loops, order_fans, orient
from .neighbourhood import geodesic_neighbourhoods

__all__ = [
    "Connection",
    "Fans",
    "Orientation",
    "boundary_loops",
    "compute_buffers",
    "connect",
    "geodesic_neighbourhoods",
    "corner_angles",
    "order_fans",
    "orient",
    "preprocess",
    "side_lengths",
    "vertex_frames",
]


def _oriented_lengths(mesh: Mesh, orientation: Orientation) -> np.ndarray:
    if mesh.lengths is None:
        return side_lengths(mesh.vertices, orientation.faces)
    lengths = np.array(mesh.lengths, dtype=np.float64)
    # reversing (a, b, c) -> (c, b, a) maps sides (ab, bc, ca) to (cb, ba, ac)
    lengths[orientation.flipped] = lengths[orientation.flipped][:, [1, 0, 2]]
    return lengths


def _vertex_areas(lengths: np.ndarray, faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """Barycentric vertex areas (V,) from Heron's formula on the side lengths (intrinsic)."""
    vertex_area = np.zeros(n_vertices)
    for start in range(0, len(faces), _CHUNK):  # cache-sized blocks, summed in face order
        block = lengths[start : start + _CHUNK]
        s = 0.5 * block.sum(axis=1)
        area = np.sqrt(np.clip(s * (s - block[:, 0]) * (s - block[:, 1]) * (s - block[:, 2]), 0.0, None))
        np.add.at(vertex_area, faces[start : start + _CHUNK].reshape(-1), np.repeat(area / 3.0, 3))
    return vertex_area


def compute_buffers(mesh: Mesh) -> dict:
    """All arrays and scalars of a :class:`gaugeconv.Geometry` for ``mesh`` (a dict)."""
    n = mesh.n_vertices
    he0 = half_edges(mesh.faces, n)
    orientation = orient(mesh.faces, he0)
    faces = orientation.faces
    # reversing faces permutes their half-edges: regroup only if something was reversed
    fans = order_fans(faces, n, he0 if not orientation.flipped.any() else None)
    lengths = _oriented_lengths(mesh, orientation)
    alpha = corner_angles(lengths)
    vertex_area = _vertex_areas(lengths, faces, n)
    conn = connect(fans, lengths, alpha, n)
    del lengths  # lower peak memory: the frames do not need them
    frames = vertex_frames(mesh.vertices, fans, conn, alpha)
    defect = np.where(fans.boundary, np.pi, 2 * np.pi) - conn.angle_sum
    n_edges = he0.edges.shape[0]
    orientable = bool(orientation.orientable.all())
    return dict(
        vertices=np.asarray(mesh.vertices, dtype=np.float64),
        faces=faces,
        frames=frames,
        vertex_area=vertex_area,
        degree=conn.degree,
        boundary=fans.boundary,
        angle_defect=defect,
        edge_index=conn.edge_index,
        log_r=conn.log_r,
        log_theta=conn.log_theta,
        transport_angle=conn.transport_angle,
        transport_flip=conn.transport_flip,
        orientable=orientable,
        structure_group="SO2" if orientable else "O2",
        n_components=int(orientation.orientable.size),
        n_boundary_loops=boundary_loops(he0, n),
        euler_characteristic=int(n - n_edges + len(faces)),
        mesh_hash=mesh.hash,
        name=mesh.name,
    )


def preprocess(
    mesh: Mesh, levels: int = 0, ratio: float = 4.0, radius: float | None = None, coarsening="auto"
) -> Geometry:
    """Compute the geometric buffers of a validated mesh.

    Parameters
    ----------
    mesh : Mesh, from :func:`gaugeconv.load_mesh` or :func:`gaugeconv.make_mesh`
    levels : number K of coarse levels for pooling (``Geometry.levels``, ``Geometry.pools``);
        see :mod:`gaugeconv.preprocessing.hierarchy`
    ratio : vertex count ratio between consecutive sampled levels (> 1); recognised
        subdivisions keep their own (about 4)
    radius : None for edges along the mesh's one-ring (and the coarse levels' touching cells);
        a number for geodesic neighbourhoods of that many mean edge lengths of each level
        (:mod:`gaugeconv.preprocessing.neighbourhood`), at level 0 and every coarse level
    coarsening : "auto" (the levels of a regular subdivision or the coarser grids of a regular
        grid where the mesh is one, as far as it is, then sampling), "subdivision" or "grid"
        (required; ValueError otherwise) or "sample" (geodesic farthest points),
        see :mod:`gaugeconv.preprocessing.coarsening`; or K nested arrays of vertex ids

    Returns
    -------
    Geometry (numpy, float64); see :mod:`gaugeconv.buffers` for the arrays.
    """
    from .hierarchy import build_hierarchy
    from .neighbourhood import neighbourhood_levels

    buffers = compute_buffers(mesh)
    coarse, pools = build_hierarchy(buffers, levels, ratio, coarsening)
    if radius is not None:
        buffers, coarse = neighbourhood_levels(buffers, coarse, pools, radius)
    return Geometry(
        **buffers,
        levels=tuple(Geometry(**level) for level in coarse),
        pools=tuple(PoolMap(**pool) for pool in pools),
    )
