"""The geometry file: a versioned ``.npz`` (no pickle), written through :func:`~gaugeconv.atomic.atomic_write`.

Layout (``docs/file_format.md``): every array of :class:`~gaugeconv.buffers.Geometry` under its own
name, coarse levels as ``level{k}/<array>`` and pooling maps as ``pool{k}/<array>`` (k = 1..K), and a
JSON header (``__header__``, bytes) with the format name, :data:`FORMAT_VERSION` and the metadata.
Loading never unpickles and checks the header, the version and every shape.

"""

from __future__ import annotations

import json
import os

import numpy as np

from .atomic import atomic_write
from .buffers import ARRAYS, META, POOL_ARRAYS, Geometry, PoolMap
from .errors import GeometryFileError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "GeometryFileError",
    "check_meta",
    "check_values",
    "load",
    "read_header",
    "save",
]

#: Version of the saved file layout; bumped whenever a key or its meaning changes (2: ``source_index``,
#: weighted pooling maps ``pool{k}/weight``, the header entries ``radius`` and ``coarsening``).
FORMAT_VERSION = 2
#: The ``format`` entry of every header.
FORMAT_NAME = "gaugeconv.geometry"


def _json_value(value):
    """Metadata as JSON-friendly plain values (tuples as lists, numpy scalars as Python)."""
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value.item() if isinstance(value, np.generic) else value


def _path(path) -> str:
    """str, bytes or os.PathLike as str (undecodable bytes kept as surrogate escapes)."""
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise GeometryFileError(f"a path must be a str, bytes or os.PathLike, got {type(path).__name__}") from None


