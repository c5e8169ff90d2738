"""Check your own models: random gauge transformations, gauge equivariance, isometry invariance.

A model here is any callable ``model(x, geometry)`` taking features x (V, C) or (B, V, C) and a
torch :class:`~gaugeconv.Geometry`, e.g. a :class:`gaugeconv.nn.GaugeConv` or a
:class:`gaugeconv.models.GaugeResNet`. Checks run in float64 by default; typical errors of an exactly
equivariant float64 model are below 1e-12 (float32: below 1e-4).

Example
-------
>>> assert_gauge_equivariant(conv, geometry)              # field types read from conv.in_type / out_type
>>> with pytest.raises(AssertionError):                   # negative control: a broken connection
...     assert_gauge_equivariant(conv, geometry, corrupt=identity_transporters)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from .buffers import Geometry
from .groups import FieldType, o2_inverse
from .mesh import Mesh, make_mesh
from .preprocessing import preprocess
from .shapes import random_rotation

__all__ = [
    "TOLERANCE",
    "assert_gauge_equivariant",
    "check_gauge_equivariance",
    "check_isometry_invariance",
    "identity_transporters",
    "random_gauge",
    "random_isometry",
    "randomize_parameters",
    "transform_features",
]

#: Tolerances for equivariance errors per dtype, relative to features of unit size.
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}

_INFER = object()


def random_gauge(n_vertices: int, group: str, rng=None):
    """Random gauge transformation ``h_p = R(angle[p]) F**flip[p]`` in ``group``.

    Parameters
    ----------
    n_vertices : V
    group : "SO2", "O2", "C<N>" or "D<N>" (angles multiples of 2 pi / N for the finite groups)
    rng : numpy Generator or seed

    Returns
    -------
    angle (V,) float64, flip (V,) bool
    """
    rng = np.random.default_rng(rng)
    probe = FieldType("0", group=group)
    if probe.order:
        angle = 2 * np.pi * rng.integers(0, probe.order, n_vertices) / probe.order
    else:
        angle = rng.uniform(-np.pi, np.pi, n_vertices)
    flip = rng.integers(0, 2, n_vertices).astype(bool) if probe.has_reflections else np.zeros(n_vertices, bool)
    return angle, flip


def transform_features(x: torch.Tensor, field_type: FieldType, angle, flip=None, dim: int = -1) -> torch.Tensor:
    """Features in the new gauges: ``x_p -> rho(h_p^-1) x_p``, matching ``Geometry.gauge_transform``.

    Parameters
    ----------
    x : tensor, e.g. (V, C) or (B, V, C), channels on axis ``dim``
    field_type : FieldType of x
    angle, flip : (V,) the gauge transformation h (broadcast against x's other axes)
    dim : the channel axis

    Returns
    -------
    tensor like x
    """
    angle = np.asarray(angle, dtype=np.float64)
    flip = np.zeros(angle.shape, bool) if flip is None else np.asarray(flip, bool)
    inv_angle, inv_flip = o2_inverse(angle, flip)
    return field_type.act(x, inv_angle, inv_flip if field_type.has_reflections else None, dim=dim)


def identity_transporters(geometry: Geometry) -> Geometry:
    """The same geometry with every transporter replaced by the identity (a broken connection);
    used as a negative control: an equivariance check must then fail."""
    angle, flip = geometry.transport_angle, geometry.transport_flip
    if isinstance(angle, np.ndarray):
        return replace(geometry, transport_angle=np.zeros_like(angle), transport_flip=np.zeros_like(flip))
    return replace(geometry, transport_angle=torch.zeros_like(angle), transport_flip=torch.zeros_like(flip))


def check_gauge_equivariance(
    model,
    geometry: Geometry,
    in_type: FieldType,
    out_type: FieldType | None,
    *,
    trials: int = 2,
    batch: int | None = None,
    seed=0,
    dtype=torch.float64,
    corrupt=None,
) -> float:
    """Largest error of ``model(rho_in(h^-1) x, h.geometry) = rho_out(h^-1) model(x, geometry)``.

    Each trial draws random features (standard normal) and a random gauge transformation in the
    types' group (random angles; random flips for O2/D_N; multiples of 2 pi / N for C_N/D_N).

    Parameters
    ----------
    model : callable ``model(x, geometry)``; put it in the wanted dtype (and eval mode) first
    geometry : Geometry, numpy or torch
    in_type : FieldType of the input
    out_type : FieldType of a per-vertex output (V, C_out), or None for an invariant output of any
        shape (e.g. pooled (G, C))
    trials : number of random transformations
    batch : if given, features of shape (batch, V, C) instead of (V, C)
    seed : random seed
    dtype : torch dtype of features and geometry
    corrupt : optional function applied to both geometries before the model sees them, e.g.
        :func:`identity_transporters` for a negative control

    Returns
    -------
    float, the largest absolute difference over all trials and entries
    """
    rng = np.random.default_rng(seed)
    base = geometry.numpy() if not isinstance(geometry.log_r, np.ndarray) else geometry
    group = in_type.group
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    worst = 0.0
    for _ in range(trials):
        angle, flip = random_gauge(base.n_vertices, group, rng)
        moved = base.gauge_transform(angle, flip if flip.any() else None)
        g0, g1 = base.to_torch(dtype), moved.to_torch(dtype)
        if corrupt is not None:
            g0, g1 = corrupt(g0), corrupt(g1)
        shape = (base.n_vertices, in_type.dim) if batch is None else (batch, base.n_vertices, in_type.dim)
        x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
        with torch.no_grad():
            y = model(x, g0)
            y_moved = model(transform_features(x, in_type, angle, flip), g1)
        expected = y if out_type is None else transform_features(y, out_type, angle, flip)
        worst = max(worst, float((y_moved - expected).abs().max()))
    return worst


def assert_gauge_equivariant(
    model,
    geometry: Geometry,
    *,
    in_type: FieldType | None = _INFER,
    out_type: FieldType | None = _INFER,
    dtype: torch.dtype = torch.float64,
    trials: int = 2,
    batch: int | None = None,
    seed=0,
    corrupt=None,
    tolerance: float | None = None,
) -> float:
    """Assert that ``model`` is gauge equivariant on ``geometry``; return the largest error.

    Runs :func:`check_gauge_equivariance` and raises AssertionError (with the error value) when
    the error exceeds the :data:`TOLERANCE` of ``dtype``.

    Parameters
    ----------
    model : callable ``model(x, geometry)``; put it in the wanted dtype (and eval mode) first
    geometry : Geometry, numpy or torch
    in_type, out_type : the field types of input and output; by default ``model.in_type`` and
        ``model.out_type``. An output is compared as an invariant (unchanged, any shape, e.g.
        pooled ``(G, C)``) when ``out_type`` is None (the model says so, e.g. a
        :class:`~gaugeconv.models.GaugeResNet` with an invariant head) or has only trivial fields.
    dtype, trials, batch, seed, corrupt : as in :func:`check_gauge_equivariance`
    tolerance : overrides ``TOLERANCE[dtype]``

    Returns
    -------
    float, the largest absolute error (below the tolerance)
    """
    if in_type is _INFER:
        in_type = getattr(model, "in_type", None)
        if not isinstance(in_type, FieldType):
            raise ValueError(f"cannot infer the input field type: {type(model).__name__} has no in_type; pass in_type=")
    if out_type is _INFER:
        out_type = getattr(model, "out_type", None)
    if out_type is not None and all(kind == "0" for _, kind in out_type.fields):
        out_type = None  # trivial fields: the output is invariant, whatever its shape
    limit = TOLERANCE[dtype] if tolerance is None else tolerance
    err = check_gauge_equivariance(
        model, geometry, in_type, out_type, trials=trials, batch=batch, seed=seed, dtype=dtype, corrupt=corrupt
    )
    if not err <= limit:
        what = "invariance" if out_type is None else "equivariance"
        raise AssertionError(
            f"gauge {what} error {err:.3e} exceeds the {dtype} tolerance {limit:.0e} "
            f"({in_type} -> {out_type if out_type is not None else 'invariant'})"
        )
    return err


def randomize_parameters(module: torch.nn.Module, seed: int = 0, scale: float = 0.5, shift: float = 0.2):
    """Fill every parameter of ``module`` with ``scale * N(0, 1) + shift`` (in place; returns it).

    Equivariance checks should run with random, non-zero biases and weights: freshly initialised
    layers often have zero biases, which hides the classic bug of a bias on a non-invariant field.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale + shift)
    return module


