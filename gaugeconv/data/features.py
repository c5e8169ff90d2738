"""Per-vertex input features computed from a :class:`~gaugeconv.Geometry` (numpy).

Built-in inputs (names for :class:`~gaugeconv.data.MeshDataset`'s ``inputs``):

=============  =======  =====================================================================
name           columns  what
=============  =======  =====================================================================
``constant``   1        1 at every vertex
``curvature``  2        Gaussian curvature ``angle_defect / vertex_area`` and mean curvature
                        from the cotangent Laplacian, scaled to be 1 on a round sphere of the
                        mesh's area (dimensionless, invariant to rotation, translation, scale)
``hks``        16       heat kernel signature at 16 times on the surface scaled to unit area,
                        each divided by its mean over the surface (Sun et al. 2009; intrinsic)
``xyz``        3        the vertex coordinates as they are in the file (not rotation invariant)
=============  =======  =====================================================================

All are trivial (scalar) fields: ``FieldType(f"{n}x0")`` for n columns. The Laplacian uses the
embedding's edge lengths (meshes with intrinsic lengths only, such as the flat Möbius strip, get
the embedded metric here).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.sparse import linalg as splinalg

from ..buffers import Geometry

__all__ = ["INPUTS", "compute_inputs", "cotan_laplacian", "heat_kernel_signature", "input_dim", "mean_curvature"]

#: Built-in input names and their number of columns.
INPUTS = {"constant": 1, "curvature": 2, "hks": 16, "xyz": 3}
#: Diffusion times of ``hks`` on a surface of unit area (Weyl: lambda_k ~ 4 pi k there, so the
#: smallest time is resolved by 64 eigenpairs, and the largest reaches the first modes).
HKS_TIMES = np.geomspace(0.01, 0.4, INPUTS["hks"])
HKS_EIGENPAIRS = 64


def cotan_laplacian(vertices: np.ndarray, faces: np.ndarray) -> sparse.csr_matrix:
    """The cotangent Laplacian ``L = D - W`` (symmetric, positive semi-definite), ``(V, V)``:
    ``W_ij = (cot alpha_ij + cot beta_ij) / 2`` over the angles opposite edge ij."""
    n = len(vertices)
    p = vertices[faces]  # (F, 3 corners, 3)
    rows, cols, vals = [], [], []
    for i in range(3):
        j, k = (i + 1) % 3, (i + 2) % 3
        u, v = p[:, j] - p[:, i], p[:, k] - p[:, i]
        cross = np.linalg.norm(np.cross(u, v), axis=1)
        cot = np.einsum("fd,fd->f", u, v) / np.maximum(cross, 1e-300)  # cot of the angle at corner i
        rows += [faces[:, j], faces[:, k]]
        cols += [faces[:, k], faces[:, j]]
        vals += [0.5 * cot, 0.5 * cot]
    w = sparse.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsr()
    return (sparse.diags(np.asarray(w.sum(axis=1)).ravel()) - w).tocsr()


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    p = vertices[faces]
    fn = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # area-weighted face normals
    normals = np.zeros_like(vertices)
    for i in range(3):
        np.add.at(normals, faces[:, i], fn)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-300)


def mean_curvature(geometry: Geometry) -> np.ndarray:
    """Mean curvature H per vertex ``(V,)`` from ``L x = 2 H n A`` (cotangent Laplacian, vertex
    area A). Sign: per connected component, the total ``sum H A`` is made non-negative (positive
    on convex shapes whatever the face orientation); 0 on boundary vertices' normal-less cases."""
    g = geometry.numpy()
    lx = cotan_laplacian(g.vertices, g.faces) @ g.vertices
    normals = _vertex_normals(g.vertices, g.faces)
    h = np.einsum("vd,vd->v", lx, normals) / (2 * np.maximum(g.vertex_area, 1e-300))
    n_comp, label = csgraph.connected_components(
        sparse.coo_matrix((np.ones(g.n_edges), (g.edge_index[0], g.edge_index[1])), shape=(g.n_vertices,) * 2)
    )
    total = np.bincount(label, weights=h * g.vertex_area, minlength=n_comp)
    return h * np.where(total[label] < 0, -1.0, 1.0)


