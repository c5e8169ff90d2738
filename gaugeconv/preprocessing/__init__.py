"""Preprocessing: mesh -> G-structure -> geometric buffers (numpy and scipy only, no torch).

The functions of this package take and return arrays; only :func:`preprocess` wraps the result
in a :class:`~gaugeconv.buffers.Geometry`.
"""

from __future__ import annotations

import numpy as np

from ..buffers import Geometry, PoolMap
from ..mesh import Mesh, MeshError, half_edges
from .connection import _CHUNK, Connection, connect, corner_angles, side_lengths, vertex_frames
from .connectivity import Fans, Orientation, boundary_loops, order_fans, orient
from .orientation import ORIENTATIONS, orient_mesh
from .scale import check_representable, restore_scale, scale_exponent, to_unit_scale, with_scale

__all__ = [
    "Connection",
    "Fans",
    "ORIENTATIONS",
    "Orientation",
    "boundary_loops",
    "compute_buffers",
    "connect",
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
    """All arrays and scalars of a :class:`gaugeconv.Geometry` for ``mesh`` (a dict).

    Computed on a copy brought to unit size by a power of two (exact, :mod:`.scale`), so that
    no square overflows or underflows; lengths and areas are scaled back at the end.
    """
    source = mesh
    mesh, _, length_exponent = to_unit_scale(source)
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
    buffers = dict(
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
        source_index=_source_index(source),
        mesh_hash=source.hash,
        name=mesh.name,
    )
    return restore_scale(buffers, source, length_exponent)


def _source_index(mesh: Mesh) -> np.ndarray:
    if mesh.source_index is None:
        return np.arange(mesh.n_vertices, dtype=np.int64)
    return np.asarray(mesh.source_index, dtype=np.int64)


def _coarse_levels(mesh: Mesh, buffers: dict, levels: int, ratio: float) -> tuple[list, list]:
    """The hierarchy of ``buffers``, built at unit scale like the buffers themselves; each
    coarse vertex carries the source index of the fine vertex it is."""
    from .hierarchy import build_hierarchy

    vertex_exponent = scale_exponent(mesh.vertices)
    length_exponent = vertex_exponent if mesh.lengths is None else scale_exponent(mesh.lengths)
    unit = with_scale(buffers, -vertex_exponent, -length_exponent) if levels else buffers
    coarse, pools = build_hierarchy(unit, levels, ratio)  # checks levels and ratio
    coarse = [with_scale(level, vertex_exponent, length_exponent) for level in coarse]
    pools = [with_scale(pool, 0, length_exponent) for pool in pools]
    source_index = buffers["source_index"]
    for level, pool in zip(coarse, pools):
        source_index = level["source_index"] = source_index[pool["sub"]]
        check_representable(level, mesh.name)
        check_representable(pool, mesh.name)
    return coarse, pools


def preprocess(mesh: Mesh, levels: int = 0, ratio: float = 4.0, orientation: str = "file") -> Geometry:
    """Compute the geometric buffers of a validated mesh.

    Parameters
    ----------
    mesh : Mesh, from :func:`gaugeconv.load_mesh` or :func:`gaugeconv.make_mesh`
    levels : number K of coarse levels for pooling (``Geometry.levels``, ``Geometry.pools``);
        see :mod:`gaugeconv.preprocessing.hierarchy`
    ratio : vertex count ratio between consecutive levels (> 1)
    orientation : ``"file"`` (default) or ``"outward"``: how each orientable component is wound,
        which SO(2) models see (they are chiral); see :mod:`gaugeconv.preprocessing.orientation`

    Returns
    -------
    Geometry (numpy, float64); see :mod:`gaugeconv.buffers` for the arrays. ``mesh_hash`` and
    ``vertices`` are those of ``mesh`` whatever the orientation.

    Raises
    ------
    MeshError
        if ``mesh`` is not a Mesh (a path: read it with :func:`gaugeconv.load_mesh` first), or if
        its lengths or areas do not fit float64.
    """
    if not isinstance(mesh, Mesh):
        what = f"the path {mesh!r}" if isinstance(mesh, (str, bytes)) or hasattr(mesh, "__fspath__") else None
        raise MeshError(
            f"preprocess takes a Mesh, got {what or type(mesh).__name__}; "
            f"read a file with gaugeconv.load_mesh(path) and pass the result"
        )
    oriented = orient_mesh(mesh, orientation)
    buffers = compute_buffers(oriented)
    if oriented is not mesh:
        buffers["mesh_hash"] = mesh.hash
    coarse, pools = _coarse_levels(mesh, buffers, levels, ratio)
    return Geometry(
        **buffers,
        levels=tuple(Geometry(**level) for level in coarse),
        pools=tuple(PoolMap(**pool) for pool in pools),
    )