def random_isometry(mesh: Mesh, rng=None) -> tuple[Mesh, np.ndarray]:
    """The mesh rotated in 3D, translated, with vertices and faces relabelled.

    Returns
    -------
    mesh : Mesh
    perm : (V,) int64, new vertex i is old vertex ``perm[i]``
    """
    rng = np.random.default_rng(rng)
    rotation = random_rotation(rng)
    perm = rng.permutation(mesh.n_vertices)
    inverse = np.argsort(perm)
    vertices = mesh.vertices[perm] @ rotation.T + rng.normal(size=3)
    face_perm = rng.permutation(mesh.n_faces)
    roll = rng.integers(0, 3)
    faces = np.roll(inverse[mesh.faces[face_perm]], roll, axis=1)  # cyclic: same orientation
    lengths = None if mesh.lengths is None else np.roll(mesh.lengths[face_perm], roll, axis=1)
    return make_mesh(vertices, faces, name=mesh.name, lengths=lengths), perm


def check_isometry_invariance(model, mesh: Mesh, x=None, *, seed=0, dtype=torch.float64, per_vertex=True) -> float:
    """Largest change of invariant outputs when the mesh is rotated in 3D and relabelled.

    Both meshes go through :func:`gaugeconv.preprocess`, so the gauges differ completely.

    Parameters
    ----------
    model : callable ``model(x, geometry)`` whose output is gauge invariant
    mesh : Mesh
    x : (V, C) invariant input features of the original vertices (default: ones, C = 1)
    per_vertex : the output has one row per vertex (compared after undoing the relabelling);
        False for pooled outputs, compared as they are

    Returns
    -------
    float, the largest absolute difference
    """
    moved, perm = random_isometry(mesh, seed)
    g0 = preprocess(mesh).to_torch(dtype)
    g1 = preprocess(moved).to_torch(dtype)
    x = torch.ones(mesh.n_vertices, 1, dtype=dtype) if x is None else torch.as_tensor(x, dtype=dtype)
    with torch.no_grad():
        y0 = model(x, g0)
        y1 = model(x[torch.as_tensor(perm)], g1)
    if per_vertex:
        y0 = y0[..., torch.as_tensor(perm), :]
    return float((y0 - y1).abs().max())
