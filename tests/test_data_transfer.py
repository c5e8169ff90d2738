"""Label transfer: exact nearest surface points, vote and interpolation, maps to the file's vertices."""

import numpy as np
import pytest

from gaugeconv import make_mesh, shapes
from gaugeconv.data import (
    face_to_vertex_labels,
    from_source_vertices,
    nearest_surface_points,
    to_source_vertices,
    transfer_labels,
    vertex_to_face_labels,
)
from gaugeconv.data.transfer import closest_points_on_triangles


def brute_force_distance(p, tri, samples=3000, seed=0):
    """Distance from each point to a dense barycentric sampling of its triangle (an upper bound)."""
    w = np.random.default_rng(seed).dirichlet([1, 1, 1], size=samples)
    w = np.concatenate([w, np.eye(3), [[0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0.5]]])
    points = np.einsum("sk,nkd->nsd", w, tri)
    return np.linalg.norm(points - p[:, None], axis=2).min(axis=1)


def test_closest_point_on_triangle_is_exact():
    rng = np.random.default_rng(1)
    n = 500
    tri = rng.normal(size=(n, 3, 3))
    p = rng.normal(size=(n, 3)) * 2
    bary = closest_points_on_triangles(p, tri[:, 0], tri[:, 1], tri[:, 2])
    assert (bary >= -1e-12).all() and np.allclose(bary.sum(1), 1)
    dist = np.linalg.norm(np.einsum("nk,nkd->nd", bary, tri) - p, axis=1)
    assert (dist <= brute_force_distance(p, tri) + 1e-12).all()
    # the nearest point's residual is orthogonal to the triangle when it lies inside
    inside = (bary > 1e-6).all(1)
    assert inside.any()
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    residual = p - np.einsum("nk,nkd->nd", bary, tri)
    cos = (
        np.abs(np.einsum("nd,nd->n", residual, normal))
        / np.linalg.norm(residual, axis=1)
        / np.linalg.norm(normal, axis=1)
    )
    np.testing.assert_allclose(cos[inside], 1.0, atol=1e-9)


def test_degenerate_triangle_falls_back_to_its_edges():
    a, b, c = np.array([[0.0, 0, 0]]), np.array([[1.0, 0, 0]]), np.array([[2.0, 0, 0]])
    bary = closest_points_on_triangles(np.array([[1.5, 1.0, 0]]), a, b, c)
    np.testing.assert_allclose(np.einsum("nk,knd->nd", bary, np.stack([a, b, c])), [[1.5, 0, 0]], atol=1e-12)


def test_nearest_surface_points_match_brute_force():
    mesh = shapes.torus(n_major=12, n_minor=6)
    points = np.random.default_rng(2).normal(size=(200, 3)) * 0.8
    face, bary, dist = nearest_surface_points(mesh.vertices, mesh.faces, points)
    tri = mesh.vertices[mesh.faces]
    every = np.full(len(points), np.inf)  # the nearest point over all triangles, one at a time
    for f in range(len(tri)):
        corners = np.broadcast_to(tri[f], (len(points), 3, 3))
        b = closest_points_on_triangles(points, corners[:, 0], corners[:, 1], corners[:, 2])
        every = np.minimum(every, np.linalg.norm(np.einsum("nk,nkd->nd", b, corners) - points, axis=1))
    np.testing.assert_allclose(dist, every, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(np.einsum("nk,nkd->nd", bary, tri[face]) - points, axis=1), dist)


def test_transfer_onto_itself_is_the_identity():
    mesh = shapes.icosahedron(2)
    classes = (np.arange(mesh.n_vertices) % 5).astype(np.int64)
    values = mesh.vertices.copy()
    np.testing.assert_array_equal(transfer_labels(mesh.vertices, mesh.faces, classes, mesh.vertices), classes)
    np.testing.assert_allclose(transfer_labels(mesh.vertices, mesh.faces, values, mesh.vertices), values, atol=1e-12)
    face_classes = np.arange(mesh.n_faces) % 3
    out = transfer_labels(mesh.vertices, mesh.faces, face_classes, mesh.vertices, mesh.faces, target_on="face")
    np.testing.assert_array_equal(out, face_classes)


