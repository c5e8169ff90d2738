"""gaugeconv.testing: random gauges, feature transforms, the checkers themselves (they must catch errors)."""

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, preprocess, shapes
from gaugeconv.testing import (
    check_gauge_equivariance,
    check_isometry_invariance,
    identity_transporters,
    random_gauge,
    random_isometry,
    transform_features,
)


@pytest.mark.parametrize("group", ["SO2", "O2", "C6", "D4"])
def test_random_gauge_stays_in_group(group):
    angle, flip = random_gauge(200, group, 0)
    probe = FieldType("0", group=group)
    if probe.order:
        steps = angle * probe.order / (2 * np.pi)
        np.testing.assert_allclose(steps, np.round(steps), atol=1e-12)
    assert flip.any() == probe.has_reflections
    assert np.unique(np.round(angle, 6)).size > 3


def test_transform_features_is_rho_of_inverse():
    t = FieldType("0 + 0- + 2", group="O2")
    angle, flip = np.array([0.3, -1.0]), np.array([True, False])
    x = torch.randn(2, t.dim, dtype=torch.float64)
    y = transform_features(x, t, angle, flip)
    for v in range(2):
        inv = np.linalg.inv(t.rho(angle[v], flip[v]))
        np.testing.assert_allclose(y[v].numpy(), inv @ x[v].numpy(), atol=1e-14)
    back = transform_features(y, t, np.zeros(2), np.zeros(2, bool))
    torch.testing.assert_close(back, y)


def test_identity_transporters_numpy_and_torch():
    g = preprocess(shapes.mobius(n_length=12, n_width=3))
    for geo in (g, g.to_torch(torch.float64)):
        broken = identity_transporters(geo)
        assert float(abs(broken.transport_angle).max()) == 0 and not bool(broken.transport_flip.any())
        assert broken.log_theta is geo.log_theta


def test_checker_catches_a_non_equivariant_model():
    g = preprocess(shapes.disc(n_rings=2))
    t = FieldType("0 + 1")

    def leaks_angles(x, geometry):  # adds the raw gauge angle of the first edge: not equivariant
        return x + geometry.log_theta[0]

    assert check_gauge_equivariance(leaks_angles, g, t, t) > 1e-3
    assert check_gauge_equivariance(lambda x, geometry: 2 * x, g, t, t) < 1e-14
    assert check_gauge_equivariance(lambda x, geometry: x.sum(), g, FieldType("2x0"), None) < 1e-12


def test_random_isometry_preserves_intrinsic_geometry():
    mesh = shapes.torus(n_major=8, n_minor=4)
    moved, perm = random_isometry(mesh, 0)
    g0, g1 = preprocess(mesh), preprocess(moved)
    np.testing.assert_allclose(np.sort(g0.log_r), np.sort(g1.log_r), atol=1e-12)
    np.testing.assert_allclose(g1.vertex_area, g0.vertex_area[perm], atol=1e-12)
    assert not np.allclose(moved.vertices, mesh.vertices[perm])
    assert check_isometry_invariance(lambda x, g: g.vertex_area[:, None] * x, mesh) < 1e-12
