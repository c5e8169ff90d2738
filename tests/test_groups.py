"""FieldType (parsing, representation matrices, irreps decomposition, geometry checks) and O(2) helpers."""

import numpy as np
import pytest

from gaugeconv import preprocess, shapes
from gaugeconv.groups import FieldType, o2_compose, o2_inverse, o2_matrix

GROUP_TYPES = [
    FieldType("3x0 + 2x1 + 2 + 3", group="SO2"),
    FieldType("2x0 + 2x0- + 1 + 2x3", group="O2"),
    FieldType("2x0 + 2xreg + 1", group="C1"),
    FieldType("0 + 2xreg", group="C2"),
    FieldType("2xreg + 2", group="C5"),
    FieldType("0 + reg", group="C6"),
    FieldType("2x0 + 2x0- + 2xreg", group="D1"),
    FieldType("0- + reg", group="D2"),
    FieldType("reg + 1", group="D3"),
    FieldType("0 + 0- + 2xreg", group="D4"),
    FieldType("reg", group="D6"),
]


def random_elements(ftype, rng, n=20):
    if ftype.order:
        angle = 2 * np.pi * rng.integers(0, ftype.order, n) / ftype.order
    else:
        angle = rng.uniform(-np.pi, np.pi, n)
    flip = rng.integers(0, 2, n).astype(bool) & ftype.has_reflections
    return angle, flip


@pytest.mark.parametrize(
    "spec, group, dim",
    [
        ("16x0 + 8x1 + 4x2", "SO2", 40),
        ("4x0 + 2x0- + 3x1", "O2", 12),
        ("8xreg", "C6", 48),
        ("4x0 + 4xreg", "D4", 36),
        ("2x0 + 2x0- + 2xreg", "D1", 8),
        ("0 + 1", "SO2", 3),
        (" 2 x 3 ", "SO2", 4),
    ],
)
def test_parse_dim_and_round_trip(spec, group, dim):
    t = FieldType(spec, group=group)
    assert t.dim == dim
    assert t.group == group
    assert eval(repr(t)) == t
    assert FieldType(str(t), group=group) == t
    assert hash(FieldType(str(t), group=group)) == hash(t)


def test_fields_and_iteration():
    t = FieldType("2x0 + 0- + 1 + reg", group="D3")
    assert t.fields == ((2, "0"), (1, "0-"), (1, "1"), (1, "reg"))
    assert list(t) == [("0", 0, 1), ("0", 1, 1), ("0-", 2, 1), ("1", 3, 2), ("reg", 5, 6)]
    assert t.max_order == 1 and t.order == 3 and t.has_reflections


def test_add():
    assert FieldType("4x0") + FieldType("2x1") == FieldType("4x0 + 2x1")
    assert FieldType("4x0") != FieldType("4x0", group="O2")
    with pytest.raises(ValueError, match="cannot add"):
        FieldType("4x0") + FieldType("4x0", group="O2")


@pytest.mark.parametrize(
    "spec, group",
    [
        ("", "SO2"),
        ("4x", "SO2"),
        ("4y1", "SO2"),
        ("0x1", "SO2"),
        ("-1", "SO2"),
        ("4x0-", "SO2"),
        ("2x0-", "C4"),
        ("reg", "SO2"),
        ("reg", "O2"),
        ("1 + + 2", "SO2"),
        ("1", "SO3"),
        ("1", "C0"),
        ("1", "D"),
    ],
)
def test_bad_specs_raise(spec, group):
    with pytest.raises(ValueError):
        FieldType(spec, group=group)


@pytest.mark.parametrize("ftype", GROUP_TYPES, ids=lambda t: f"{t.group}:{t}")
def test_rho_is_orthogonal_representation(ftype):
    rng = np.random.default_rng(0)
    a1, f1 = random_elements(ftype, rng)
    a2, f2 = random_elements(ftype, rng)
    a12, f12 = o2_compose(a1, f1, a2, f2)
    r1, r2, r12 = ftype.rho(a1, f1), ftype.rho(a2, f2), ftype.rho(a12, f12)
    assert r1.shape == (20, ftype.dim, ftype.dim)
    np.testing.assert_allclose(r1 @ r2, r12, atol=1e-12)
    np.testing.assert_allclose(r1 @ np.swapaxes(r1, -1, -2), np.broadcast_to(np.eye(ftype.dim), r1.shape), atol=1e-12)
    np.testing.assert_allclose(ftype.rho(0.0), np.eye(ftype.dim), atol=1e-15)
    ai, fi = o2_inverse(a1, f1)
    np.testing.assert_allclose(ftype.rho(ai, fi), np.swapaxes(r1, -1, -2), atol=1e-12)


def test_irrep_and_sign_conventions():
    t = FieldType("0 + 0- + 2", group="O2")
    r = t.rho(0.3, True)
    np.testing.assert_allclose(r[0, 0], 1.0)
    np.testing.assert_allclose(r[1, 1], -1.0)
    np.testing.assert_allclose(r[2:, 2:], o2_matrix(0.6, True))


