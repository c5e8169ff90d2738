"""The geometry file: a versioned ``.npz`` (no pickle) and the one atomic writer of the package.

Layout (``docs/file_format.md``): every array of :class:`~gaugeconv.buffers.Geometry` under its own
name, coarse levels as ``level{k}/<array>`` and pooling maps as ``pool{k}/<array>`` (k = 1..K), and a
JSON header (``__header__``, bytes) with the format name, :data:`FORMAT_VERSION` and the metadata.
Loading never unpickles and checks the header, the version and every shape.

:func:`atomic_write` is how gaugeconv writes any file (geometry files, meshes, pictures): into a
temporary file in the target folder, then one rename, so a failure or an interrupt never leaves a
partial file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from dataclasses import replace

import numpy as np

from .buffers import ARRAYS, META, POOL_ARRAYS, Geometry, PoolMap

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "GeometryFileError", "atomic_write", "load", "read_header", "save"]

#: Version of the saved file layout; bumped whenever a key or its meaning changes.
FORMAT_VERSION = 2
#: The ``format`` entry of every header.
FORMAT_NAME = "gaugeconv.geometry"


class GeometryFileError(ValueError):
    """A geometry file that cannot be loaded (wrong format, version or content)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, suffix: str = ""):
    """Write ``path`` atomically: yields the name of a temporary file in the same folder; when the
    block ends without an exception it is given normal permissions (``0666 & ~umask``) and renamed
    onto ``path``; otherwise it is removed and ``path`` is untouched.

    Example
    -------
    >>> with atomic_write("out/a.npz", suffix=".npz") as tmp:
    ...     np.savez(tmp, x=np.zeros(3))
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _json_value(value):
    """Metadata as JSON-friendly plain values (tuples as lists, numpy scalars as Python)."""
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def save(geometry: Geometry, path) -> None:
    """Write ``geometry`` (numpy or torch) to ``path`` (.npz, no pickle), atomically."""
    g = geometry.numpy()
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **{k: _json_value(getattr(g, k)) for k in META}}
    header["orientable"] = bool(header["orientable"])
    header["levels"] = [{m: _json_value(getattr(level, m)) for m in META} for level in g.levels]
    arrays = {name: getattr(g, name) for name in ARRAYS}
    for k, (level, pool) in enumerate(zip(g.levels, g.pools), start=1):
        arrays.update({f"level{k}/{name}": getattr(level, name) for name in ARRAYS})
        arrays.update({f"pool{k}/{name}": getattr(pool, name) for name in POOL_ARRAYS})
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with atomic_write(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _header(data, path: str) -> dict:
    if "__header__" not in data.files:
        raise GeometryFileError(f"{path}: not a gaugeconv geometry file (no header)")
    header = json.loads(bytes(data["__header__"]).decode())
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
        with np.load(os.fspath(path), allow_pickle=False) as data:
            return _header(data, os.fspath(path))
    except (OSError, ValueError, KeyError, UnicodeDecodeError, zipfile.BadZipFile):
        return None


def _arrays(data, prefix: str, kinds: dict, path: str) -> dict:
    missing = [prefix + k for k in kinds if prefix + k not in data.files]
    if missing:
        raise GeometryFileError(f"{path}: missing arrays {', '.join(missing[:3])}")
    return {k: np.asarray(data[prefix + k], dtype=kind) for k, kind in kinds.items()}


def load(path) -> Geometry:
    """Read a geometry file written by :func:`save`; never unpickles.

    Raises
    ------
    GeometryFileError
        if the file is not a gaugeconv geometry file, has another format version, or lacks or
        misshapes an array.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = _header(data, path)
            meta = lambda d: {k: d[k] for k in META if k in d}  # noqa: E731
            metas = header.get("levels", [])
            if not isinstance(metas, list) or not all(isinstance(m, dict) for m in metas):
                raise GeometryFileError(f"{path}: header entry 'levels' must be a list of objects")
            levels = tuple(
                Geometry(**_arrays(data, f"level{k}/", ARRAYS, path), **meta(m)) for k, m in enumerate(metas, 1)
            )
            geometry = Geometry(**_arrays(data, "", ARRAYS, path), **meta(header), levels=levels)
            sizes = [len(geometry.vertices)] + [len(level.vertices) for level in levels]
            pools = tuple(
                PoolMap(**_arrays(data, f"pool{k}/", POOL_ARRAYS, path), n_fine=sizes[k - 1])
                for k in range(1, len(metas) + 1)
            )
            geometry = replace(geometry, pools=pools)
    except GeometryFileError:
        raise
    except (OSError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as exc:
        raise GeometryFileError(f"{path}: cannot read ({type(exc).__name__}: {str(exc)[:100]})") from None
    try:
        geometry.check_shapes(path)
    except ValueError as exc:
        raise GeometryFileError(str(exc)) from None
    return geometry
