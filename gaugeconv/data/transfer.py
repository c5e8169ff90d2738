"""Carry labels from one mesh to another of the same surface (remeshed, decimated, repaired), and
between a loaded mesh and its file.

The value at a point of the target is read at the nearest point of the source surface: exact
point-triangle projection on the candidate triangles found with a k-d tree, then barycentric
interpolation (continuous values), a barycentric-weighted vote of the triangle's corners
(classes), or the label of the triangle (per-face source labels). Per-face targets vote over
points spread over each target face.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "closest_points_on_triangles",
    "face_to_vertex_labels",
    "from_source_vertices",
    "nearest_surface_points",
    "to_source_vertices",
    "transfer_labels",
    "vertex_to_face_labels",
]

_CHUNK = 1 << 16  # (point, candidate triangle) pairs per block


def closest_points_on_triangles(p, a, b, c) -> np.ndarray:
    """Barycentric coordinates ``(n, 3)`` of the point of triangle ``(a, b, c)`` nearest to ``p``.

    All arguments ``(n, 3)``; row i is one query. Exact (Voronoi regions of the corners, edges and
    face, as in Ericson, Real-Time Collision Detection, 5.1.5), vectorised; degenerate triangles
    fall back to their nearest edge.
    """
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.einsum("nd,nd->n", ab, ap), np.einsum("nd,nd->n", ac, ap)
    bp = p - b
    d3, d4 = np.einsum("nd,nd->n", ab, bp), np.einsum("nd,nd->n", ac, bp)
    cp = p - c
    d5, d6 = np.einsum("nd,nd->n", ab, cp), np.einsum("nd,nd->n", ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    n = len(p)
    out = np.zeros((n, 3))
    done = np.zeros(n, bool)

    def take(mask, u, v, w):
        mask = mask & ~done
        out[mask] = np.stack([u, v, w], axis=1)[mask]
        done[mask] = True

    one, zero = np.ones(n), np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        take((d1 <= 0) & (d2 <= 0), one, zero, zero)  # corner a
        take((d3 >= 0) & (d4 <= d3), zero, one, zero)  # corner b
        take((d6 >= 0) & (d5 <= d6), zero, zero, one)  # corner c
        t = d1 / (d1 - d3)
        take((vc <= 0) & (d1 >= 0) & (d3 <= 0), 1 - t, t, zero)  # edge ab
        t = d2 / (d2 - d6)
        take((vb <= 0) & (d2 >= 0) & (d6 <= 0), 1 - t, zero, t)  # edge ac
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        take((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), zero, 1 - t, t)  # edge bc
        denom = va + vb + vc
        v, w = vb / denom, vc / denom
        inside = np.isfinite(v) & np.isfinite(w)
        take(inside, 1 - v - w, v, w)  # interior
    if not done.all():  # degenerate triangles: the best of the three edges
        rest = np.flatnonzero(~done)
        best = np.full(rest.size, np.inf)
        for i, j in ((0, 1), (0, 2), (1, 2)):
            q0, q1 = (a, b, c)[i][rest], (a, b, c)[j][rest]
            e = q1 - q0
            t = np.clip(np.einsum("nd,nd->n", p[rest] - q0, e) / np.maximum(np.einsum("nd,nd->n", e, e), 1e-300), 0, 1)
            dist = np.linalg.norm(q0 + t[:, None] * e - p[rest], axis=1)
            better = dist < best
            bary = np.zeros((rest.size, 3))
            bary[:, i], bary[:, j] = 1 - t, t
            out[rest[better]] = bary[better]
            best = np.minimum(best, dist)
    return out


def nearest_surface_points(vertices, faces, points) -> tuple:
    """For each of ``points (P, 3)`` the nearest point on the triangle mesh ``(vertices, faces)``.

    Exact: the nearest vertex bounds the distance d; every triangle that can hold a nearer point
    has its centroid within d + (its circumradius bound) of the query, and all of those are
    projected onto.

    Returns
    -------
    (face (P,) int64, barycentric (P, 3), distance (P,))
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    points = np.asarray(points, dtype=np.float64)
    tri = vertices[faces]
    centroid = tri.mean(axis=1)
    reach = np.linalg.norm(tri - centroid[:, None], axis=2).max()
    bound = cKDTree(vertices).query(points)[0] + reach * (1 + 1e-9) + 1e-12
    candidates = cKDTree(centroid).query_ball_point(points, bound)
    counts = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=len(points))
    query = np.repeat(np.arange(len(points)), counts)
    face = np.fromiter((f for c in candidates for f in c), dtype=np.int64, count=int(counts.sum()))
    best = np.full(len(points), np.inf)
    best_face = np.zeros(len(points), np.int64)
    best_bary = np.zeros((len(points), 3))
    for start in range(0, query.size, _CHUNK):
        q, f = query[start : start + _CHUNK], face[start : start + _CHUNK]
        bary = closest_points_on_triangles(points[q], *(tri[f, i] for i in range(3)))
        dist = np.linalg.norm(np.einsum("nk,nkd->nd", bary, tri[f]) - points[q], axis=1)
        order = np.lexsort((dist, q))  # per query, the nearest candidate of this block first
        q, f, bary, dist = q[order], f[order], bary[order], dist[order]
        first = np.r_[True, q[1:] != q[:-1]]
        q, f, bary, dist = q[first], f[first], bary[first], dist[first]
        better = dist < best[q]
        best[q[better]], best_face[q[better]], best_bary[q[better]] = dist[better], f[better], bary[better]
    return best_face, best_bary, best


