"""Metrics of the standard benchmarks: correspondence accuracy and the cumulative geodesic error
curve, per-vertex and per-face segmentation accuracy, mean intersection over union.

Geodesic distances come from potpourri3d's heat method (Crane et al. 2013; potpourri3d is a test
dependency, installed with ``pip install potpourri3d``) or, with ``method="graph"``, from exact
shortest paths along mesh edges (Dijkstra, scipy; an upper bound of the geodesic distance: paths
zig-zag along edges, up to about 20% longer on an icosphere; needs nothing extra).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

__all__ = [
    "GeodesicDistance",
    "correspondence_accuracy",
    "correspondence_errors",
    "error_curve",
    "mean_iou",
    "segmentation_accuracy",
]

GEODESIC_METHODS = ("heat", "graph")


class GeodesicDistance:
    """Geodesic distances on one mesh, with the solver built once.

    Parameters
    ----------
    vertices, faces : (V, 3), (F, 3)
    method : "heat" (potpourri3d's heat method) or "graph" (Dijkstra along edges)

    Raises
    ------
    ImportError
        for ``method="heat"`` without potpourri3d, saying how to install it or to use "graph".
    """

    def __init__(self, vertices, faces, method: str = "heat"):
        if method not in GEODESIC_METHODS:
            raise ValueError(f"method must be one of {', '.join(GEODESIC_METHODS)}, got {method!r}")
        self.vertices = np.asarray(vertices, dtype=np.float64)
        self.faces = np.asarray(faces, dtype=np.int64)
        self.method = method
        if method == "heat":
            try:
                import potpourri3d
            except ImportError:
                raise ImportError(
                    "geodesic distances by the heat method need potpourri3d: pip install potpourri3d "
                    "(or pass method='graph' for shortest paths along edges)"
                ) from None
            self._solver = potpourri3d.MeshHeatMethodDistanceSolver(self.vertices, self.faces)
        else:
            edges = np.concatenate([self.faces[:, [0, 1]], self.faces[:, [1, 2]], self.faces[:, [2, 0]]])
            length = np.linalg.norm(self.vertices[edges[:, 0]] - self.vertices[edges[:, 1]], axis=1)
            n = len(self.vertices)
            graph = sparse.coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
            self._graph = graph.maximum(graph.T)

    def __repr__(self) -> str:
        return f"GeodesicDistance(V={len(self.vertices)}, method={self.method!r})"

    def from_sources(self, sources) -> np.ndarray:
        """Distances ``(S, V)`` from each of the ``sources`` (vertex indices) to every vertex."""
        sources = np.atleast_1d(np.asarray(sources, dtype=np.int64))
        if self.method == "graph":
            return csgraph.dijkstra(self._graph, directed=False, indices=sources)
        return (
            np.stack([self._solver.compute_distance(int(s)) for s in sources])
            if sources.size
            else np.zeros((0, len(self.vertices)))
        )

    def pairs(self, a, b) -> np.ndarray:
        """Distances ``(n,)`` between vertices ``a[i]`` and ``b[i]``; one solve per distinct
        source, none where ``a[i] == b[i]`` (distance 0)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        out = np.zeros(a.shape, dtype=np.float64)
        differ = np.flatnonzero(a != b)
        if differ.size == 0:
            return out
        sources, inverse = np.unique(a[differ], return_inverse=True)
        for start in range(0, sources.size, 256):  # bounded memory: 256 rows of V distances
            rows = self.from_sources(sources[start : start + 256])
            pick = (inverse >= start) & (inverse < start + 256)
            out[differ[pick]] = rows[inverse[pick] - start, b[differ[pick]]]
        return np.maximum(out, 0.0)


def correspondence_errors(vertices, faces, true, predicted, method: str = "heat", normalize: bool = True):
    """Geodesic error of each predicted correspondence ``(n,)`` on the mesh ``(vertices, faces)``.

    Parameters
    ----------
    true, predicted : (n,) vertex indices: the ground-truth and the predicted vertex
    method : "heat" or "graph" (see :class:`GeodesicDistance`)
    normalize : divide by the square root of the mesh's area (the Princeton protocol of Kim et al.
        2011, so that errors compare across shapes of different sizes)
    """
    errors = GeodesicDistance(vertices, faces, method).pairs(true, predicted)
    if normalize:
        v = np.asarray(vertices, dtype=np.float64)[np.asarray(faces, dtype=np.int64)]
        area = 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1).sum()
        errors = errors / np.sqrt(area)
    return errors


def error_curve(errors, radii) -> np.ndarray:
    """The cumulative geodesic error curve: for each radius r, the fraction of correspondences
    whose error is at most r ``(R,)``."""
    errors = np.asarray(errors, dtype=np.float64).ravel()
    radii = np.asarray(radii, dtype=np.float64)
    if errors.size == 0:
        raise ValueError("error_curve needs at least one error")
    return (errors[None, :] <= radii[:, None] * (1 + 1e-12)).mean(axis=1)


def correspondence_accuracy(true, predicted) -> float:
    """Fraction of exact correspondences, i.e. accuracy at geodesic error 0."""
    true, predicted = np.asarray(true), np.asarray(predicted)
    if true.shape != predicted.shape or true.size == 0:
        raise ValueError(f"true and predicted must have one equal non-empty shape, got {true.shape}, {predicted.shape}")
    return float(np.mean(true == predicted))


def segmentation_accuracy(predicted, target, weights=None) -> float:
    """Share of correctly labelled elements (vertices or faces); with ``weights`` (e.g. vertex or
    face areas) a weighted share."""
    predicted, target = np.asarray(predicted), np.asarray(target)
    if predicted.shape != target.shape or target.size == 0:
        raise ValueError(
            f"predicted and target must have one equal non-empty shape, got {predicted.shape}, {target.shape}"
        )
    w = np.ones(target.shape) if weights is None else np.asarray(weights, dtype=np.float64)
    return float(np.sum(w * (predicted == target)) / np.sum(w))


def mean_iou(predicted, target, n_classes: int | None = None, ignore_index: int | None = None) -> float:
    """Mean over classes of ``|pred = c and target = c| / |pred = c or target = c|``; classes
    absent from both are left out of the mean; elements whose target is ``ignore_index`` too."""
    predicted, target = np.asarray(predicted).ravel(), np.asarray(target).ravel()
    if predicted.shape != target.shape or target.size == 0:
        raise ValueError("predicted and target must have one equal non-empty shape")
    if ignore_index is not None:
        keep = target != ignore_index
        predicted, target = predicted[keep], target[keep]
    n = int(max(predicted.max(initial=0), target.max(initial=0)) + 1) if n_classes is None else int(n_classes)
    confusion = np.bincount(target * n + predicted, minlength=n * n).reshape(n, n)
    inter = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - inter
    present = union > 0
    return float(np.mean(inter[present] / union[present]))
