"""`Geometry`: the named buffers between preprocessing (numpy) and the layers (torch).

Shapes (V vertices, F faces, E directed edges; every mesh edge appears in both directions):

==================  ===========  ==========================================================
name                shape        meaning
==================  ===========  ==========================================================
vertices            (V, 3)       positions, for display only (layers never read them)
faces               (F, 3)       triangles, oriented consistently where the mesh allows
frames              (V, 3, 3)    ``frames[p] = (e1, e2, n)``: the gauge at p in 3D
vertex_area         (V,)         barycentric area
degree              (V,)         number of neighbours (= incoming edges)
boundary            (V,)         bool, vertex on the boundary
angle_defect        (V,)         ``2 pi - Theta`` inside, ``pi - Theta`` on the boundary
edge_index          (2, E)       row 0 source q, row 1 target p; message q -> p
log_r, log_theta    (E,)         polar coordinates of q in p's gauge (radians)
transport_angle     (E,)         T = R(angle) F**flip maps q's gauge to p's
transport_flip      (E,)         bool; all False on an oriented orientable mesh
==================  ===========  ==========================================================

Edges are grouped by target vertex p, in the angular order of p's fan.
Scalars: ``orientable`` (bool), ``structure_group`` ("SO2" or "O2"), ``n_components``,
``n_boundary_loops``, ``euler_characteristic``, ``mesh_hash``, ``name``.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, fields, replace

import numpy as np

from .geometry.hierarchy import POOL_ARRAYS, PoolMap, batch_pools, build_hierarchy, transform_hierarchy
from .groups import as_numpy, o2_compose, o2_inverse, wrap_angle
from .mesh import Mesh

#: Version of the saved file layout; bumped whenever a key or its meaning changes.
FORMAT_VERSION = 1
FORMAT_NAME = "gaugeconv.geometry"

_ARRAYS = {
    "vertices": np.float64,
    "faces": np.int64,
    "frames": np.float64,
    "vertex_area": np.float64,
    "degree": np.int64,
    "boundary": np.bool_,
    "angle_defect": np.float64,
    "edge_index": np.int64,
    "log_r": np.float64,
    "log_theta": np.float64,
    "transport_angle": np.float64,
    "transport_flip": np.bool_,
}
_META = (
    "orientable",
    "structure_group",
    "n_components",
    "n_boundary_loops",
    "euler_characteristic",
    "mesh_hash",
    "name",
    "graph_sizes",
)


class GeometryFileError(ValueError):
    """A buffers file that cannot be loaded (wrong format, version or content)."""


@dataclass(frozen=True, eq=False)
class Geometry:
    """Precomputed geometric buffers of one mesh; see the module docstring for shapes.

    Create with :func:`preprocess` or :meth:`load`. Arrays are numpy (float64) after
    preprocessing and torch tensors after :meth:`to_torch`; the layers take the latter.
    """

    vertices: object
    faces: object
    frames: object
    vertex_area: object
    degree: object
    boundary: object
    angle_defect: object
    edge_index: object
    log_r: object
    log_theta: object
    transport_angle: object
    transport_flip: object
    orientable: bool = True
    structure_group: str = "SO2"
    n_components: int = 1
    n_boundary_loops: int = 0
    euler_characteristic: int = 2
    mesh_hash: str = ""
    name: str = "mesh"
    #: vertices per mesh of a batch (:meth:`batch`); empty for a single mesh
    graph_sizes: tuple = ()
    #: coarse levels 1..K (Geometry objects without faces) and the K PoolMaps between
    #: consecutive levels (:mod:`gaugeconv.geometry.hierarchy`); empty unless preprocessed with levels
    levels: tuple = ()
    pools: tuple = ()

    # ------------------------------------------------------------------ sizes
    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of directed edges E (twice the number of mesh edges)."""
        return int(self.edge_index.shape[1])

    @property
    def n_faces(self) -> int:
        return int(self.faces.shape[0])

    def __repr__(self) -> str:
        kind = "torch" if not isinstance(self.log_r, np.ndarray) else "numpy"
        return f"Geometry({self.name!r}, V={self.n_vertices}, E={self.n_edges}, group={self.structure_group}, {kind})"

    @property
    def n_graphs(self) -> int:
        """Number of meshes batched in this geometry (1 unless made by :meth:`batch`)."""
        return max(len(self.graph_sizes), 1)

    @classmethod
    def batch(cls, geometries) -> "Geometry":
        """Several geometries as one, like a PyTorch Geometric batch: vertices, faces and edges
        concatenated, vertex offsets added to ``faces`` and ``edge_index``.

        Parameters
        ----------
        geometries : sequence of Geometry, all numpy or all torch (same dtype and device)

        Returns
        -------
        Geometry with ``graph_sizes`` = vertices per input mesh (nested batches are flattened);
        the mesh of every vertex is ``numpy.repeat(arange(n), graph_sizes)``. Its structure group is
        O2 if any input's is.
        The coarse levels and pooling maps that all inputs have are batched the same way.
        """
        geometries = list(geometries)
        if not geometries:
            raise ValueError("Geometry.batch needs at least one geometry")
        kinds = {isinstance(g.log_r, np.ndarray) for g in geometries}
        if len(kinds) != 1:
            raise ValueError("Geometry.batch: mix of numpy and torch geometries; convert all with to_torch() first")
        if kinds == {True}:
            cat, offset_of = np.concatenate, (lambda n, like: n)
        else:
            import torch

            cat, offset_of = torch.cat, (lambda n, like: torch.as_tensor(n, device=like.device))
        arrays = {}
        offsets = np.cumsum([0] + [g.n_vertices for g in geometries[:-1]])
        for name in _ARRAYS:
            parts = [getattr(g, name) for g in geometries]
            if name in ("faces", "edge_index"):
                parts = [a + offset_of(int(o), a) for a, o in zip(parts, offsets)]
            arrays[name] = cat(parts, 1) if name == "edge_index" else cat(parts)
        sizes = tuple(int(s) for g in geometries for s in (g.graph_sizes or (g.n_vertices,)))
        n_levels = min(len(g.levels) for g in geometries)  # coarse levels all inputs have
        return cls(
            **arrays,
            orientable=all(g.orientable for g in geometries),
            structure_group="O2" if any(g.structure_group == "O2" for g in geometries) else "SO2",
            n_components=sum(g.n_components for g in geometries),
            n_boundary_loops=sum(g.n_boundary_loops for g in geometries),
            euler_characteristic=sum(g.euler_characteristic for g in geometries),
            mesh_hash="+".join(g.mesh_hash for g in geometries),
            name=f"batch({len(geometries)})" if len(geometries) > 1 else geometries[0].name,
            graph_sizes=sizes,
            levels=tuple(cls.batch([g.levels[k] for g in geometries]) for k in range(n_levels)),
            pools=tuple(batch_pools([g.pools[k] for g in geometries]) for k in range(n_levels)),
        )

    # ------------------------------------------------------------------ transforms
    def gauge_transform(self, angle, flip=None) -> "Geometry":
        """Apply a gauge transformation ``h_p = R(angle[p]) F**flip[p]`` at every vertex.

        Frames change by h (coordinates ``v -> h_p^-1 v``); transporters become
        ``h_p^-1 T_e h_q``; ``log_theta`` becomes the angle of ``h_p^-1 (cos t, sin t)``.
        Features must be transformed by ``rho(h_p^-1)`` to match.

        Parameters
        ----------
        angle : (V,) radians
        flip : (V,) bool or None; flips are only allowed when ``structure_group == "O2"``
            unless the mesh is orientable and you intend to leave SO(2) (then the result
            reports "O2").

        Returns
        -------
        Geometry, a new object (numpy); this one is unchanged.
        """
        angle = np.asarray(angle, dtype=np.float64)
        if angle.shape != (self.n_vertices,):
            raise ValueError(f"angle must have shape ({self.n_vertices},), got {angle.shape}")
        flip = np.zeros(self.n_vertices, bool) if flip is None else np.asarray(flip, dtype=bool)
        if flip.shape != (self.n_vertices,):
            raise ValueError(f"flip must have shape ({self.n_vertices},), got {flip.shape}")
        q, p = self.edge_index
        inv_a, inv_f = o2_inverse(angle[p], flip[p])
        a, f = o2_compose(inv_a, inv_f, self.transport_angle, self.transport_flip)
        a, f = o2_compose(a, f, angle[q], flip[q])
        theta = wrap_angle(np.where(flip[p], angle[p] - self.log_theta, self.log_theta - angle[p]))
        c, s = np.cos(angle), np.sin(angle)
        sign = np.where(flip, -1.0, 1.0)
        e1, e2, n = self.frames[:, 0], self.frames[:, 1], self.frames[:, 2]
        # new basis vectors are the columns of (e1 e2) @ h
        new_e1 = c[:, None] * e1 + s[:, None] * e2
        new_e2 = sign[:, None] * (-s[:, None] * e1 + c[:, None] * e2)
        frames = np.stack([new_e1, new_e2, sign[:, None] * n], axis=1)
        group = "O2" if (self.structure_group == "O2" or f.any()) else "SO2"
        levels, pools = transform_hierarchy(self.levels, self.pools, angle, flip)
        return replace(
            self,
            frames=frames,
            log_theta=theta,
            transport_angle=a,
            transport_flip=f,
            structure_group=group,
            levels=levels,
            pools=pools,
        )

    def to_torch(self, dtype=None, device=None) -> "Geometry":
        """A copy whose arrays are torch tensors: floats in ``dtype`` (default float32),
        integers as int64, flags as bool, on ``device``."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        out = {}
        for name, kind in _ARRAYS.items():
            value = as_numpy(getattr(self, name))
            if kind is np.float64:
                out[name] = torch.as_tensor(np.require(value, np.float64, "W")).to(device=device, dtype=dtype)
            elif kind is np.int64:
                out[name] = torch.as_tensor(np.require(value, np.int64, "W")).to(device=device)
            else:
                out[name] = torch.as_tensor(np.require(value, bool, "W")).to(device=device)
        out["levels"] = tuple(level.to_torch(dtype, device) for level in self.levels)
        out["pools"] = tuple(pool.to_torch(dtype, device) for pool in self.pools)
        return replace(self, **out)

    def numpy(self) -> "Geometry":
        """A copy with numpy arrays (float64), e.g. from a torch Geometry."""
        out = {}
        for name, kind in _ARRAYS.items():
            value = as_numpy(getattr(self, name))
            out[name] = np.asarray(value, dtype=kind)
        out["levels"] = tuple(level.numpy() for level in self.levels)
        out["pools"] = tuple(pool.numpy() for pool in self.pools)
        return replace(self, **out)

    # ------------------------------------------------------------------ reporting
    def summary(self) -> str:
        """A few lines: sizes, topology, orientability, structure group, Gauss-Bonnet."""
        g = self.numpy()
        defect = float(np.sum(g.angle_defect)) + 0.0  # + 0.0 turns -0.0 into 0.0
        defect = 0.0 if abs(defect) < 5e-10 else defect  # print no "-0.000000000"
        target = 2 * np.pi * self.euler_characteristic
        lines = [
            f"{self.name}: {self.n_vertices} vertices, {self.n_faces} faces, "
            f"{self.n_edges // 2} edges ({self.n_edges} directed)",
            f"  components {self.n_components}, boundary loops {self.n_boundary_loops}, "
            f"Euler characteristic {self.euler_characteristic}",
            f"  orientable {'yes' if self.orientable else 'no'}, structure group {self.structure_group}, "
            f"flipped transporters {int(np.sum(g.transport_flip))}",
            f"  total angle defect {defect:.9f} = 2*pi*chi {target:.9f} (error {abs(defect - target):.1e})",
            f"  degree {int(g.degree.min())}..{int(g.degree.max())}, mean edge length {float(np.mean(g.log_r)):.4g}",
        ]
        if self.levels:
            sizes = " -> ".join(str(n) for n in [self.n_vertices] + [lv.n_vertices for lv in self.levels])
            lines.append(f"  coarse levels {len(self.levels)}: vertices {sizes}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ files
    def save(self, path) -> None:
        """Write to ``path`` (.npz, no pickle) atomically: a temporary file, then a rename."""
        path = os.fspath(path)
        g = self.numpy()
        meta = {k: getattr(self, k) for k in _META}
        meta["orientable"] = bool(meta["orientable"])
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **meta}
        arrays = {name: getattr(g, name) for name in _ARRAYS}
        # coarse levels: "level{k}/<array>", "pool{k}/<array>" (k = 1..K), metadata in header["levels"]
        header["levels"] = [{m: _json_value(getattr(lv, m)) for m in _META} for lv in g.levels]
        for k, (level, pool) in enumerate(zip(g.levels, g.pools), start=1):
            arrays.update({f"level{k}/{name}": getattr(level, name) for name in _ARRAYS})
            arrays.update({f"pool{k}/{name}": getattr(pool, name) for name in POOL_ARRAYS})
        arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path) -> "Geometry":
        """Read a file written by :meth:`save`; never unpickles.

        Raises
        ------
        GeometryFileError
            if the file is not a gaugeconv buffers file, has another format version, or
            lacks or misshapes an array.
        """
        path = os.fspath(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                if "__header__" not in data.files:
                    raise GeometryFileError(f"{path}: not a gaugeconv geometry file (no header)")
                header = json.loads(bytes(data["__header__"]).decode())
                if header.get("format") != FORMAT_NAME:
                    raise GeometryFileError(f"{path}: not a gaugeconv geometry file")
                if header.get("version") != FORMAT_VERSION:
                    raise GeometryFileError(
                        f"{path}: format version {header.get('version')}, this gaugeconv reads version "
                        f"{FORMAT_VERSION}; preprocess the mesh again"
                    )
                missing = [k for k in _ARRAYS if k not in data.files]
                if missing:
                    raise GeometryFileError(f"{path}: missing arrays {', '.join(missing)}")
                arrays = {k: np.asarray(data[k], dtype=kind) for k, kind in _ARRAYS.items()}
                levels, pools = _load_levels(data, header, path)
        except GeometryFileError:
            raise
        except (OSError, ValueError, KeyError, json.JSONDecodeError, zipfile.BadZipFile) as exc:
            raise GeometryFileError(f"{path}: cannot read ({type(exc).__name__}: {str(exc)[:100]})") from None
        geometry = cls(**arrays, **{k: header[k] for k in _META if k in header}, levels=levels, pools=pools)
        geometry._check_shapes(path)
        return geometry

    def _check_shapes(self, where: str) -> None:
        V, E = self.n_vertices, self.n_edges
        expect = {
            "frames": (V, 3, 3),
            "vertex_area": (V,),
            "degree": (V,),
            "boundary": (V,),
            "angle_defect": (V,),
            "edge_index": (2, E),
            "log_r": (E,),
            "log_theta": (E,),
            "transport_angle": (E,),
            "transport_flip": (E,),
        }
        for name, shape in expect.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise GeometryFileError(f"{where}: array {name} has shape {got}, expected {shape}")
        if E and (self.edge_index.min() < 0 or self.edge_index.max() >= V):
            raise GeometryFileError(f"{where}: edge_index out of range")
        if len(self.levels) != len(self.pools):
            raise GeometryFileError(f"{where}: {len(self.levels)} levels but {len(self.pools)} pooling maps")
        n_fine = V
        for k, (level, pool) in enumerate(zip(self.levels, self.pools), start=1):
            level._check_shapes(f"{where} level {k}")
            try:
                pool.check_shapes(n_fine, level.n_vertices, f"{where} pool {k}")
            except ValueError as exc:
                raise GeometryFileError(str(exc)) from None
            n_fine = level.n_vertices


def _json_value(value):
    """Metadata as JSON-friendly plain values (tuples as lists, numpy scalars as Python)."""
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _load_levels(data, header: dict, path: str):
    """Coarse levels and pooling maps of an open .npz (keys ``level{k}/...``, ``pool{k}/...``)."""
    metas = header.get("levels", [])
    if not isinstance(metas, list):
        raise GeometryFileError(f"{path}: header entry 'levels' must be a list")
    levels, pools = [], []
    for k, meta in enumerate(metas, start=1):
        keys = [f"level{k}/{n}" for n in _ARRAYS] + [f"pool{k}/{n}" for n in POOL_ARRAYS]
        missing = [key for key in keys if key not in data.files]
        if missing or not isinstance(meta, dict):
            raise GeometryFileError(f"{path}: level {k} is incomplete (missing {', '.join(missing[:3]) or 'metadata'})")
        arrays = {n: np.asarray(data[f"level{k}/{n}"], dtype=t) for n, t in _ARRAYS.items()}
        levels.append(Geometry(**arrays, **{m: meta[m] for m in _META if m in meta}))
        pools.append(PoolMap(**{n: np.asarray(data[f"pool{k}/{n}"], dtype=t) for n, t in POOL_ARRAYS.items()}))
    return tuple(levels), tuple(pools)


def geometry_fields() -> tuple:
    """Names of the array fields of :class:`Geometry`."""
    return tuple(f.name for f in fields(Geometry) if f.name in _ARRAYS)


def preprocess(mesh: Mesh, levels: int = 0, ratio: float = 4.0) -> Geometry:
    """Compute the geometric buffers of a validated mesh.

    Parameters
    ----------
    mesh : Mesh, from :func:`gaugeconv.load_mesh` or :func:`gaugeconv.make_mesh`
    levels : number K of coarse levels for pooling (``Geometry.levels``, ``Geometry.pools``);
        see :mod:`gaugeconv.geometry.hierarchy`
    ratio : vertex count ratio between consecutive levels (> 1)

    Returns
    -------
    Geometry (numpy, float64); see the module docstring for the arrays.
    """
    from .geometry import compute_buffers

    geometry = Geometry(**compute_buffers(mesh))
    if not levels:
        return geometry
    coarse, pools = build_hierarchy(geometry, levels, ratio)
    return replace(geometry, levels=tuple(Geometry(**lv) for lv in coarse), pools=tuple(pools))