def _vote(classes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row, the class with the largest total weight; ties to the smaller class.
    classes, weights: (N, k)."""
    values, inverse = np.unique(classes, return_inverse=True)
    inverse = inverse.reshape(classes.shape)
    score = np.zeros((classes.shape[0], values.size))
    np.add.at(score, (np.repeat(np.arange(classes.shape[0]), classes.shape[1]), inverse.ravel()), weights.ravel())
    return values[score.argmax(axis=1)]


def _face_samples(vertices, faces, per_face: int) -> tuple:
    """``per_face`` barycentric points spread over every face: (points (F * n, 3), face of each)."""
    if per_face == 1:
        bary = np.array([[1 / 3, 1 / 3, 1 / 3]])
    else:  # the centroid and points halfway between it and each corner
        bary = np.array([[1 / 3, 1 / 3, 1 / 3], [2 / 3, 1 / 6, 1 / 6], [1 / 6, 2 / 3, 1 / 6], [1 / 6, 1 / 6, 2 / 3]])
    tri = vertices[faces]
    points = np.einsum("sk,fkd->fsd", bary, tri).reshape(-1, 3)
    return points, np.repeat(np.arange(len(faces)), len(bary))


def _infer_on(labels, n_vertices, n_faces, on, what) -> str:
    if on is not None:
        if on not in ("vertex", "face"):
            raise ValueError(f"{what} must be 'vertex' or 'face', got {on!r}")
        expected = n_vertices if on == "vertex" else n_faces
        if len(labels) != expected:
            raise ValueError(f"{len(labels)} labels, but the source mesh has {expected} {on}s")
        return on
    if len(labels) == n_vertices and len(labels) != n_faces:
        return "vertex"
    if len(labels) == n_faces and len(labels) != n_vertices:
        return "face"
    raise ValueError(
        f"{len(labels)} labels for a mesh of {n_vertices} vertices and {n_faces} faces: pass {what}='vertex' or 'face'"
    )


def transfer_labels(
    source_vertices,
    source_faces,
    labels,
    target_vertices,
    target_faces=None,
    *,
    source_on: str | None = None,
    target_on: str = "vertex",
    classes: bool | None = None,
) -> np.ndarray:
    """Labels of a source mesh carried to a target mesh of the same surface.

    Parameters
    ----------
    source_vertices, source_faces : (V_s, 3), (F_s, 3) the labelled mesh
    labels : (V_s, ...) per source vertex or (F_s, ...) per source face
    target_vertices : (V_t, 3)
    target_faces : (F_t, 3), needed for ``target_on="face"``
    source_on : "vertex" or "face"; None infers it from the length of ``labels``
    target_on : "vertex" (a value per target vertex) or "face" (per target face, from four points
        spread over the face)
    classes : whether labels are classes (vote) or values (interpolate); None: integer and bool
        labels are classes

    Returns
    -------
    (V_t, ...) or (F_t, ...) labels, of the labels' dtype for classes, float64 for values.

    Notes
    -----
    Per-vertex classes at a point of a source face: the class with the largest summed
    barycentric weight among the face's corners. Values: barycentric interpolation. Per-face
    source labels: the label of the face holding the nearest point. Per-face targets: the vote
    (classes) or mean (values) of their points. Up to round-off, a mesh transferred onto itself
    gets its own labels back.
    """
    sv = np.asarray(source_vertices, dtype=np.float64)
    sf = np.asarray(source_faces, dtype=np.int64)
    labels = np.asarray(labels)
    tv = np.asarray(target_vertices, dtype=np.float64)
    source_on = _infer_on(labels, len(sv), len(sf), source_on, "source_on")
    if target_on not in ("vertex", "face"):
        raise ValueError(f"target_on must be 'vertex' or 'face', got {target_on!r}")
    if classes is None:
        classes = labels.dtype.kind in "iub"
    if classes and labels.ndim != 1:
        raise ValueError(f"class labels must be one per {source_on}, shape (N,), got {labels.shape}")
    if target_on == "face":
        if target_faces is None:
            raise ValueError("target_on='face' needs target_faces")
        tf = np.asarray(target_faces, dtype=np.int64)
        points, owner = _face_samples(tv, tf, 4)
    else:
        points, owner = tv, None
    face, bary, _ = nearest_surface_points(sv, sf, points)
    if source_on == "face":
        values = labels[face]
    elif classes:
        values = _vote(labels[sf[face]], bary)
    else:
        values = np.einsum("pk,pk...->p...", bary, labels[sf[face]].astype(np.float64))
    if owner is None:
        return values
    per = np.bincount(owner).max()
    if classes:
        return _vote(values.reshape(-1, per), np.ones((len(values) // per, per)))
    return values.reshape(len(values) // per, per, *values.shape[1:]).astype(np.float64).mean(axis=1)


def vertex_to_face_labels(faces, labels, classes: bool | None = None) -> np.ndarray:
    """Per-face labels ``(F, ...)`` from per-vertex ones: the majority of the three corners
    (ties to the smaller class) for classes, their mean for values."""
    faces = np.asarray(faces, dtype=np.int64)
    labels = np.asarray(labels)
    classes = labels.dtype.kind in "iub" if classes is None else classes
    if classes:
        return _vote(labels[faces], np.ones(faces.shape))
    return labels[faces].astype(np.float64).mean(axis=1)


def face_to_vertex_labels(faces, labels, n_vertices: int, face_weights=None, classes: bool | None = None):
    """Per-vertex labels ``(V, ...)`` from per-face ones: the (area-)weighted vote of the faces
    around each vertex for classes, the weighted mean for values. Vertices in no face get 0."""
    faces = np.asarray(faces, dtype=np.int64)
    labels = np.asarray(labels)
    classes = labels.dtype.kind in "iub" if classes is None else classes
    w = np.ones(len(faces)) if face_weights is None else np.asarray(face_weights, dtype=np.float64)
    corner_vertex, corner_face = faces.ravel(), np.repeat(np.arange(len(faces)), 3)
    if classes:
        values, inverse = np.unique(labels, return_inverse=True)
        score = np.zeros((n_vertices, values.size))
        np.add.at(score, (corner_vertex, inverse[corner_face]), w[corner_face])
        out = values[score.argmax(axis=1)]
        out[score.sum(axis=1) == 0] = 0
        return out
    total = np.zeros((n_vertices, *labels.shape[1:]))
    np.add.at(total, corner_vertex, labels[corner_face] * w[corner_face].reshape(-1, *[1] * (labels.ndim - 1)))
    weight = np.bincount(corner_vertex, weights=w[corner_face], minlength=n_vertices)
    return total / np.maximum(weight, 1e-300).reshape(-1, *[1] * (labels.ndim - 1))


def from_source_vertices(labels, source_index) -> np.ndarray:
    """Per-vertex labels of a mesh file ``(V_file, ...)`` for the loaded mesh ``(V, ...)``:
    ``labels[source_index]`` (``source_index``: for every loaded vertex its index in the file)."""
    labels = np.asarray(labels)
    source_index = np.asarray(source_index, dtype=np.int64)
    if source_index.size and (source_index.min() < 0 or source_index.max() >= len(labels)):
        raise ValueError(f"source_index refers to vertex {source_index.max()} but there are {len(labels)} labels")
    return labels[source_index]


def to_source_vertices(values, source_index, n_source: int, fill=0, classes: bool | None = None) -> np.ndarray:
    """Per-vertex values of a loaded mesh ``(V, ...)`` back on the file's ``n_source`` vertices.

    A file vertex split into several loaded vertices (repair of non-manifold vertices) gets their
    vote (classes) or mean (values); a vertex the loaded mesh dropped (unreferenced) gets ``fill``.
    """
    values = np.asarray(values)
    source_index = np.asarray(source_index, dtype=np.int64)
    if len(values) != len(source_index):
        raise ValueError(f"{len(values)} values for {len(source_index)} vertices of the loaded mesh")
    classes = values.dtype.kind in "iub" if classes is None else classes
    count = np.bincount(source_index, minlength=n_source)
    if classes:
        out = np.full(n_source, fill, dtype=values.dtype)
        uniq, inverse = np.unique(values, return_inverse=True)
        score = np.zeros((n_source, uniq.size))
        np.add.at(score, (source_index, inverse), 1.0)
        hit = count > 0
        out[hit] = uniq[score[hit].argmax(axis=1)]
        return out
    total = np.zeros((n_source, *values.shape[1:]))
    np.add.at(total, source_index, values)
    shape = (-1, *[1] * (values.ndim - 1))
    out = total / np.maximum(count, 1).reshape(shape)
    out[count == 0] = fill
    return out
