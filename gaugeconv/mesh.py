"""Triangle meshes: loading, validation and repair.

A :class:`Mesh` is a validated pair ``vertices (V, 3) float64``, ``faces (F, 3) int64``: every
face a proper triangle, every edge in one or two faces, every vertex a single fan (disc or
half-disc), no duplicate faces, no unreferenced vertices. Several connected components and
non-orientable meshes are allowed. Anything else raises :class:`MeshError` with one line that
says what is wrong and what to do about it; ``repair=True`` fixes what can be fixed.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import MeshError
from .topology import components, corner_fans, half_edges

__all__ = [
    "MESH_SUFFIXES",
    "Mesh",
    "MeshError",
    "SAVE_SUFFIXES",
    "load_mesh",
    "make_mesh",
    "save_mesh",
]

#: File suffixes accepted by :func:`load_mesh` (read through trimesh).
MESH_SUFFIXES = (".obj", ".ply", ".off", ".stl", ".glb", ".gltf")
#: File suffixes :func:`save_mesh` writes.
SAVE_SUFFIXES = (".obj", ".ply", ".off", ".stl", ".glb")


def _unit_sides(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The sides ``p[i+1] - p[i]`` of every face (F, 3, 3), each face scaled by a power of two
    (exact) so that its largest side component lies in [0.5, 1): products of sides then neither
    overflow nor underflow, whatever the mesh's scale."""
    p = vertices[faces]
    sides = 0.5 * np.roll(p, -1, axis=1) - 0.5 * p  # halved first: no overflow near the float64 limit
    _, exponent = np.frexp(np.max(np.abs(sides), axis=(1, 2)))
    return np.ldexp(sides, -exponent[:, None, None])


def _degenerate_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Faces with a repeated vertex or (numerically) zero area: twice the area at most 1e-12
    times the longest side squared. Scale-free: judged on each face's own scale."""
    repeated = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    sides = _unit_sides(vertices, faces)
    double_area = np.linalg.norm(np.cross(sides[:, 0], -sides[:, 2]), axis=1)
    longest = np.max(np.linalg.norm(sides, axis=2), axis=1)
    return repeated | (double_area <= 1e-12 * longest**2)


def _duplicate_faces(faces: np.ndarray) -> np.ndarray:
    """Faces on the same three vertices as an earlier face (any order or orientation)."""
    if len(faces) == 0:
        return np.zeros(0, dtype=bool)
    s = np.sort(faces, axis=1).astype(np.int64)
    n = int(faces.max()) + 1
    if n < 2**21:  # three indices fit one int64 key
        key = (s[:, 0] * n + s[:, 1]) * n + s[:, 2]
        _, first = np.unique(key, return_index=True)
    else:
        _, first = np.unique(s, axis=0, return_index=True)
    dup = np.ones(len(faces), dtype=bool)
    dup[first] = False
    return dup


def _split_fans(vertices, faces, fans):
    """Give every fan after the first at a vertex a copy of that vertex.

    Returns ``(vertices, faces, copied)``: the copies are appended to the vertices, and
    ``copied`` holds the vertex each copy was made from.
    """
    flat = faces.reshape(-1)
    # one (vertex, fan) pair per distinct fan, vertex-major
    pair_key = np.unique(np.stack([flat, fans], axis=1), axis=0)
    first_of_vertex = np.r_[True, pair_key[1:, 0] != pair_key[:-1, 0]]
    new_index = np.where(first_of_vertex, pair_key[:, 0], 0)
    extra = np.flatnonzero(~first_of_vertex)
    new_index[extra] = len(vertices) + np.arange(extra.size)
    by_fan = np.argsort(pair_key[:, 1])  # fan labels are unique across vertices
    new_flat = new_index[by_fan][np.searchsorted(pair_key[by_fan, 1], fans)]
    copied = pair_key[extra, 0]
    return np.concatenate([vertices, vertices[copied]]), new_flat.reshape(-1, 3), copied


