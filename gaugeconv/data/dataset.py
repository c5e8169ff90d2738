"""`MeshDataset`: meshes (files or :class:`~gaugeconv.Mesh` objects) with targets, as a PyTorch
dataset of preprocessed geometries and input features.

Each mesh is loaded and preprocessed once: into the content-keyed cache folder
(:mod:`gaugeconv.data.cache`) when ``cache_dir`` is given, and kept in this process's memory
when it is not (or with ``in_memory=True``). Built-in input features are cached beside the
geometry. Batch samples with :func:`gaugeconv.data.collate`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..buffers import Geometry
from ..mesh import MESH_SUFFIXES, Mesh
from ..preprocessing import PreprocessOptions
from .cache import build_geometry, cache_key, load_arrays, load_or_build, save_arrays
from .features import HKS_EIGENPAIRS, HKS_TIMES, compute_inputs, input_dim
from .labels import TARGET_KINDS, align_targets, read_labels

__all__ = ["MeshDataset", "MeshSample"]

_INPUTS_FORMAT = "gaugeconv.inputs"
_INPUTS_VERSION = 1


@dataclass(frozen=True, eq=False)
class MeshSample:
    """One item of a :class:`MeshDataset`.

    Attributes
    ----------
    geometry : Geometry (numpy, float64), with its coarse levels
    x : (V, C) float64 input features
    y : target or None: ``(V, ...)`` per vertex, ``(F, ...)`` per face (rows of
        ``geometry.faces``), any shape per mesh
    target_kind : "vertex", "face", "mesh" or None
    index : position in the dataset
    name : file name, or the Mesh's name
    """

    geometry: Geometry
    x: np.ndarray
    y: np.ndarray | None
    target_kind: str | None
    index: int
    name: str

    def __repr__(self) -> str:
        y = "None" if self.y is None else f"{self.target_kind} {tuple(self.y.shape)}"
        return f"MeshSample({self.name!r}, V={self.geometry.n_vertices}, x={tuple(self.x.shape)}, y={y})"


def _inputs_key(inputs) -> str | None:
    """Key of the built-in inputs for the on-disk cache; None if a function is among them."""
    if any(callable(item) for item in inputs):
        return None
    record = {"inputs": list(inputs), "hks_times": HKS_TIMES.tolist(), "hks_eigenpairs": HKS_EIGENPAIRS}
    return hashlib.sha256(json.dumps(record).encode()).hexdigest()[:16]


class MeshDataset(torch.utils.data.Dataset):
    """Meshes with targets, preprocessed once, as a dataset of :class:`MeshSample`.

    Parameters
    ----------
    files : sequence of mesh file paths (obj, ply, off, stl, glb, gltf) and/or Mesh objects
    targets : None, or one target per item: a scalar or array per mesh, or a per-vertex array
        indexed like the mesh file's vertices, or a per-face array (see ``target_kind``)
    levels : coarse levels to preprocess (for pooling and U-Nets)
    cache_dir : folder of the preprocessing cache, or None (preprocess in memory)
    transform : function ``MeshSample -> MeshSample`` applied at every access (augmentation,
        normalisation); the cached sample is not changed
    inputs : input features: names from :data:`gaugeconv.data.features.INPUTS` ("constant",
        "curvature", "hks", "xyz") and/or functions ``geometry -> (V, c)`` (deterministic: they
        are cached in memory; only built-in inputs are cached on disk)
    target_kind : "vertex", "face" or "mesh"; None means "mesh" when every target is a scalar
    ratio, radius, coarsening, orientation : preprocessing options (:func:`gaugeconv.preprocess`,
        :class:`gaugeconv.PreprocessOptions`): ratio of sampled levels, geodesic neighbourhood
        radius in mean edge lengths, how coarse levels are chosen, how faces are wound
    repair : load files with ``repair=True`` (:func:`gaugeconv.load_mesh`); per-vertex targets
        then follow the vertices through the geometry's source index
    in_memory : keep samples in memory after the first access; default: when there is no cache

    Raises
    ------
    ValueError
        for targets that do not match the files, an unknown input or target kind.
    """

    def __init__(
        self,
        files,
        targets=None,
        levels: int = 0,
        cache_dir=None,
        transform=None,
        *,
        inputs=("constant",),
        target_kind: str | None = None,
        ratio: float = 4.0,
        radius: float | None = None,
        coarsening: str = "auto",
        orientation: str = "file",
        repair: bool = False,
        in_memory: bool | None = None,
    ):
        self.sources = [f if isinstance(f, Mesh) else os.fspath(f) for f in files]
        self.options = PreprocessOptions(
            levels=levels, ratio=ratio, radius=radius, coarsening=coarsening, orientation=orientation, repair=repair
        )
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.transform = transform
        self.inputs = (inputs,) if isinstance(inputs, str) or callable(inputs) else tuple(inputs)
        self.input_dim = input_dim(self.inputs)  # also checks the names
        self.in_memory = self.cache_dir is None if in_memory is None else bool(in_memory)
        self.targets = None if targets is None else [np.asarray(t) for t in targets]
        if self.targets is not None and len(self.targets) != len(self.sources):
            raise ValueError(f"{len(self.targets)} targets for {len(self.sources)} meshes; give one per mesh")
        if target_kind is None and self.targets is not None:
            if not all(t.ndim == 0 for t in self.targets):
                raise ValueError("targets are arrays: pass target_kind='vertex', 'face' or 'mesh'")
            target_kind = "mesh"
        if target_kind is not None and target_kind not in TARGET_KINDS:
            raise ValueError(f"target_kind must be one of {', '.join(TARGET_KINDS)}, got {target_kind!r}")
        self.target_kind = target_kind if self.targets is not None else None
        self.classes = None
        self._memory = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_folder(cls, folder, labels=None, **kwargs) -> MeshDataset:
        """The mesh files directly in ``folder`` (sorted by name), with targets from a labels
        file (:func:`gaugeconv.data.read_labels`: ``.npz`` keyed by file stem, or ``.csv``).

        With a labels file, every mesh needs an entry and every entry a mesh; ``target_kind``
        comes from the file unless given. Other keyword arguments go to :class:`MeshDataset`.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a folder of meshes")
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
        if not files:
            raise ValueError(f"{folder}: no mesh files ({', '.join(MESH_SUFFIXES)})")
        if labels is None:
            return cls(files, **kwargs)
        table, kind, classes = read_labels(labels)
        missing = [p.name for p in files if p.stem not in table]
        if missing:
            raise ValueError(f"{labels}: no labels for {len(missing)} meshes (first: {missing[0]}); label every mesh")
        stems = {p.stem for p in files}
        extra = sorted(set(table) - stems)
        if extra:
            raise ValueError(f"{labels}: labels for {len(extra)} names without a mesh file (first: {extra[0]})")
        kwargs.setdefault("target_kind", kind)
        dataset = cls(files, [table[p.stem] for p in files], **kwargs)
        dataset.classes = classes
        return dataset

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.sources)

    def name(self, index: int) -> str:
        source = self.sources[index]
        return source.name if isinstance(source, Mesh) else os.path.basename(source)

    def geometry(self, index: int) -> Geometry:
        """The preprocessed geometry (numpy) of item ``index``, from memory, cache or built now."""
        return self._load(index)[0]

    def target(self, index: int, geometry: Geometry) -> np.ndarray | None:
        """The target of item ``index`` as given for its mesh file (before alignment with the
        loaded mesh); None without targets. Readers of benchmarks override this."""
        return None if self.targets is None else self.targets[index]

    def _build(self, index: int) -> tuple:
        source = self.sources[index]
        if self.cache_dir is None:
            geometry = build_geometry(source, self.options)
            return geometry, compute_inputs(geometry, self.inputs)
        key = cache_key(source, self.options)
        geometry, built = load_or_build(source, self.cache_dir, self.options, key=key)
        inputs_key = _inputs_key(self.inputs)
        if inputs_key is None:
            return geometry, compute_inputs(geometry, self.inputs)
        path = self.cache_dir / f"{key}.inputs-{inputs_key}.npz"
        header = {"format": _INPUTS_FORMAT, "version": _INPUTS_VERSION, "geometry": key, "inputs": inputs_key}
        cached = None if built else load_arrays(path, header)
        if cached is not None and cached.get("x", np.empty(0)).shape == (geometry.n_vertices, self.input_dim):
            return geometry, cached["x"]
        x = compute_inputs(geometry, self.inputs)
        save_arrays(path, {"x": x}, header)
        return geometry, x

    def _index(self, index) -> int:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} meshes")
        return index % len(self)

    def _load(self, index: int) -> tuple:
        index = self._index(index)
        if index in self._memory:
            return self._memory[index]
        item = self._build(index)
        if self.in_memory:
            self._memory[index] = item
        return item

    def __getitem__(self, index: int) -> MeshSample:
        index = self._index(index)
        geometry, x = self._load(index)
        raw, y = self.target(index, geometry), None
        if raw is not None:
            y = align_targets(raw, self.target_kind, geometry, f"{self.name(index)} (item {index})")
        sample = MeshSample(geometry, x, y, self.target_kind, index, self.name(index))
        return self.transform(sample) if self.transform is not None else sample

    def prepare(self, workers: int = 1) -> int:
        """Preprocess every item now (into the cache, or into memory), e.g. before starting a
        DataLoader with workers; ``workers > 1`` uses a process pool (cache folder needed).

        Returns
        -------
        number of items processed.
        """
        if workers > 1 and self.cache_dir is not None:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                list(pool.map(_prepare_one, [_without_memory(self)] * len(self), range(len(self))))
        for index in range(len(self)):
            self._load(index)
        return len(self)

    def __repr__(self) -> str:
        cache = "memory" if self.cache_dir is None else str(self.cache_dir)
        return (
            f"MeshDataset({len(self)} meshes, inputs={[getattr(i, '__name__', i) for i in self.inputs]}, "
            f"targets={self.target_kind}, levels={self.options.levels}, cache={cache})"
        )


def _without_memory(dataset: MeshDataset) -> MeshDataset:
    """A shallow copy of ``dataset`` without its in-memory samples (cheap to send to a worker)."""
    copy = object.__new__(type(dataset))
    copy.__dict__.update(dataset.__dict__)
    copy._memory = {}
    copy.in_memory = False
    return copy


def _prepare_one(dataset: MeshDataset, index: int) -> None:
    dataset._load(index)
