"""Labels files for a folder of meshes, and aligning targets with a loaded mesh.

Two formats (``docs/data.md``):

* ``.npz`` (written with ``numpy.savez``, read without pickle): one array per mesh, keyed by the
  mesh file's stem (``chair_01`` for ``chair_01.obj``). A scalar is a per-mesh target; a ``(N,)``
  or ``(N, K)`` array is per-vertex or per-face, indexed like the mesh file's vertices or faces.
  An optional entry ``__kind__`` (a string: ``"vertex"``, ``"face"`` or ``"mesh"``) says which.
* ``.csv``: lines ``name,label`` with one per-mesh label each (a header line ``name,label`` is
  allowed); labels are integers, or class names numbered in sorted order.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["TARGET_KINDS", "align_targets", "read_labels", "source_index"]

#: Where a target lives: one per vertex, one per face, or one per mesh.
TARGET_KINDS = ("vertex", "face", "mesh")


def read_labels(path) -> tuple:
    """Read a labels file.

    Returns
    -------
    (labels, kind, classes): ``labels`` maps mesh stems to numpy arrays; ``kind`` is the file's
    ``__kind__`` (npz), ``"mesh"`` (csv) or None; ``classes`` the class names of a csv with named
    classes (index = label), else None.

    Raises
    ------
    ValueError
        one line saying what is wrong with the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such labels file")
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                labels = {k: np.asarray(data[k]) for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: cannot read as a labels .npz ({str(exc)[:100]})") from None
        kind = labels.pop("__kind__", None)
        kind = None if kind is None else str(kind)
        if kind is not None and kind not in TARGET_KINDS:
            raise ValueError(f"{path}: __kind__ must be one of {', '.join(TARGET_KINDS)}, got {kind!r}")
        return labels, kind, None
    if suffix not in (".csv", ".txt"):
        raise ValueError(f"{path}: labels file must be .npz or .csv, got {suffix or 'no suffix'}")
    rows = []
    with open(path, newline="") as fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            row = [cell.strip() for cell in row]
            if not row or not any(row) or row[0].startswith("#"):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{number}: expected 'name,label', got {len(row)} fields")
            if number == 1 and row == ["name", "label"]:
                continue
            rows.append((number, *row))
    if not rows:
        raise ValueError(f"{path}: no labels in the file")
    names = [name for _, name, _ in rows]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ValueError(f"{path}: mesh {duplicate!r} is labelled twice")
    values = [value for _, _, value in rows]
    try:
        ints = [int(v) for v in values]
        return {n: np.asarray(v, dtype=np.int64) for n, v in zip(names, ints)}, "mesh", None
    except ValueError:
        classes = tuple(sorted(set(values)))
        index = {c: i for i, c in enumerate(classes)}
        return {n: np.asarray(index[v], dtype=np.int64) for n, v in zip(names, values)}, "mesh", classes


def source_index(geometry) -> np.ndarray | None:
    """For every vertex of ``geometry`` its index in the mesh file (after repair and dropping of
    unreferenced vertices), or None when the geometry does not record it."""
    index = getattr(geometry, "source_index", None)
    return None if index is None else np.asarray(index, dtype=np.int64)


def align_targets(target, kind: str, geometry, where: str = "target") -> np.ndarray:
    """A target given for the mesh file, arranged for the loaded ``geometry``.

    Parameters
    ----------
    target : array_like; per-vertex ``(V_file,)``/``(V_file, K)``, per-face ``(F,)``/``(F, K)`` or
        per-mesh (any shape)
    kind : "vertex", "face" or "mesh"
    geometry : the Geometry of the loaded (possibly repaired) mesh
    where : name used in error messages

    Returns
    -------
    numpy array: ``(V, ...)`` for vertices (through the geometry's source index where it has
    one), ``(F, ...)`` for faces, unchanged for a mesh.
    """
    target = np.asarray(target)
    if kind == "mesh":
        return target
    if kind not in TARGET_KINDS:
        raise ValueError(f"target_kind must be one of {', '.join(TARGET_KINDS)}, got {kind!r}")
    if target.ndim == 0:
        raise ValueError(f"{where}: a per-{kind} target must be an array, got a scalar")
    n = int(target.shape[0])
    if kind == "face":
        if n != geometry.n_faces:
            raise ValueError(
                f"{where}: {n} per-face targets but the mesh has {geometry.n_faces} faces "
                f"(a repair dropped faces?); give one target per face of the loaded mesh"
            )
        return target
    index = source_index(geometry)
    if index is None:
        if n != geometry.n_vertices:
            raise ValueError(
                f"{where}: {n} per-vertex targets but the loaded mesh has {geometry.n_vertices} vertices "
                f"(unreferenced vertices dropped or a repair?); give one target per vertex of the loaded mesh"
            )
        return target
    if index.size and index.max() >= n:
        raise ValueError(f"{where}: {n} per-vertex targets but the mesh file has at least {index.max() + 1} vertices")
    return target[index]