@dataclass(frozen=True, eq=False)
class Mesh:
    """A validated triangle mesh.

    Construct with :func:`make_mesh` (arrays) or :func:`load_mesh` (files); both validate.

    Attributes
    ----------
    vertices : (V, 3) float64, read-only
    faces : (F, 3) int64, read-only, indices into ``vertices``
    name : str, a label used in messages (the file name when loaded)
    n_components : int, connected components
    repairs : tuple of str, what ``repair=True`` (or dropping unreferenced vertices) changed
    lengths : (F, 3) float64 or None, intrinsic side lengths (side i runs from corner i to
        corner i+1); when given they define the metric and ``vertices`` are only for display
    source_index : (V,) int64, read-only: for every vertex, its index in the source (the file's
        vertex list for :func:`load_mesh`, the ``vertices`` array given to :func:`make_mesh`).
        Dropping unreferenced vertices leaves gaps; a vertex split by ``repair=True`` gives
        several vertices with the same source index. Carry per-vertex data of the source over
        with ``data[mesh.source_index]``; write results back with
        ``out[mesh.source_index] = result`` (see docs/cli.md, "The index map").
    """

    vertices: np.ndarray
    faces: np.ndarray
    name: str = "mesh"
    n_components: int = 1
    repairs: tuple = field(default_factory=tuple)
    lengths: np.ndarray | None = None
    source_index: np.ndarray | None = None

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def hash(self) -> str:
        """sha256 of the vertex and face arrays (hex), recorded in saved buffers."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.vertices, dtype="<f8"))  # buffers are hashed in place, no copies
        h.update(np.ascontiguousarray(self.faces, dtype="<i8"))
        return h.hexdigest()

    def __repr__(self) -> str:
        return f"Mesh({self.name!r}, vertices={self.n_vertices}, faces={self.n_faces}, components={self.n_components})"


def make_mesh(vertices, faces, *, name: str = "mesh", repair: bool = False, lengths=None, source_index=None) -> Mesh:
    """Validate arrays and build a :class:`Mesh`. Inputs are not modified.

    Parameters
    ----------
    vertices : array_like (V, 3), finite coordinates
    faces : array_like (F, 3), integer indices into ``vertices``
    name : label used in error messages
    repair : drop degenerate and duplicate faces and split non-manifold vertices, with a
        warning saying what was done, instead of raising
    lengths : array_like (F, 3) or None, intrinsic side lengths overriding the embedding's
        (for intrinsically flat shapes such as the flat Möbius strip); not combined with repair
    source_index : array_like (V,) of int or None, the index of each given vertex in its source
        (default ``arange(V)``); :attr:`Mesh.source_index` follows the vertices through repairs

    Raises
    ------
    MeshError
        one line naming the problem and what to do.
    """
    v = _real_array(vertices, "vertices", name).astype(np.float64, copy=True)
    f = _real_array(faces, "faces", name)
    if v.ndim != 2 or v.shape[1] != 3:
        raise MeshError(f"{name}: vertices must have shape (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3:
        raise MeshError(
            f"{name}: faces must have shape (F, 3) (triangles only), got {f.shape}; triangulate the mesh first"
        )
    if len(v) == 0 or len(f) == 0:
        raise MeshError(f"{name}: the mesh is empty ({len(v)} vertices, {len(f)} faces)")
    if not np.issubdtype(f.dtype, np.integer):
        if not np.all(np.isfinite(f)) or np.any(f != np.round(f)):
            raise MeshError(f"{name}: face indices must be integers")
    f = f.astype(np.int64, copy=True)
    bad = ~np.isfinite(v).all(axis=1)
    if bad.any():
        raise MeshError(
            f"{name}: {bad.sum()} vertices have NaN or infinite coordinates (first: vertex {np.flatnonzero(bad)[0]}); "
            f"fix or remove them"
        )
    out = (f < 0) | (f >= len(v))
    if out.any():
        i = np.flatnonzero(out.any(axis=1))[0]
        raise MeshError(
            f"{name}: face {i} has vertex index {f[i][out[i]][0]} out of range [0, {len(v)}); "
            f"the face list does not match the vertices"
        )

    source = np.arange(len(v), dtype=np.int64) if source_index is None else _source_index(source_index, len(v), name)
    repairs = []
    degenerate = _degenerate_faces(v, f)
    if degenerate.any():
        if not repair:
            raise MeshError(
                f"{name}: {degenerate.sum()} degenerate (zero-area) faces, first face {np.flatnonzero(degenerate)[0]}; "
                f"pass repair=True (CLI: --repair) to drop them"
            )
        f = f[~degenerate]
        repairs.append(f"dropped {degenerate.sum()} degenerate faces")
    duplicate = _duplicate_faces(f)
    if duplicate.any():
        if not repair:
            raise MeshError(
                f"{name}: {duplicate.sum()} duplicate faces, first face {np.flatnonzero(duplicate)[0]}; "
                f"pass repair=True (CLI: --repair) to drop them"
            )
        f = f[~duplicate]
        repairs.append(f"dropped {duplicate.sum()} duplicate faces")
    if len(f) == 0:
        raise MeshError(f"{name}: no faces left after repair: all {len(degenerate)} faces are degenerate or duplicates")

    he = half_edges(f, len(v))
    if (he.count > 2).any():
        e = he.edges[np.argmax(he.count)]
        raise MeshError(
            f"{name}: {(he.count > 2).sum()} edges are shared by more than two faces "
            f"(first: {e[0]}-{e[1]}, {he.count.max()} faces); "
            f"the mesh is not a surface, split it into surfaces first"
        )
    fans = corner_fans(f, he)
    flat = f.reshape(-1)
    corners_per_vertex = np.bincount(flat, minlength=len(v))
    _, first_corner = np.unique(fans, return_index=True)  # fan labels are per vertex
    fans_per_vertex = np.bincount(flat[first_corner], minlength=len(v))
    bowtie = fans_per_vertex > 1
    if bowtie.any():
        if not repair:
            raise MeshError(
                f"{name}: {bowtie.sum()} non-manifold vertices where separate fans meet "
                f"(first: vertex {np.flatnonzero(bowtie)[0]}); "
                f"pass repair=True (CLI: --repair) to split them"
            )
        v, f, copied = _split_fans(v, f, fans)
        source = np.concatenate([source, source[copied]])
        repairs.append(f"split {bowtie.sum()} non-manifold vertices (+{copied.size} vertices)")
        corners_per_vertex = np.bincount(f.reshape(-1), minlength=len(v))

    unused = corners_per_vertex == 0
    if unused.any():
        keep = ~unused
        remap = np.cumsum(keep) - 1
        v, f, source = v[keep], remap[f], source[keep]
        message = f"{name}: dropped {unused.sum()} unreferenced vertices"
        warnings.warn(message, stacklevel=2)
        repairs.append(f"dropped {unused.sum()} unreferenced vertices")
    if repair and repairs:
        warnings.warn(f"{name}: repaired: " + "; ".join(repairs), stacklevel=2)

    n_comp, _ = components(f, len(v))
    if lengths is not None:
        if len(f) != len(np.asarray(faces)) or bowtie.any():
            raise MeshError(f"{name}: intrinsic lengths cannot be combined with a mesh that needed repair")
        lengths = _check_lengths(lengths, f, he, name)
        lengths.setflags(write=False)
    for array in (v, f, source):
        array.setflags(write=False)
    return Mesh(
        vertices=v,
        faces=f,
        name=name,
        n_components=int(n_comp),
        repairs=tuple(repairs),
        lengths=lengths,
        source_index=source,
    )


def _real_array(values, what: str, name: str) -> np.ndarray:
    """``values`` as a numpy array of real numbers (ints, floats or bools), else MeshError."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise MeshError(f"{name}: {what} must be an array of numbers ({' '.join(str(exc).split())[:80]})") from None
    if array.dtype.kind not in "biuf":
        raise MeshError(f"{name}: {what} must be real numbers, got dtype {array.dtype}")
    return array


