"""gaugeconv.testing: random gauges, feature transforms, the checkers themselves (they must catch errors)."""

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, preprocess, shapes
from gaugeconv.nn import GaugeConv, InvariantReadout, global_pool
from gaugeconv.testing import (
    TOLERANCE,
    assert_gauge_equivariant,
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


@pytest.mark.parametrize("as_torch", [False, True])
def test_identity_transporters_numpy_and_torch(mobius_geometry, as_torch):
    geo = mobius_geometry.to_torch(torch.float64) if as_torch else mobius_geometry
    broken = identity_transporters(geo)
    assert float(abs(broken.transport_angle).max()) == 0 and not bool(broken.transport_flip.any())
    assert broken.log_theta is geo.log_theta
    assert float(abs(geo.transport_angle).max()) > 0.1  # the original is untouched


def test_checker_catches_a_non_equivariant_model(disc_geometry):
    g = disc_geometry
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


class _Invariant(torch.nn.Module):
    """conv -> readout -> mean over the mesh: an invariant (G, C) output; says so by out_type = None."""

    def __init__(self, in_type):
        super().__init__()
        self.in_type, self.out_type = in_type, None
        self.conv = GaugeConv(in_type, FieldType("2x0 + 2x1", group=in_type.group))
        self.readout = InvariantReadout(self.conv.out_type)

    def forward(self, x, geometry):
        return global_pool(self.readout(self.conv(x, geometry)), geometry)


def test_assert_gauge_equivariant_reads_the_field_types(mobius_geometry):
    t_in, t_out = FieldType("0 + 0- + 1", group="O2"), FieldType("2x0 + 2", group="O2")
    conv = GaugeConv(t_in, t_out).double()
    err = assert_gauge_equivariant(conv, mobius_geometry)  # types from conv.in_type / conv.out_type
    assert 0 <= err <= TOLERANCE[torch.float64]
    assert assert_gauge_equivariant(_Invariant(t_in).double(), mobius_geometry, batch=2) <= TOLERANCE[torch.float64]
    assert_gauge_equivariant(conv.float(), mobius_geometry, dtype=torch.float32)


def test_assert_gauge_equivariant_raises_with_the_error(mobius_geometry, disc_geometry):
    conv = GaugeConv(FieldType("0 + 1"), FieldType("0 + 1")).double()
    with pytest.raises(AssertionError, match=r"error \d\.\d+e[-+]\d+ exceeds the torch.float64 tolerance 1e-10"):
        assert_gauge_equivariant(conv, disc_geometry, corrupt=identity_transporters)
    with pytest.raises(AssertionError, match="invariance error"):  # a vector output read as invariant
        assert_gauge_equivariant(conv, disc_geometry, out_type=None)
    with pytest.raises(ValueError, match="in_type"):
        assert_gauge_equivariant(lambda x, g: x, disc_geometry)
    with pytest.raises(ValueError, match="structure group is O2"):  # an SO2 model on the Möbius strip
        assert_gauge_equivariant(conv, mobius_geometry)
