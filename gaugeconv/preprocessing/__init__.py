"""Preprocessing: mesh -> G-structure -> geometric buffers (numpy and scipy only, no torch).

The functions of this package take and return arrays; only :func:`preprocess` wraps the result
in a :class:`~gaugeconv.buffers.Geometry`.
"""

from __future__ import annotations

import numpy as np

from ..buffers import Geometry, PoolMap
from ..mesh import Mesh, MeshError
from ..topology import half_edges
from .connection import Connection, connect, connect_closed_oriented
from .connectivity import Fans, Orientation, boundary_loops, order_fans, order_fans_oriented, orient
from .frames import vertex_frames
from .metric import corner_angles, side_lengths, vertex_areas
from .neighbourhood import geodesic_neighbourhoods
from .options import COARSENINGS, PreprocessOptions
from .orientation import ORIENTATIONS, orient_mesh
from .scale import check_representable, restore_scale, scale_exponent, to_unit_scale, with_scale

__all__ = [
    "Connection",
    "COARSENINGS",
    "Fans",
    "ORIENTATIONS",
    "Orientation",
    "PreprocessOptions",
    "boundary_loops",
    "compute_buffers",
    "connect",
    "connect_closed_oriented",
    "corner_angles",
    "geodesic_neighbourhoods",
    "order_fans",
    "order_fans_oriented",
    "orient",
    "preprocess",
    "side_lengths",
    "vertex_areas",
    "vertex_frames",
]


def _oriented_lengths(mesh: Mesh, orientation: Orientation) -> np.ndarray:
    """Side lengths (F, 3) of the oriented faces: from the intrinsic lengths if the mesh has them."""
    if mesh.lengths is None:
        return side_lengths(mesh.vertices, orientation.faces)
    lengths = np.array(mesh.lengths, dtype=np.float64)
    # reversing (a, b, c) -> (c, b, a) maps sides (ab, bc, ca) to (cb, ba, ac)
    lengths[orientation.flipped] = lengths[orientation.flipped][:, [1, 0, 2]]
    return lengths


def _metric_and_connection(mesh: Mesh, orientation: Orientation, fans: Fans, closed_oriented: bool):
    """The connection, the corner angles (F, 3) and the vertex areas (V,); the side lengths live
    only inside this function (the frames, computed next, do not need them: lower peak memory)."""
    lengths = _oriented_lengths(mesh, orientation)
    alpha = corner_angles(lengths)
    vertex_area = vertex_areas(lengths, orientation.faces, mesh.n_vertices)
    conn = (connect_closed_oriented if closed_oriented else connect)(fans, lengths, alpha, mesh.n_vertices)
    return conn, alpha, vertex_area


def compute_buffers(mesh: Mesh, fast: bool = True) -> dict:
    """All arrays and scalars of a :class:`~gaugeconv.buffers.Geometry` for ``mesh``, as a dict.

    Parameters
    ----------
    mesh : a validated Mesh
    fast : take the fast paths (:func:`order_fans_oriented`, :func:`connect_closed_oriented`) where the
        mesh allows them, i.e. when it is consistently oriented (and closed, for the connection);
        False always runs the reference code (the tests compare the two)

    Computed on a copy brought to unit size by a power of two (exact, :mod:`.scale`), so that no
    square overflows or underflows; lengths and areas are scaled back at the end.
    """
    source = mesh
    mesh, _, length_exponent = to_unit_scale(source)
    n = mesh.n_vertices
    he = half_edges(mesh.faces, n)
    orientation = orient(mesh.faces, he)
    faces = orientation.faces
    if orientation.flipped.any():  # reversed faces have other half-edges
        he = half_edges(faces, n)
    oriented = bool(orientation.orientable.all())  # every face now agrees with its neighbours
    closed = not np.any(he.partner < 0)
    fans = (order_fans_oriented if fast and oriented else order_fans)(faces, n, he)
    conn, alpha, vertex_area = _metric_and_connection(mesh, orientation, fans, fast and oriented and closed)
    defect = np.where(fans.boundary, np.pi, 2 * np.pi) - conn.angle_sum
    buffers = dict(
        vertices=np.asarray(mesh.vertices, dtype=np.float64),
        faces=faces,
        frames=vertex_frames(mesh.vertices, fans, conn, alpha),
        vertex_area=vertex_area,
        degree=conn.degree,
        boundary=fans.boundary,
        angle_defect=defect,
        edge_index=conn.edge_index,
        log_r=conn.log_r,
        log_theta=conn.log_theta,
        transport_angle=conn.transport_angle,
        transport_flip=conn.transport_flip,
        orientable=oriented,
        structure_group="SO2" if oriented else "O2",
        n_components=int(orientation.orientable.size),
        n_boundary_loops=boundary_loops(he, n),
        euler_characteristic=int(n - len(he.edges) + len(faces)),
        source_index=_source_index(source),
        mesh_hash=source.hash,
        name=mesh.name,
    )
    return restore_scale(buffers, source, length_exponent)