def test_regular_conventions():
    c = FieldType("reg", group="C6").rho(2 * 2 * np.pi / 6)
    x = np.arange(6.0)
    np.testing.assert_array_equal(c @ x, np.roll(x, 2))  # channel i -> i + 2
    d = FieldType("reg", group="D4")
    x = np.arange(8.0)
    y = d.rho(np.pi / 2) @ x  # rotation: both halves shift forward by one
    np.testing.assert_array_equal(y, np.concatenate([np.roll(x[:4], 1), np.roll(x[4:], 1)]))
    y = d.rho(0.0, True) @ x  # F: channel (i, f) -> (-i, 1 - f)
    for i in range(4):
        for f in range(2):
            assert y[(-i) % 4 + 4 * (1 - f)] == x[i + 4 * f]
    np.testing.assert_array_equal(FieldType("reg", group="D1").rho(0.0, True), [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    "ftype, angle, flip",
    [
        (FieldType("1"), 0.0, True),
        (FieldType("reg", group="C4"), 0.1, False),
        (FieldType("reg", group="C4"), np.pi / 2, True),
        (FieldType("reg", group="D3"), np.pi / 2, False),
    ],
)
def test_rho_rejects_non_elements(ftype, angle, flip):
    with pytest.raises(ValueError):
        ftype.rho(angle, flip)


@pytest.mark.parametrize("ftype", GROUP_TYPES, ids=lambda t: f"{t.group}:{t}")
def test_to_irreps_intertwines(ftype):
    irreps, q = ftype.to_irreps()
    assert irreps.group == ("O2" if ftype.has_reflections else "SO2")
    assert q.shape == (irreps.dim, ftype.dim)
    np.testing.assert_allclose(q.T @ q, np.eye(ftype.dim), atol=1e-12)
    rng = np.random.default_rng(1)
    angle, flip = random_elements(ftype, rng)
    np.testing.assert_allclose(irreps.rho(angle, flip) @ q, q @ ftype.rho(angle, flip), atol=1e-12)


def test_to_irreps_breaks_for_wrong_group_elements():
    """Control for the intertwiner test: a rotation outside C_4 is not intertwined."""
    irreps, q = FieldType("reg", group="C4").to_irreps()
    perm = FieldType("reg", group="C4").rho(np.pi / 2)
    assert np.abs(irreps.rho(np.pi / 2) @ q - q @ perm).max() < 1e-12
    assert np.abs(irreps.rho(np.pi / 4) @ q - q @ perm).max() > 0.1


@pytest.fixture(scope="module")
def mobius():
    return preprocess(shapes.mobius(n_length=24, n_width=5))


@pytest.fixture(scope="module")
def aligned_plane():
    """A flat grid whose gauges all point along x: every transporter is the identity."""
    g = preprocess(shapes.plane(nx=5, ny=4))
    x = np.array([1.0, 0.0, 0.0])
    angle = np.arctan2(g.frames[:, 1] @ x, g.frames[:, 0] @ x)
    flip = g.frames[:, 2, 2] < 0
    return g.gauge_transform(angle, flip)


def test_check_geometry_orientability(mobius):
    with pytest.raises(ValueError, match="structure group is O2"):
        FieldType("2x0 + 1").check_geometry(mobius)
    with pytest.raises(ValueError, match="structure group is O2"):
        FieldType("reg", group="C4").check_geometry(mobius)
    FieldType("2x0 + 1", group="O2").check_geometry(mobius)
    FieldType("2x0 + 1", group="O2").check_geometry(mobius.to_torch())


def test_check_geometry_finite_groups(aligned_plane, mobius):
    assert np.abs(aligned_plane.transport_angle).max() < 1e-9
    FieldType("reg", group="C4").check_geometry(aligned_plane)
    FieldType("reg", group="D4").check_geometry(aligned_plane)
    rotated = aligned_plane.gauge_transform(
        np.full(aligned_plane.n_vertices, 0.0) + np.arange(aligned_plane.n_vertices)
    )
    with pytest.raises(ValueError, match="multiples of 2\\*pi/4"):
        FieldType("reg", group="C4").check_geometry(rotated)
    with pytest.raises(ValueError, match="multiples"):
        FieldType("reg", group="D4").check_geometry(mobius)


def test_o2_helpers_match_matrices():
    rng = np.random.default_rng(2)
    a1, a2 = rng.uniform(-4, 4, (2, 10))
    f1, f2 = rng.integers(0, 2, (2, 10)).astype(bool)
    a, f = o2_compose(a1, f1, a2, f2)
    np.testing.assert_allclose(o2_matrix(a, f), o2_matrix(a1, f1) @ o2_matrix(a2, f2), atol=1e-12)
    ai, fi = o2_inverse(a1, f1)
    np.testing.assert_allclose(
        o2_matrix(ai, fi) @ o2_matrix(a1, f1), np.broadcast_to(np.eye(2), (10, 2, 2)), atol=1e-12
    )
