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
source_index        (V,)         int64, index of each vertex in the source file's vertex list
==================  ===========  ==========================================================

Edges are grouped by target vertex p, in the angular order of p's fan.
Scalars: ``orientable`` (bool), ``structure_group`` ("SO2" or "O2"), ``n_components``,
``n_boundary_loops``, ``euler_characteristic``, ``mesh_hash``, ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from .groups import as_numpy, o2_act_on_angle, o2_conjugate, o2_inverse

#: Array fields of :class:`Geometry` and their dtypes on the numpy side (and in saved files).
ARRAYS = {
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
    "source_index": np.int64,
}
#: Scalar (metadata) fields of :class:`Geometry`, saved in the file header.
META = (
    "orientable",
    "structure_group",
    "n_components",
    "n_boundary_loops",
    "euler_characteristic",
    "mesh_hash",
    "name",
    "graph_sizes",
    "radius",
    "coarsening",
    "options",
)
#: Array fields of :class:`PoolMap` and their numpy dtypes.
POOL_ARRAYS = {
    "sub": np.int64,
    "index": np.int64,
    "log_r": np.float64,
    "log_theta": np.float64,
    "transport_angle": np.float64,
    "transport_flip": np.bool_,
    "weight": np.float64,
}


def _is_numpy(value) -> bool:
    return isinstance(value, np.ndarray)


def _to_torch(value, kind, dtype, device):
    """One array as a torch tensor: floats in ``dtype``, integers as int64, flags as bool."""
    import torch

    value = np.require(as_numpy(value), kind, "W")  # torch wants writable memory
    tensor = torch.as_tensor(value).to(device=device)
    return tensor.to(dtype) if kind is np.float64 else tensor


def _cat(parts, axis: int = 0):
    """Concatenate numpy arrays or torch tensors (all of one kind)."""
    if _is_numpy(parts[0]):
        return np.concatenate(parts, axis)
    import torch

    return torch.cat(parts, axis)


def _offset(array, value: int):
    """``array + value`` for a numpy array or a torch tensor (keeping its device)."""
    return array + value


def _gauge_change_theta(theta, angle_p, flip_p):
    """``log_theta`` after the gauge change ``h_p``: the angle of ``h_p^-1 (cos t, sin t)``."""
    inv_angle, inv_flip = o2_inverse(angle_p, flip_p)
    return o2_act_on_angle(inv_angle, inv_flip, theta)


