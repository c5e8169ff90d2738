"""Metrics: geodesic distances (heat method and graph), correspondence accuracy and error curve,
segmentation accuracy and mean IoU; input features."""

import sys

import numpy as np
import pytest

from gaugeconv import make_mesh, preprocess, shapes
from gaugeconv.data import (
    GeodesicDistance,
    compute_inputs,
    correspondence_accuracy,
    correspondence_errors,
    error_curve,
    heat_kernel_signature,
    mean_curvature,
    mean_iou,
    segmentation_accuracy,
)
from gaugeconv.data.features import cotan_laplacian


@pytest.fixture(scope="module")
def sphere():
    return shapes.icosahedron(3)


@pytest.mark.parametrize("method, tolerance", [("heat", 0.05), ("graph", 0.25)])
def test_geodesic_distances_on_the_sphere(sphere, method, tolerance):
    solver = GeodesicDistance(sphere.vertices, sphere.faces, method)
    rows = solver.from_sources([0, 7])
    exact = np.arccos(np.clip(sphere.vertices[[0, 7]] @ sphere.vertices.T, -1, 1))
    far = exact > 0.3
    relative = (rows - exact)[far] / exact[far]
    assert np.abs(relative).max() < tolerance
    if method == "graph":  # paths along edges are never shorter than the chord-free geodesic
        assert relative.min() > -0.01
    pairs = solver.pairs([0, 7, 7, 3], [5, 7, 0, 3])
    np.testing.assert_allclose(pairs, [rows[0, 5], 0.0, rows[1, 0], 0.0])


def test_heat_method_without_potpourri3d_says_what_to_do(sphere, monkeypatch):
    monkeypatch.setitem(sys.modules, "potpourri3d", None)
    with pytest.raises(ImportError, match="pip install potpourri3d.*method='graph'"):
        GeodesicDistance(sphere.vertices, sphere.faces, "heat")
    assert GeodesicDistance(sphere.vertices, sphere.faces, "graph").pairs([0], [1])[0] > 0


def test_correspondence_errors_and_curve(sphere):
    true = np.arange(10)
    pred = true.copy()
    pred[:4] = [20, 30, 40, 50]
    errors = correspondence_errors(sphere.vertices, sphere.faces, true, pred, method="graph")
    assert (errors[4:] == 0).all() and (errors[:4] > 0).all()
    raw = GeodesicDistance(sphere.vertices, sphere.faces, "graph").pairs(true, pred)
    area = preprocess(sphere).vertex_area.sum()
    np.testing.assert_allclose(errors, raw / np.sqrt(area))
    assert correspondence_accuracy(true, pred) == 0.6
    curve = error_curve(errors, [0.0, np.sort(errors)[7], 10.0])
    np.testing.assert_allclose(curve, [0.6, 0.8, 1.0])


def test_segmentation_metrics():
    pred, target = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    assert segmentation_accuracy(pred, target) == 0.75
    assert segmentation_accuracy(pred, target, weights=[1, 3, 1, 1]) == 0.5
    assert mean_iou(pred, target) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert mean_iou(pred, target, n_classes=5) == pytest.approx((1 / 2 + 2 / 3) / 2)  # absent classes left out
    assert mean_iou(np.array([0, 2, 1]), np.array([0, 9, 1]), ignore_index=9) == 1.0
    with pytest.raises(ValueError, match="one equal non-empty shape"):
        segmentation_accuracy(pred, target[:3])


def test_curvature_features_on_a_sphere_and_a_plane(sphere):
    g = preprocess(sphere)
    k, h = compute_inputs(g, "curvature").T
    np.testing.assert_allclose(np.average(k, weights=g.vertex_area), 1.0, rtol=1e-9)  # Gauss-Bonnet
    assert np.abs(k - 1).max() < 0.15 and np.abs(h - 1).max() < 0.15  # 1.14 at the 12 valence-5 vertices
    assert abs(np.median(k) - 1) < 0.01 and abs(np.median(h) - 1) < 0.01
    flipped = preprocess(make_mesh(sphere.vertices, sphere.faces[:, ::-1]))
    np.testing.assert_allclose(mean_curvature(flipped), mean_curvature(g), atol=1e-12)  # sign by component
    plane = preprocess(shapes.plane(nx=6, ny=6))
    inner = ~plane.boundary
    np.testing.assert_allclose(compute_inputs(plane, "curvature")[inner], 0.0, atol=1e-9)


def test_heat_kernel_signature_matches_a_dense_solve_and_is_invariant(sphere):
    torus = shapes.torus(n_major=24, n_minor=12)  # 288 vertices: the sparse eigensolver path
    # irregular, so that no eigenvalue is repeated (a cut through a repeated one depends on the basis)
    mesh = make_mesh(
        torus.vertices + np.random.default_rng(0).normal(scale=0.01, size=torus.vertices.shape), torus.faces
    )
    g = preprocess(mesh)
    hks = heat_kernel_signature(g, eigenpairs=40)
    laplacian = cotan_laplacian(g.vertices, g.faces).toarray()
    mass = g.vertex_area / g.vertex_area.sum()
    m = 1 / np.sqrt(mass)
    evals, vecs = np.linalg.eigh(laplacian * m[:, None] * m[None, :])
    evecs = vecs[:, :40] * m[:, None]
    from gaugeconv.data.features import HKS_TIMES

    decay = np.exp(-np.outer(np.clip(evals[:40], 0, None), HKS_TIMES))
    np.testing.assert_allclose(hks, evecs**2 @ decay / decay.sum(0), rtol=1e-6, atol=1e-9)
    rotation = shapes.random_rotation(3)
    moved = preprocess(make_mesh(3.0 * mesh.vertices @ rotation.T, mesh.faces))
    np.testing.assert_allclose(heat_kernel_signature(moved, eigenpairs=40), hks, rtol=1e-6, atol=1e-9)
    assert np.ptp(heat_kernel_signature(preprocess(sphere))[:, 0]) < 0.05  # nearly constant on a sphere


def test_function_inputs_are_checked(sphere):
    g = preprocess(sphere)
    x = compute_inputs(g, ("constant", lambda geometry: geometry.vertex_area))
    np.testing.assert_allclose(x[:, 1], g.vertex_area)
    with pytest.raises(ValueError, match="gave shape"):
        compute_inputs(g, (lambda geometry: np.zeros(3),))
