"""`collate`: a list of :class:`~gaugeconv.data.MeshSample` as one :class:`MeshBatch` for
``torch.utils.data.DataLoader(dataset, batch_size=B, collate_fn=collate)``.

The meshes of a batch become one :meth:`Geometry.batch <gaugeconv.Geometry.batch>` (vertices,
faces, edges, coarse levels and pooling maps concatenated with offsets), built on the numpy side
and converted to torch once. Features and per-vertex/per-face targets are concatenated in the
same order; per-mesh targets are stacked. The result pickles (DataLoader workers) and pins.

**The same mesh is the same geometry object.** GaugeConv keeps the sparse operators it builds on
the geometry object (docs/layers.md), so a new object every step would rebuild them every step
(about 2-3x the step's time). Every sample's geometry is therefore converted to torch once and
kept on the sample's (numpy) geometry, in its private store (never pickled); a batch of one is
that torch geometry, a batch of several is :meth:`Geometry.batch` of them, which applies their
operators mesh by mesh (nothing copied per batch); :meth:`MeshBatch.to` and
:meth:`MeshBatch.pin_memory` keep their results likewise. So a loop over an in-memory dataset
builds every mesh's operators once, on CPU or GPU, whatever the batches. Memory: the kept
operators, about 5 kB per vertex per distinct layer signature, for the whole dataset
(:func:`gaugeconv.nn.clear_operators` frees them). Samples from DataLoader worker processes
arrive as copies and are converted (and their operators built) anew.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..buffers import ARRAYS, POOL_ARRAYS, Geometry

__all__ = ["MeshBatch", "collate"]


def _kept(geometry: Geometry, key: tuple, make):
    """``make()``, kept on ``geometry`` under ``key`` (its private store lives and dies with it and is
    never pickled): the same source object gives the same result object, with its operators."""
    store = geometry._operators
    if key not in store:
        store[key] = make()
    return store[key]


def _map_geometry(geometry: Geometry, fn) -> Geometry:
    """``fn`` applied to every tensor of a torch Geometry, its levels and pooling maps. The result
    takes its operators from the geometry it came from (or from that batch's meshes), where they
    are kept per device: a moved copy builds nothing its source has already built."""
    out = replace(
        geometry,
        **{name: fn(getattr(geometry, name)) for name in ARRAYS},
        levels=tuple(_map_geometry(level, fn) for level in geometry.levels),
        pools=tuple(replace(p, **{k: fn(getattr(p, k)) for k in POOL_ARRAYS}) for p in geometry.pools),
    )
    out._operators["parts"] = geometry._operators.get("parts", (geometry,))
    return out


@dataclass(frozen=True, eq=False)
class MeshBatch:
    """B meshes as one batched mesh with aligned features and targets (torch).

    Attributes
    ----------
    geometry : torch Geometry of all B meshes (``geometry.graph_sizes`` = vertices per mesh)
    x : (V, C) input features, V = total vertices
    y : targets or None: (V, ...) per vertex, (F, ...) per face (rows of ``geometry.faces``),
        (B, ...) per mesh
    target_kind : "vertex", "face", "mesh" or None
    vertex_batch : (V,) int64, the mesh (0..B-1) of every vertex
    face_batch : (F,) int64, the mesh of every face
    indices : (B,) int64, dataset positions of the meshes
    names : tuple of B names
    """

    geometry: Geometry
    x: torch.Tensor
    y: torch.Tensor | None
    target_kind: str | None
    vertex_batch: torch.Tensor
    face_batch: torch.Tensor
    indices: torch.Tensor
    names: tuple

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        y = "None" if self.y is None else f"{self.target_kind} {tuple(self.y.shape)}"
        return f"MeshBatch({len(self)} meshes, V={self.geometry.n_vertices}, x={tuple(self.x.shape)}, y={y})"

    def _map(self, fn, key: tuple) -> MeshBatch:
        geometry = _kept(self.geometry, key, lambda: _map_geometry(self.geometry, fn))
        return replace(
            self,
            geometry=geometry,
            x=fn(self.x),
            y=None if self.y is None else fn(self.y),
            vertex_batch=fn(self.vertex_batch),
            face_batch=fn(self.face_batch),
            indices=fn(self.indices),
        )

    def to(self, device, non_blocking: bool = False) -> MeshBatch:
        """The batch on ``device`` (dtypes unchanged); the moved geometry is kept on this one, so
        moving the same batch again gives the same geometry object (and its operators)."""
        device = torch.device(device)
        return self._map(lambda t: t.to(device, non_blocking=non_blocking), ("to", str(device)))

    def pin_memory(self) -> MeshBatch:
        """Page-locked copies, for ``DataLoader(pin_memory=True)`` (the geometry's kept like :meth:`to`'s)."""
        return self._map(lambda t: t.pin_memory(), ("pin_memory",))


def _targets(samples, kind: str | None, dtype) -> torch.Tensor | None:
    ys = [s.y for s in samples]
    if any(y is None for y in ys):
        if not all(y is None for y in ys):
            raise ValueError("collate: some samples have targets and some do not")
        return None
    kinds = {s.target_kind for s in samples}
    if len(kinds) != 1:
        raise ValueError(f"collate: samples with different target kinds {sorted(map(str, kinds))}")
    y = np.stack(ys) if kind == "mesh" else np.concatenate(ys, axis=0)
    tensor = torch.as_tensor(np.ascontiguousarray(y))
    return tensor.to(dtype) if tensor.is_floating_point() else tensor


def collate(samples, dtype: torch.dtype = torch.float32) -> MeshBatch:
    """Batch :class:`~gaugeconv.data.MeshSample` objects (a DataLoader's ``collate_fn``).

    Parameters
    ----------
    samples : sequence of MeshSample (numpy geometries, any sizes)
    dtype : floating dtype of the geometry, the features and floating targets; use
        ``functools.partial(collate, dtype=torch.float64)`` for another

    Returns
    -------
    MeshBatch
    """
    samples = list(samples)
    if not samples:
        raise ValueError("collate needs at least one sample")
    # the same mesh again is the same torch geometry; a batch of several is made of those (see the
    # module docstring)
    meshes = [
        _kept(s.geometry, ("collate", dtype), lambda s=s: Geometry.batch([s.geometry]).to_torch(dtype)) for s in samples
    ]
    geometry = meshes[0] if len(meshes) == 1 else Geometry.batch(meshes)
    kind = samples[0].target_kind
    sizes = [s.geometry.n_vertices for s in samples]
    faces = [s.geometry.n_faces for s in samples]
    return MeshBatch(
        geometry=geometry,
        x=torch.as_tensor(np.concatenate([s.x for s in samples], axis=0)).to(dtype),
        y=_targets(samples, kind, dtype),
        target_kind=kind,
        vertex_batch=torch.repeat_interleave(torch.arange(len(samples)), torch.as_tensor(sizes)),
        face_batch=torch.repeat_interleave(torch.arange(len(samples)), torch.as_tensor(faces)),
        indices=torch.as_tensor([s.index for s in samples], dtype=torch.int64),
        names=tuple(s.name for s in samples),
    )