@dataclass(frozen=True, eq=False)
class PoolMap:
    """The map from a fine level (``n_fine`` vertices) to the next coarser one (``n_coarse``).

    A weighted many-to-one map: every fine vertex f lies in the cell of one coarse vertex c, or
    in the cells of several with equal shares where f is equally far from them (a midpoint of a
    subdivision, a tie on a symmetric mesh). P >= n_fine pairs in all.

    Attributes (numpy after preprocessing, torch tensors after :meth:`to_torch`)
    ----------
    sub : (M,) int64
        Coarse vertex i is fine vertex ``sub[i]`` and shares its gauge.
    index : (2, P) int64
        Row 0 fine vertex f, row 1 coarse vertex c whose cell holds f; every fine vertex at
        least once, sorted by f. Pooling sends f -> c, unpooling c -> f.
    log_r, log_theta : (P,)
        Polar coordinates of f in c's gauge (radians).
    transport_angle, transport_flip : (P,)
        ``T = R(angle) F**flip`` maps f's gauge to c's gauge.
    weight : (P,)
        f's share of c's cell, > 0; the shares of every fine vertex sum to 1. Pooling is
        ``y_c = sum_f w rho(T) x_f / sum_f w``, unpooling ``y_f = sum_c w rho(T)^-1 x_c``.
    n_fine : int
        Number of fine vertices.
    """

    sub: object
    index: object
    log_r: object
    log_theta: object
    transport_angle: object
    transport_flip: object
    weight: object
    n_fine: int

    @property
    def n_pairs(self) -> int:
        """Number P of (fine, coarse) pairs."""
        return int(self.index.shape[1])

    @property
    def n_coarse(self) -> int:
        return int(self.sub.shape[0])

    def __repr__(self) -> str:
        kind = "numpy" if _is_numpy(self.log_r) else "torch"
        return f"PoolMap({self.n_fine} -> {self.n_coarse}, {self.n_pairs} pairs, {kind})"

    def gauge_transform(self, fine_angle, fine_flip, coarse_angle, coarse_flip) -> PoolMap:
        """Gauge change ``h_f`` on the fine level and ``h_c`` on the coarse one (numpy arrays
        (n_fine,) and (n_coarse,)): ``T -> h_c^-1 T h_f``, theta as in :meth:`Geometry.gauge_transform`."""
        g = self.numpy()
        f, c = g.index
        a, fl = o2_conjugate(
            coarse_angle[c], coarse_flip[c], g.transport_angle, g.transport_flip, fine_angle[f], fine_flip[f]
        )
        theta = _gauge_change_theta(g.log_theta, coarse_angle[c], coarse_flip[c])
        return replace(g, log_theta=theta, transport_angle=a, transport_flip=fl)

    def to_torch(self, dtype=None, device=None) -> PoolMap:
        """Torch tensors: floats in ``dtype`` (default float32), int64 indices, bool flips."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        return replace(self, **{k: _to_torch(getattr(self, k), t, dtype, device) for k, t in POOL_ARRAYS.items()})

    def numpy(self) -> PoolMap:
        """A copy with numpy arrays (float64)."""
        return replace(self, **{k: np.asarray(as_numpy(getattr(self, k)), t) for k, t in POOL_ARRAYS.items()})

    def check_shapes(self, n_fine: int, n_coarse: int, where: str) -> None:
        """Raise ValueError (with ``where``) if the arrays do not fit levels of these sizes."""
        if self.n_fine != n_fine:
            raise ValueError(f"{where}: pool has {self.n_fine} fine vertices, expected {n_fine}")
        n_pairs = tuple(self.index.shape)[1:2]
        expect = {"sub": (n_coarse,), "index": (2, *n_pairs)}
        expect.update({k: n_pairs for k in ("log_r", "log_theta", "transport_angle", "transport_flip", "weight")})
        for name, shape in expect.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"{where}: pool array {name} has shape {got}, expected {shape}")
        sub, index, weight = as_numpy(self.sub), as_numpy(self.index), as_numpy(self.weight)
        if n_coarse and (sub.min() < 0 or sub.max() >= n_fine):
            raise ValueError(f"{where}: pool sub out of range")
        if index.size and (index[1].min() < 0 or index[1].max() >= n_coarse):
            raise ValueError(f"{where}: pool index out of range")
        if index.size and (np.any(np.diff(index[0]) < 0) or index[0, 0] < 0 or index[0, -1] >= n_fine):
            raise ValueError(f"{where}: pool index row 0 must be sorted fine vertices in range")
        if np.unique(index[0]).size != n_fine:
            raise ValueError(f"{where}: pool index must hold every fine vertex")
        if not np.all(weight > 0):
            raise ValueError(f"{where}: pool weights must be positive")

    @classmethod
    def batch(cls, pools) -> PoolMap:
        """Pooling maps of several meshes as one (all numpy or all torch), for batched levels:
        fine and coarse vertex numbers are offset like :meth:`Geometry.batch` offsets vertices."""
        pools = list(pools)
        fine = np.cumsum([0] + [p.n_fine for p in pools[:-1]])
        coarse = np.cumsum([0] + [p.n_coarse for p in pools[:-1]])
        index = []
        for p, f, c in zip(pools, fine, coarse):
            rows = p.index
            index.append(_cat([_offset(rows[:1], int(f)), _offset(rows[1:], int(c))], 0))
        return cls(
            sub=_cat([_offset(p.sub, int(f)) for p, f in zip(pools, fine)]),
            index=_cat(index, 1),
            **{
                name: _cat([getattr(p, name) for p in pools])
                for name in ("log_r", "log_theta", "transport_angle", "transport_flip", "weight")
            },
            n_fine=sum(p.n_fine for p in pools),
        )


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
    #: (V,) index of each vertex in the source (Mesh.source_index); on a coarse level, that of
    #: the fine vertex it is
    source_index: object
    orientable: bool = True
    structure_group: str = "SO2"
    n_components: int = 1
    n_boundary_loops: int = 0
    euler_characteristic: int = 2
    mesh_hash: str = ""
    name: str = "mesh"
    #: vertices per mesh of a batch (:meth:`batch`); empty for a single mesh
    graph_sizes: tuple = ()
    #: geodesic radius (mesh units) of the neighbourhoods the edges connect
    #: (:mod:`gaugeconv.preprocessing.neighbourhood`); 0.0: the mesh's one-ring edges
    radius: float = 0.0
    #: how a coarse level's vertices were chosen: "subdivision", "grid", "sample" or "given"
    #: (:mod:`gaugeconv.preprocessing.coarsening`); empty for a mesh
    coarsening: str = ""
    #: the preprocessing options that made this geometry (:func:`gaugeconv.preprocess`: levels,
    #: ratio, radius, coarsening, orientation; the CLI adds repair), saved in the file so that an
    #: output or a cache entry can be checked against the options asked for; empty for a level
    options: dict = field(default_factory=dict)
    #: coarse levels 1..K (Geometry objects without faces) and the K PoolMaps between
    #: consecutive levels (:mod:`gaugeconv.preprocessing.hierarchy`); empty unless preprocessed with levels
    levels: tuple = ()
    pools: tuple = ()
    #: what the layers build for this object (sparse operators, checks; :mod:`gaugeconv.nn.operators`):
    #: private, it lives and dies with the object and is never saved, copied, pickled or compared.
    #: A batch of torch geometries also keeps its meshes under ``"parts"``, so that the layers
    #: apply their operators (built once per mesh), mesh by mesh, instead of building them anew.
    _operators: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __getstate__(self):
        return {**self.__dict__, "_operators": {}}

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
        kind = "numpy" if _is_numpy(self.log_r) else "torch"
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
        A batch of torch geometries remembers them: GaugeConv applies the operators it keeps on
        each mesh to that mesh's rows (built on a mesh's first batch, reused in every later batch
        that holds the same object), so a new batch of known meshes costs what a reused one does.
        """
        geometries = list(geometries)
        if not geometries:
            raise ValueError("Geometry.batch needs at least one geometry")
        kinds = {_is_numpy(g.log_r) for g in geometries}
        if len(kinds) != 1:
            raise ValueError("Geometry.batch: mix of numpy and torch geometries; convert all with to_torch() first")
        arrays = {}
        offsets = np.cumsum([0] + [g.n_vertices for g in geometries[:-1]])
        for name in ARRAYS:
            parts = [getattr(g, name) for g in geometries]
            if name in ("faces", "edge_index"):
                parts = [_offset(a, int(o)) for a, o in zip(parts, offsets)]
            arrays[name] = _cat(parts, 1 if name == "edge_index" else 0)
        sizes = tuple(int(s) for g in geometries for s in (g.graph_sizes or (g.n_vertices,)))
        n_levels = min(len(g.levels) for g in geometries)  # coarse levels all inputs have
        batch = cls(
            **arrays,
            orientable=all(g.orientable for g in geometries),
            structure_group="O2" if any(g.structure_group == "O2" for g in geometries) else "SO2",
            n_components=sum(g.n_components for g in geometries),
            n_boundary_loops=sum(g.n_boundary_loops for g in geometries),
            euler_characteristic=sum(g.euler_characteristic for g in geometries),
            mesh_hash="+".join(g.mesh_hash for g in geometries),
            name=f"batch({len(geometries)})" if len(geometries) > 1 else geometries[0].name,
            graph_sizes=sizes,
            radius=max(float(g.radius) for g in geometries),
            options=geometries[0].options if all(g.options == geometries[0].options for g in geometries) else {},
            levels=tuple(cls.batch([g.levels[k] for g in geometries]) for k in range(n_levels)),
            pools=tuple(PoolMap.batch([g.pools[k] for g in geometries]) for k in range(n_levels)),
        )
        if not kinds.pop():  # torch: the meshes, for the layers' operators (nested batches flattened)
            batch._operators["parts"] = tuple(q for g in geometries for q in g._operators.get("parts", (g,)))
        return batch

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
        g = self.numpy()
        q, p = g.edge_index
        a, f = o2_conjugate(angle[p], flip[p], g.transport_angle, g.transport_flip, angle[q], flip[q])
        theta = _gauge_change_theta(g.log_theta, angle[p], flip[p])
        c, s = np.cos(angle), np.sin(angle)
        sign = np.where(flip, -1.0, 1.0)
        e1, e2, n = g.frames[:, 0], g.frames[:, 1], g.frames[:, 2]
        # new basis vectors are the columns of (e1 e2) @ h
        new_e1 = c[:, None] * e1 + s[:, None] * e2
        new_e2 = sign[:, None] * (-s[:, None] * e1 + c[:, None] * e2)
        frames = np.stack([new_e1, new_e2, sign[:, None] * n], axis=1)
        group = "O2" if (self.structure_group == "O2" or f.any()) else "SO2"
        # coarse vertex i of a level is vertex pool.sub[i] of the level below and shares its gauge
        levels, pools = [], []
        for level, pool in zip(g.levels, g.pools):
            sub = as_numpy(pool.sub)
            pools.append(pool.gauge_transform(angle, flip, angle[sub], flip[sub]))
            angle, flip = angle[sub], flip[sub]
            levels.append(level.gauge_transform(angle, flip))
        return replace(
            g,
            frames=frames,
            log_theta=theta,
            transport_angle=a,
            transport_flip=f,
            structure_group=group,
            levels=tuple(levels),
            pools=tuple(pools),
        )

    def to_torch(self, dtype=None, device=None) -> "Geometry":
        """A copy whose arrays are torch tensors: floats in ``dtype`` (default float32),
        integers as int64, flags as bool, on ``device``."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        out = {name: _to_torch(getattr(self, name), kind, dtype, device) for name, kind in ARRAYS.items()}
        out["levels"] = tuple(level.to_torch(dtype, device) for level in self.levels)
        out["pools"] = tuple(pool.to_torch(dtype, device) for pool in self.pools)
        return replace(self, **out)

    def numpy(self) -> "Geometry":
        """A copy with numpy arrays (float64), e.g. from a torch Geometry."""
        out = {name: np.asarray(as_numpy(getattr(self, name)), dtype=kind) for name, kind in ARRAYS.items()}
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
        if self.radius:
            lines[-1] = (
                f"  neighbourhoods of geodesic radius {self.radius:.4g}: {int(g.degree.min())}..{int(g.degree.max())} "
                f"neighbours, mean distance {float(np.mean(g.log_r)):.4g}"
            )
        if self.levels:
            sizes = " -> ".join(str(n) for n in [self.n_vertices] + [lv.n_vertices for lv in self.levels])
            how = ", ".join(level.coarsening or "?" for level in self.levels)
            lines.append(f"  coarse levels {len(self.levels)}: vertices {sizes} ({how})")
        return "\n".join(lines)

    def check_shapes(self, where: str) -> None:
        """Raise ValueError (naming ``where``) if the arrays do not fit together: shapes, edge
        indices in range, one pooling map per coarse level."""
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
            "source_index": (V,),
        }
        for name, shape in expect.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"{where}: array {name} has shape {got}, expected {shape}")
        if E and (self.edge_index.min() < 0 or self.edge_index.max() >= V):
            raise ValueError(f"{where}: edge_index out of range")
        if len(self.levels) != len(self.pools):
            raise ValueError(f"{where}: {len(self.levels)} levels but {len(self.pools)} pooling maps")
        n_fine = V
        for k, (level, pool) in enumerate(zip(self.levels, self.pools), start=1):
            level.check_shapes(f"{where} level {k}")
            pool.check_shapes(n_fine, level.n_vertices, f"{where} pool {k}")
            n_fine = level.n_vertices


def geometry_fields() -> tuple:
    """Names of the array fields of :class:`Geometry`."""
    return tuple(f.name for f in fields(Geometry) if f.name in ARRAYS)