def heat_kernel_signature(
    geometry: Geometry, times: np.ndarray = HKS_TIMES, eigenpairs: int = HKS_EIGENPAIRS
) -> np.ndarray:
    """Scaled heat kernel signature ``(V, T)``.

    The surface is scaled to unit area; with the eigenpairs ``L phi = lambda M phi`` (cotangent
    Laplacian L, lumped mass M = vertex areas), ``hks(x, t) = sum_i exp(-lambda_i t) phi_i(x)^2``,
    divided by its area-weighted mean over the surface ``sum_i exp(-lambda_i t)``.

    Parameters
    ----------
    geometry : Geometry (numpy or torch)
    times : (T,) diffusion times on the unit-area surface
    eigenpairs : number of eigenpairs (fewer on meshes with fewer vertices)
    """
    g = geometry.numpy()
    laplacian = cotan_laplacian(g.vertices, g.faces)
    mass = np.maximum(g.vertex_area, 1e-300) / g.vertex_area.sum()
    n = g.n_vertices
    k = min(int(eigenpairs), n)
    if n <= 200 or k >= n - 1:  # small meshes: dense, exact
        m = 1.0 / np.sqrt(mass)
        evals, vecs = np.linalg.eigh((laplacian.toarray() * m[:, None]) * m[None, :])
        evals, evecs = evals[:k], vecs[:, :k] * m[:, None]
    else:
        rng = np.random.default_rng(0)  # deterministic start vector: the same features every run
        evals, evecs = splinalg.eigsh(
            laplacian, k=k, M=sparse.diags(mass), sigma=-1e-3, which="LM", v0=rng.normal(size=n)
        )
    evals = np.clip(evals, 0.0, None)
    decay = np.exp(-np.outer(evals, np.asarray(times, dtype=np.float64)))  # (k, T)
    return (evecs**2) @ decay / decay.sum(axis=0)


def _curvature(g: Geometry) -> np.ndarray:
    area = g.vertex_area.sum()
    gauss = g.angle_defect / np.maximum(g.vertex_area, 1e-300) * area / (4 * np.pi)
    mean = mean_curvature(g) * np.sqrt(area / (4 * np.pi))
    return np.stack([gauss, mean], axis=1)


_BUILTIN = {
    "constant": lambda g: np.ones((g.n_vertices, 1)),
    "curvature": _curvature,
    "hks": heat_kernel_signature,
    "xyz": lambda g: np.asarray(g.vertices, dtype=np.float64),
}


def _check(inputs) -> tuple:
    inputs = (inputs,) if isinstance(inputs, str) or callable(inputs) else tuple(inputs)
    for item in inputs:
        if not callable(item) and item not in INPUTS:
            raise ValueError(f"unknown input {item!r}; use one of {', '.join(INPUTS)} or a function of the geometry")
    return inputs


def input_dim(inputs) -> int | None:
    """Number of columns of the built-in ``inputs``; None if a function is among them (known
    only once it has run)."""
    inputs = _check(inputs)
    if any(callable(item) for item in inputs):
        return None
    return sum(INPUTS[name] for name in inputs)


def compute_inputs(geometry: Geometry, inputs=("constant",)) -> np.ndarray:
    """Input features ``(V, C)`` float64: the columns of each input in order.

    Parameters
    ----------
    geometry : Geometry (numpy)
    inputs : names from :data:`INPUTS` and/or functions ``geometry -> (V,) or (V, c) array``
    """
    g = geometry.numpy()
    columns = []
    for item in _check(inputs):
        values = np.asarray(item(g) if callable(item) else _BUILTIN[item](g), dtype=np.float64)
        values = values[:, None] if values.ndim == 1 else values
        if values.ndim != 2 or values.shape[0] != g.n_vertices:
            raise ValueError(f"input {item!r} gave shape {values.shape}, expected ({g.n_vertices}, C)")
        columns.append(values)
    if not columns:
        raise ValueError("inputs must name at least one feature")
    return np.concatenate(columns, axis=1)