def _source_index(values, n: int, name: str) -> np.ndarray:
    source = _real_array(values, "source_index", name)
    if source.shape != (n,) or source.dtype.kind not in "iu":
        raise MeshError(f"{name}: source_index must be ({n},) integers, got {source.dtype} {source.shape}")
    return source.astype(np.int64, copy=True)


def _check_lengths(lengths, faces, he, name):
    lengths = np.array(lengths, dtype=np.float64, copy=True)
    if lengths.shape != faces.shape:
        raise MeshError(f"{name}: lengths must have shape {faces.shape} (one per face side), got {lengths.shape}")
    if not np.isfinite(lengths).all() or (lengths <= 0).any():
        raise MeshError(f"{name}: lengths must be finite and positive")
    a, b, c = lengths.T
    if ((a + b <= c) | (b + c <= a) | (c + a <= b)).any():
        raise MeshError(f"{name}: lengths violate the triangle inequality in some face")
    per_edge_min = np.full(he.edges.shape[0], np.inf)
    per_edge_max = np.zeros(he.edges.shape[0])
    np.minimum.at(per_edge_min, he.edge_of, lengths.reshape(-1))
    np.maximum.at(per_edge_max, he.edge_of, lengths.reshape(-1))
    if np.any(per_edge_max - per_edge_min > 1e-12 * per_edge_max):
        raise MeshError(f"{name}: lengths disagree between the two faces of an edge")
    return lengths