def save(geometry: Geometry, path) -> None:
    """Write ``geometry`` (numpy or torch) to ``path`` (.npz, no pickle), atomically.

    Raises
    ------
    GeometryFileError
        before anything is written, if an array holds NaN or infinite values (such a file
        would poison every network that reads it).
    """
    path = _path(path)
    g = geometry.numpy()
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **{k: _json_value(getattr(g, k)) for k in META}}
    header["orientable"] = bool(header["orientable"])
    header["levels"] = [{m: _json_value(getattr(level, m)) for m in META} for level in g.levels]
    arrays = {name: getattr(g, name) for name in ARRAYS}
    for k, (level, pool) in enumerate(zip(g.levels, g.pools), start=1):
        arrays.update({f"level{k}/{name}": getattr(level, name) for name in ARRAYS})
        arrays.update({f"pool{k}/{name}": getattr(pool, name) for name in POOL_ARRAYS})
    for key, array in arrays.items():
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise GeometryFileError(
                f"{path}: not written: array {key} holds {int(np.sum(~np.isfinite(array)))} NaN or infinite values"
            )
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with atomic_write(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _header(data, path: str) -> dict:
    if "__header__" not in data.files:
        raise GeometryFileError(f"{path}: not a gaugeconv geometry file (no header)")
    raw = data["__header__"]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise GeometryFileError(f"{path}: not a gaugeconv geometry file (header of dtype {raw.dtype})")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise GeometryFileError(f"{path}: not a gaugeconv geometry file (the header is not JSON)") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise GeometryFileError(f"{path}: not a gaugeconv geometry file")
    if header.get("version") != FORMAT_VERSION:
        raise GeometryFileError(
            f"{path}: format version {header.get('version')}, this gaugeconv reads version "
            f"{FORMAT_VERSION}; preprocess the mesh again"
        )
    return header


def read_header(path) -> dict | None:
    """The JSON header of a geometry file (reads only that small member), or None if ``path`` is
    missing or not a gaugeconv geometry file of this version."""
    try:
        path = _path(path)
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            return _header(data, path)
    except Exception:  # any unreadable file is simply "not a current geometry file"
        return None


_KINDS = {np.float64: "f", np.int64: "iu", np.bool_: "b"}


def _arrays(data, prefix: str, kinds: dict, path: str) -> dict:
    """The arrays ``prefix + name`` of ``kinds``, cast to their dtypes after checking that the
    stored dtype is of the same kind (no complex, object, string or float-as-index arrays)."""
    missing = [prefix + k for k in kinds if prefix + k not in data.files]
    if missing:
        raise GeometryFileError(f"{path}: missing arrays {', '.join(missing[:3])}")
    out = {}
    for name, kind in kinds.items():
        array = data[prefix + name]
        if array.dtype.kind not in _KINDS[kind]:
            raise GeometryFileError(
                f"{path}: array {prefix}{name} has dtype {array.dtype}, expected {np.dtype(kind)}; "
                f"the file is corrupt: preprocess the mesh again"
            )
        out[name] = array.astype(kind, copy=False)
    return out


def load(path) -> Geometry:
    """Read a geometry file written by :func:`save`; never unpickles.

    Every array is checked once, cheaply: present, of the right kind of dtype and shape,
    finite, indices (faces, edges, pooling maps, source indices) in range, lengths and areas
    not negative; the header must be a JSON object of this format and version with metadata of
    the right types. A file that passes can be given to any layer.

    Raises
    ------
    GeometryFileError
        one line naming the file and the problem.
    """
    path = _path(path)
    try:
        # numpy leaves a file it opened itself open when the zip is corrupt: open it here
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            header = _header(data, path)
            metas = header.get("levels", [])
            if not isinstance(metas, list) or not all(isinstance(m, dict) for m in metas):
                raise GeometryFileError(f"{path}: header entry 'levels' must be a list of objects")
            fine = _arrays(data, "", ARRAYS, path)
            levels = [_arrays(data, f"level{k}/", ARRAYS, path) for k in range(1, len(metas) + 1)]
            pools = [_arrays(data, f"pool{k}/", POOL_ARRAYS, path) for k in range(1, len(metas) + 1)]
    except GeometryFileError:
        raise
    except Exception as exc:  # a corrupt archive can fail inside zipfile, zlib or numpy in many ways
        message = " ".join(str(exc).split())[:100]
        raise GeometryFileError(f"{path}: cannot read ({type(exc).__name__}: {message})") from None
    geometry = Geometry(
        **fine,
        **check_meta(header, path),
        levels=tuple(
            Geometry(**arrays, **check_meta(m, f"{path}: level {k}"))
            for k, (arrays, m) in enumerate(zip(levels, metas), start=1)
        ),
        pools=tuple(PoolMap(**arrays, n_fine=len(level["vertices"])) for arrays, level in zip(pools, [fine, *levels])),
    )
    try:
        geometry.check_shapes(path)
    except ValueError as exc:  # "<path> level 1: ..." -> "<path>: level 1: ..."
        message = str(exc)
        message = path + ":" + message[len(path) :] if message.startswith(path + " ") else message
        raise GeometryFileError(message) from None
    check_values(geometry, path)
    return geometry


#: Types of the header's metadata entries (``bool`` is not an ``int`` here).
_META_TYPES = {
    "orientable": bool,
    "structure_group": str,
    "n_components": int,
    "n_boundary_loops": int,
    "euler_characteristic": int,
    "mesh_hash": str,
    "name": str,
    "graph_sizes": list,
    "radius": (int, float),
    "coarsening": str,
    "options": dict,
}


def check_meta(entry: dict, where: str) -> dict:
    """The metadata of one level of a header, checked: types, structure group, counts."""
    meta = {k: entry[k] for k in META if k in entry}
    for key, value in meta.items():
        kind = _META_TYPES[key]
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            what = {bool: "true or false", int: "an integer", str: "a string", list: "a list", dict: "an object"}.get(
                kind, "a number"
            )
            raise GeometryFileError(f"{where}: header entry {key!r} must be {what}, got {value!r:.40}")
    if meta.get("structure_group", "SO2") not in ("SO2", "O2"):
        raise GeometryFileError(f"{where}: header entry 'structure_group' must be 'SO2' or 'O2'")
    sizes = meta.get("graph_sizes", [])
    if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
        raise GeometryFileError(f"{where}: header entry 'graph_sizes' must be a list of positive integers")
    if "graph_sizes" in meta:
        meta["graph_sizes"] = tuple(sizes)
    if not (np.isfinite(meta.get("radius", 0.0)) and meta.get("radius", 0.0) >= 0):
        raise GeometryFileError(f"{where}: header entry 'radius' must be a finite number >= 0")
    if meta.get("n_components", 1) < 1 or meta.get("n_boundary_loops", 0) < 0:
        raise GeometryFileError(f"{where}: header counts out of range")
    return meta


def _check_level(g: Geometry, where: str) -> None:
    for name, kind in ARRAYS.items():
        array = getattr(g, name)
        if kind is np.float64 and not np.all(np.isfinite(array)):
            raise GeometryFileError(f"{where}: array {name} holds NaN or infinite values; preprocess the mesh again")
    V = g.n_vertices
    if g.faces.size and (g.faces.min() < 0 or g.faces.max() >= V):
        raise GeometryFileError(f"{where}: faces out of range [0, {V}); preprocess the mesh again")
    for name in ("log_r", "vertex_area", "degree", "source_index"):
        array = getattr(g, name)
        if array.size and array.min() < 0:
            raise GeometryFileError(f"{where}: array {name} has negative values; preprocess the mesh again")
    if g.graph_sizes and sum(g.graph_sizes) != V:
        raise GeometryFileError(f"{where}: header 'graph_sizes' add up to {sum(g.graph_sizes)}, not {V} vertices")


def check_values(geometry: Geometry, path: str) -> None:
    """Raise GeometryFileError unless every value of a (shape-checked, numpy) geometry is
    usable: one pass over each array."""
    _check_level(geometry, path)
    for k, (level, pool) in enumerate(zip(geometry.levels, geometry.pools), start=1):
        _check_level(level, f"{path}: level {k}")
        for name, kind in POOL_ARRAYS.items():
            array = getattr(pool, name)
            if kind is np.float64 and not np.all(np.isfinite(array)):
                raise GeometryFileError(f"{path}: pool {k}: array {name} holds NaN or infinite values")
        if pool.log_r.size and pool.log_r.min() < 0:
            raise GeometryFileError(f"{path}: pool {k}: array log_r has negative values")