def test_transfer_to_a_remeshed_surface():
    """A plane labelled by x < 0.5, remeshed finer and shifted: classes vote, values interpolate
    exactly (a linear function), face labels follow the faces."""
    coarse = shapes.plane(nx=7, ny=7)
    fine = shapes.plane(nx=19, ny=13)
    target = fine.vertices + np.array([0.0, 0.0, 0.01])  # off the surface: projected back
    classes = (coarse.vertices[:, 0] < 0.5 + 1e-9).astype(np.int64)
    out = transfer_labels(coarse.vertices, coarse.faces, classes, target)
    far = np.abs(fine.vertices[:, 0] - 0.5) > 1 / 6  # away from the class border
    np.testing.assert_array_equal(out[far], fine.vertices[far, 0] < 0.5)
    linear = coarse.vertices @ np.array([2.0, -1.0, 0.0]) + 3
    np.testing.assert_allclose(
        transfer_labels(coarse.vertices, coarse.faces, linear, target), fine.vertices @ [2.0, -1.0, 0] + 3, atol=1e-12
    )
    face_x = coarse.vertices[coarse.faces].mean(1)[:, 0] > 0.5
    per_face = transfer_labels(
        coarse.vertices, coarse.faces, face_x.astype(np.int64), target, fine.faces, target_on="face"
    )
    centre = fine.vertices[fine.faces].mean(1)[:, 0]
    sure = np.abs(centre - 0.5) > 1 / 6
    np.testing.assert_array_equal(per_face[sure], centre[sure] > 0.5)


def test_transfer_errors():
    mesh = shapes.icosahedron(1)
    with pytest.raises(ValueError, match="labels for a mesh of 42 vertices"):
        transfer_labels(mesh.vertices, mesh.faces, np.zeros(7), mesh.vertices)
    with pytest.raises(ValueError, match="needs target_faces"):
        transfer_labels(mesh.vertices, mesh.faces, np.zeros(42), mesh.vertices, target_on="face")


def test_vertex_face_conversions():
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    assert vertex_to_face_labels(faces, np.array([1, 1, 2, 2])).tolist() == [1, 2]
    np.testing.assert_allclose(vertex_to_face_labels(faces, np.array([0.0, 3, 6, 9])), [3, 6])
    assert face_to_vertex_labels(faces, np.array([4, 7]), 5, face_weights=[1.0, 2.0]).tolist() == [4, 7, 7, 7, 0]


def test_maps_between_file_and_loaded_vertices():
    """A file with an unreferenced vertex and a bowtie vertex: make_mesh drops one and splits the
    other; with the source index, labels go to the loaded mesh and predictions come back."""
    # two triangles sharing only vertex 0 (a bowtie), plus an unused vertex 3
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [9, 9, 9], [-1, 0, 0], [0, -1, 0]], float)
    faces = np.array([[0, 1, 2], [0, 4, 5]])
    with pytest.warns(UserWarning):
        mesh = make_mesh(vertices, faces, repair=True)
    assert mesh.n_vertices == 6  # one dropped, one added
    # the index a source_index would record: position of each loaded vertex in the file
    index = np.array([np.flatnonzero((vertices == v).all(1))[0] for v in mesh.vertices])
    file_labels = np.array([5, 1, 1, 8, 2, 2])
    loaded = from_source_vertices(file_labels, index)
    np.testing.assert_array_equal(loaded, file_labels[index])
    back = to_source_vertices(loaded, index, len(vertices), fill=-1)
    np.testing.assert_array_equal(back, [5, 1, 1, -1, 2, 2])
    np.testing.assert_allclose(
        to_source_vertices(index.astype(float), index, len(vertices), fill=np.nan)[[0, 1]], [0, 1]
    )