def _path(path) -> str:
    """A path given as str, bytes or os.PathLike, as str (bytes that are not valid UTF-8 are
    kept through the file system's surrogate escapes, so the file can still be opened)."""
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise MeshError(f"a path must be a str, bytes or os.PathLike, got {type(path).__name__}") from None


def load_mesh(path, *, repair: bool = False) -> Mesh:
    """Read a triangle mesh file (obj, ply, off, stl, glb, gltf) and validate it.

    Vertices are kept in the file's order, and :attr:`Mesh.source_index` maps every vertex to
    its index in the file's vertex list (through dropped unreferenced vertices and vertices
    split by ``repair=True``). Nothing is merged, except for STL, a format that stores three
    separate corners per face: there, corners at exactly equal positions are merged (in order
    of first appearance) because that is the only connectivity STL has. OBJ polygons are split
    into fans of triangles; OBJ indices may be negative (relative).

    Parameters
    ----------
    path : str, bytes or os.PathLike (any name the file system accepts)
    repair : see :func:`make_mesh`

    Returns
    -------
    Mesh

    Raises
    ------
    MeshError
        for a missing, empty, unreadable or invalid file, with one line saying why.
    """
    from .meshfile import read_mesh_file

    path = _path(path)
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise MeshError(f"{path}: no such file")
    if os.path.isdir(path):
        raise MeshError(f"{path}: is a directory, not a mesh file")
    if os.path.getsize(path) == 0:
        raise MeshError(f"{path}: the file is empty")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in MESH_SUFFIXES:
        raise MeshError(f"{path}: unsupported file type {suffix or '(none)'}; use one of {', '.join(MESH_SUFFIXES)}")
    vertices, faces, source = read_mesh_file(path, suffix)
    if len(vertices) == 0 or len(faces) == 0:
        raise MeshError(f"{path}: no triangles found in the file; it may be truncated or hold only points or lines")
    return make_mesh(vertices, faces, name=name, repair=repair, source_index=source)


def save_mesh(mesh: Mesh, path) -> None:
    """Write ``mesh`` to a mesh file (obj, ply, off, stl, glb, chosen by the suffix), atomically.

    Vertices and faces are written as they are (no processing, vertex order kept): OBJ and OFF
    with 15 significant digits, PLY, GLB and STL in float32 as trimesh writes them. Only
    positions are stored: a mesh with intrinsic ``lengths`` loses them (save its preprocessed
    Geometry instead). The file appears complete or not at all
    (:func:`gaugeconv.atomic.atomic_write`); a missing parent folder is created.

    Parameters
    ----------
    mesh : Mesh
    path : str or os.PathLike, ending in one of :data:`SAVE_SUFFIXES`
    """
    from .atomic import atomic_write
    from .meshfile import write_mesh_file

    path = _path(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SAVE_SUFFIXES:
        raise MeshError(f"{path}: cannot write mesh type {suffix or '(none)'}; use one of {', '.join(SAVE_SUFFIXES)}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, suffix=suffix) as tmp:
        write_mesh_file(mesh.vertices, mesh.faces, tmp, suffix)
