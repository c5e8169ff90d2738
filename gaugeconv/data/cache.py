"""A folder of preprocessed geometries keyed by content: each mesh is preprocessed once.

An entry is an ordinary geometry file (:func:`gaugeconv.save_geometry`) named by a key: the
sha256 of the mesh file's bytes (or of a :class:`~gaugeconv.Mesh`'s arrays), the preprocessing
options (:class:`~gaugeconv.PreprocessOptions`), the geometry file format version and the
gaugeconv version.
A renamed or copied mesh file hits the same entry; an edited one gets a new entry.

Entries are written atomically (a temporary file, then one rename), so processes that build the
same entry at once (DataLoader workers, distributed ranks, ``gaugeconv preprocess``) are safe: the
last rename wins and every reader sees a whole file. An entry that cannot be loaded (truncated,
corrupt, another format version) or does not hold what its key promises is rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..buffers import Geometry
from ..fileformat import FORMAT_VERSION, GeometryFileError
from ..fileformat import load as load_geometry
from ..fileformat import save as save_geometry
from ..mesh import Mesh
from ..preprocessing import PreprocessOptions

__all__ = [
    "build_geometry",
    "cache_key",
    "cache_path",
    "file_digest",
    "load_arrays",
    "load_or_build",
    "preprocess_to_cache",
    "save_arrays",
]

_BLOCK = 1 << 20


def file_digest(path) -> str:
    """sha256 (hex) of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def _mesh_digest(mesh: Mesh) -> str:
    if mesh.lengths is None:
        return mesh.hash
    h = hashlib.sha256(mesh.hash.encode())  # intrinsic lengths define the metric: part of the content
    h.update(np.ascontiguousarray(mesh.lengths, dtype="<f8"))
    return h.hexdigest()


def cache_key(source, options: PreprocessOptions = PreprocessOptions()) -> str:
    """The cache key (64 hex digits) of a mesh file (path) or a :class:`~gaugeconv.Mesh`.

    Parameters
    ----------
    source : str, os.PathLike or Mesh; a file is keyed by the sha256 of its bytes, a Mesh by
        :attr:`Mesh.hash` (and its intrinsic lengths, if any)
    options : PreprocessOptions
    """
    from .. import __version__

    content = {"mesh": _mesh_digest(source)} if isinstance(source, Mesh) else {"file": file_digest(source)}
    record = {**content, **options.record(), "format_version": FORMAT_VERSION, "gaugeconv": __version__}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def cache_path(source, cache_dir, options: PreprocessOptions = PreprocessOptions()) -> Path:
    """Where the geometry of ``source`` lives in ``cache_dir``: ``cache_dir/<key>.npz``."""
    return Path(cache_dir) / f"{cache_key(source, options)}.npz"


def build_geometry(source, options: PreprocessOptions = PreprocessOptions()) -> Geometry:
    """Load (files) and preprocess ``source`` with ``options``, without the cache."""
    return options.build(source)


def _valid(geometry: Geometry, source, options: PreprocessOptions) -> bool:
    """Whether a loaded entry holds what its key promises (what the file name cannot check)."""
    if geometry.options != options.record() or not geometry.mesh_hash:
        return False
    return not isinstance(source, Mesh) or geometry.mesh_hash == source.hash


def load_or_build(source, cache_dir, options: PreprocessOptions = PreprocessOptions(), key: str | None = None) -> tuple:
    """The geometry of ``source`` from the cache, preprocessing and saving it first if needed.

    Parameters
    ----------
    source : mesh file path or Mesh
    cache_dir : folder of the cache (created if missing)
    options : PreprocessOptions
    key : :func:`cache_key` of ``source`` if already known (saves hashing the file again)

    Returns
    -------
    (Geometry (numpy), built) where ``built`` says whether the entry was (re)built now.

    Raises
    ------
    MeshError
        if the mesh cannot be loaded or is invalid (nothing is written then).
    """
    path = Path(cache_dir) / f"{key or cache_key(source, options)}.npz"
    if path.exists():
        try:
            geometry = load_geometry(path)
            if _valid(geometry, source, options):
                return geometry, False
        except GeometryFileError:
            pass  # corrupt, truncated or of another format version: rebuilt below
    geometry = build_geometry(source, options)
    os.makedirs(path.parent, exist_ok=True)
    save_geometry(geometry, path)
    return geometry, True


def preprocess_to_cache(
    source, cache_dir, options: PreprocessOptions = PreprocessOptions(), force: bool = False
) -> tuple:
    """Preprocess one mesh file into ``cache_dir`` unless a valid entry is there already (or
    ``force``): what ``gaugeconv preprocess --cache DIR`` does for every input.

    Returns
    -------
    (path of the entry, built): ``built`` is False when a valid entry was found.
    """
    key = cache_key(source, options)
    path = Path(cache_dir) / f"{key}.npz"
    if force:
        geometry = build_geometry(source, options)
        os.makedirs(path.parent, exist_ok=True)
        save_geometry(geometry, path)
        return path, True
    _, built = load_or_build(source, cache_dir, options, key=key)
    return path, built


def save_arrays(path, arrays: dict, header: dict) -> None:
    """Write named arrays and a JSON header to ``path`` (.npz, no pickle), atomically."""
    payload = dict(arrays)
    payload["__header__"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    os.makedirs(Path(path).parent, exist_ok=True)
    with atomic_write(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **payload)


def load_arrays(path, header: dict) -> dict | None:
    """The arrays of a file written by :func:`save_arrays` if its header equals ``header``;
    None if the file is missing, unreadable, corrupt or was written for another header."""
    import zipfile

    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            if "__header__" not in data.files:
                return None
            if json.loads(bytes(data["__header__"]).decode()) != json.loads(json.dumps(header, sort_keys=True)):
                return None
            return {k: np.asarray(data[k]) for k in data.files if k != "__header__"}
    except (OSError, ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile, EOFError):
        return None
