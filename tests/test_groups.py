"""FieldType (parsing, representation matrices, irreps decomposition, geometry checks) and O(2) helpers."""

import numpy as np
import pytest
import torch

from gaugeconv.groups import Field, FieldType, o2_compose, o2_inverse, o2_matrix

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
    assert t.layout == tuple(t) and all(isinstance(f, Field) for f in t)
    assert t.max_order == 1 and t.order == 3 and t.has_reflections


def test_layout_api():
    t = FieldType("2x0 + 0- + 1 + reg + 3", group="D3")
    assert t.n_fields == 6
    assert t.slices == (slice(0, 1), slice(1, 2), slice(2, 3), slice(3, 5), slice(5, 11), slice(11, 13))
    assert [f.order for f in t] == [0, 0, 0, 1, None, 3]
    np.testing.assert_array_equal(t.field_of_channel, [0, 1, 2, 3, 3] + [4] * 6 + [5, 5])
    np.testing.assert_array_equal(np.flatnonzero(t.mask("0")), [0, 1])
    np.testing.assert_array_equal(np.flatnonzero(t.mask("0-")), [2])
    np.testing.assert_array_equal(np.flatnonzero(t.mask("3")), [11, 12])
    np.testing.assert_array_equal(np.flatnonzero(t.mask("irrep")), [3, 4, 11, 12])
    np.testing.assert_array_equal(np.flatnonzero(t.mask("0", "reg")), [0, 1, 5, 6, 7, 8, 9, 10])
    np.testing.assert_array_equal(t.channels("irrep"), [[3, 4], [11, 12]])
    np.testing.assert_array_equal(t.irrep_orders, [1, 3])
    np.testing.assert_array_equal(t.channels("reg"), [np.arange(5, 11)])
    assert t.channels("2").shape == (0, 2)
    for array in (t.field_of_channel, t.mask("0"), t.channels("irrep"), t.irrep_orders):
        assert not array.flags.writeable  # cached on the immutable type: read-only
    x = np.arange(t.dim)
    assert [list(x[s]) for s in t.slices][3] == [3, 4]


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


def test_check_geometry_orientability(mobius_geometry):
    mobius = mobius_geometry
    with pytest.raises(ValueError, match="structure group is O2"):
        FieldType("2x0 + 1").check_geometry(mobius)
    with pytest.raises(ValueError, match="structure group is O2"):
        FieldType("reg", group="C4").check_geometry(mobius)
    FieldType("2x0 + 1", group="O2").check_geometry(mobius)
    FieldType("2x0 + 1", group="O2").check_geometry(mobius.to_torch())


def test_check_geometry_finite_groups(aligned_plane, mobius_geometry):
    mobius = mobius_geometry
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


# ---------------------------------------------------------------------------------------- act
def _elements(ftype, shape, seed):
    rng = np.random.default_rng(seed)
    angle, flip = random_elements(ftype, rng, n=int(np.prod(shape)))
    return angle.reshape(shape), flip.reshape(shape)


@pytest.mark.parametrize("ftype", GROUP_TYPES, ids=lambda t: f"{t.group}:{t}")
@pytest.mark.parametrize("layout", ["channels-last", "channels-first", "grid"])
def test_act_equals_rho(ftype, layout):
    """act(x, angle, flip, dim) is rho(R(angle) F**flip) on the channel axis, one element per position."""
    x = torch.randn(3, 7, ftype.dim, dtype=torch.float64)
    angle, flip = _elements(ftype, (7,), 0)
    expected = torch.einsum("vij,bvj->bvi", torch.as_tensor(ftype.rho(angle, flip)), x)
    f = flip if ftype.has_reflections else None
    if layout == "channels-last":
        y = ftype.act(x, angle, f)
    elif layout == "channels-first":  # (B, C, V), e.g. an icosahedral atlas tensor
        y = ftype.act(x.transpose(1, 2), torch.as_tensor(angle), f, dim=1).transpose(1, 2)
    else:  # (B, C, W, L) strip maps with one element per column
        grid = x.transpose(1, 2)[:, :, None, :].expand(3, ftype.dim, 2, 7)
        y = ftype.act(grid, angle, f, dim=1)[:, :, 1].transpose(1, 2)
    torch.testing.assert_close(y, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("ftype", GROUP_TYPES, ids=lambda t: f"{t.group}:{t}")
def test_act_scalar_element_and_float32(ftype):
    angle, flip = _elements(ftype, (1,), 1)
    x = torch.randn(4, 5, ftype.dim)
    f = bool(flip[0]) if ftype.has_reflections else None
    y = ftype.act(x, float(angle[0]), f)
    expected = x @ torch.as_tensor(ftype.rho(angle[0], flip[0]), dtype=torch.float32).T
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, expected, atol=1e-6, rtol=0)


def test_act_is_a_group_action_with_gradients():
    t = FieldType("0 + 0- + 2 + reg", group="D4")
    a, f = _elements(t, (6,), 2)
    b, g = _elements(t, (6,), 3)
    ab, fg = o2_compose(a, f, b, g)
    x = torch.randn(6, t.dim, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(t.act(t.act(x, b, g), a, f), t.act(x, ab, fg), atol=1e-12, rtol=0)
    assert torch.autograd.gradcheck(lambda z: t.act(z, a, f), (x,))


def test_act_rejects_bad_input():
    with pytest.raises(ValueError, match="no reflections"):
        FieldType("1").act(torch.zeros(2), 0.0, True)
    with pytest.raises(ValueError, match="multiples of 2\\*pi/4"):
        FieldType("reg", group="C4").act(torch.zeros(4), 0.3)
    with pytest.raises(ValueError, match="3 channels"):
        FieldType("0 + 1").act(torch.zeros(2, 4), 0.3)
    x = torch.zeros(3, 2)
    assert FieldType("2x0").act(x, 1.0) is x  # trivial fields: nothing to do