def _source_index(mesh: Mesh) -> np.ndarray:
    if mesh.source_index is None:
        return np.arange(mesh.n_vertices, dtype=np.int64)
    return np.asarray(mesh.source_index, dtype=np.int64)


def _levels_and_neighbourhoods(mesh: Mesh, buffers: dict, levels: int, ratio, coarsening, radius):
    """The hierarchy of ``buffers`` and, with a ``radius``, the neighbourhood edges of every level,
    built at unit scale like the buffers themselves; each coarse vertex carries the source index
    of the fine vertex it is. Returns ``(buffers, coarse levels, pooling maps)``."""
    from .hierarchy import build_hierarchy
    from .neighbourhood import neighbourhood_levels

    if not levels and radius is None:
        build_hierarchy(buffers, levels, ratio, coarsening)  # checks the arguments
        return buffers, [], []
    vertex_exponent = scale_exponent(mesh.vertices)
    length_exponent = vertex_exponent if mesh.lengths is None else scale_exponent(mesh.lengths)
    unit = with_scale(buffers, -vertex_exponent, -length_exponent)
    coarse, pools = build_hierarchy(unit, levels, ratio, coarsening)  # checks levels, ratio, coarsening
    if radius is not None:
        unit, coarse = neighbourhood_levels(unit, coarse, pools, radius)
        buffers = with_scale(unit, vertex_exponent, length_exponent)
        buffers["vertices"] = np.asarray(mesh.vertices, dtype=np.float64)
        check_representable(buffers, mesh.name)
    coarse = [with_scale(level, vertex_exponent, length_exponent) for level in coarse]
    pools = [with_scale(pool, 0, length_exponent) for pool in pools]
    source_index = buffers["source_index"]
    for level, pool in zip(coarse, pools):
        source_index = level["source_index"] = source_index[pool["sub"]]
        check_representable(level, mesh.name)
        check_representable(pool, mesh.name)
    return buffers, coarse, pools


def preprocess(
    mesh: Mesh,
    levels: int = 0,
    ratio: float = 4.0,
    radius: float | None = None,
    coarsening="auto",
    orientation: str = "file",
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
    ValueError
        for bad ``levels``, ``ratio``, ``radius``, ``coarsening`` or ``orientation``.
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
    buffers, coarse, pools = _levels_and_neighbourhoods(mesh, buffers, levels, ratio, coarsening, radius)
    options = {
        "levels": int(levels),
        "ratio": float(ratio),
        "radius": None if radius is None else float(radius),
        "coarsening": coarsening if isinstance(coarsening, str) else "given",
        "orientation": orientation,
    }
    return Geometry(
        **buffers,
        options=options,
        levels=tuple(Geometry(**level) for level in coarse),
        pools=tuple(PoolMap(**pool) for pool in pools),
    )
