"""The one steerable-kernel solver (gaugeconv.nn.kernel): its bases solve the constraint and span
its whole null space (dimension by SVD) for the mesh, icosahedral and Möbius constraints and the
biases; readable bases; the same parameter counts as the three solvers it replaced."""

import numpy as np
import pytest
import torch

from gaugeconv import FieldType
from gaugeconv.groups import group_elements
from gaugeconv.ico import IcoAtlas, IcoConv, kernel_basis
from gaugeconv.mobius import MobiusConv, mirror_kernel_basis
from gaugeconv.nn import GaugeConv
from gaugeconv.nn.kernel import intertwiner_basis, invariant_basis, tile_basis


def null_space_dim(rho_a, rho_b):
    """Dimension of {W : W rho_a(g) = rho_b(g) W for all sampled g}, by SVD (row-major vec(W))."""
    a, b = rho_a.shape[-1], rho_b.shape[-1]
    rows = [np.kron(np.eye(b), ra.T) - np.kron(rb, np.eye(a)) for ra, rb in zip(rho_a, rho_b)]
    sv = np.linalg.svd(np.concatenate(rows), compute_uv=False)
    return a * b - int(np.sum(sv > 1e-9 * max(sv[0], 1.0)))


def check_basis(basis, rho_a, rho_b):
    """Every element solves the constraint, they are independent, and they span the null space."""
    n = len(basis)
    for w in basis:
        np.testing.assert_allclose(w @ rho_a, rho_b @ w, atol=1e-12)  # (G, B, A) for every element g
    assert n == 0 or np.linalg.matrix_rank(basis.reshape(n, -1), tol=1e-9) == n
    assert n == null_space_dim(rho_a, rho_b)
    # readable: each element's largest entry is 1, rounding residue is an exact zero
    if n:
        assert np.allclose(np.abs(basis).reshape(n, -1).max(1), 1.0)
        assert np.all((basis == 0) | (np.abs(basis) > 1e-12))


def random_elements(group, n, seed):
    rng = np.random.default_rng(seed)
    probe = FieldType("0", group=group)
    angle = 2 * np.pi * rng.integers(0, probe.order, n) / probe.order if probe.order else rng.uniform(-4, 4, n)
    return angle, rng.integers(0, 2, n).astype(bool) & probe.has_reflections


PAIRS = [
    ("SO2", "2", "1 + 3"),
    ("O2", "0 + 0- + 1", "0- + 2"),
    ("C4", "reg", "0 + reg + 2"),
    ("D3", "reg + 0-", "reg + 1"),
    ("D1", "reg + 0-", "0 + reg"),
    ("C6", "reg + 3", "reg + 1 + 6"),
]


@pytest.mark.parametrize("group, spec_a, spec_b", PAIRS)
def test_intertwiners_span_the_null_space(group, spec_a, spec_b):
    """Field type to field type (the self-interaction), averaged over the group's own elements;
    checked on random elements of the group (C_M with M above the frequencies covers SO2 / O2)."""
    a, b = FieldType(spec_a, group=group), FieldType(spec_b, group=group)
    basis = intertwiner_basis(*(t.rho(*group_elements(group, top=a.max_order + b.max_order)) for t in (a, b)))
    angle, flip = random_elements(group, 12, 0)
    check_basis(basis, a.rho(angle, flip), b.rho(angle, flip))


def test_group_average_is_exact_above_the_frequencies():
    """C_M with M = top + 1 gives the SO(2) solution space; fewer rotations admit spurious maps."""
    a, b = FieldType("1 + 2"), FieldType("1 + 3")
    angle, _ = random_elements("SO2", 16, 1)
    for top, exact in ((a.max_order + b.max_order, True), (2, False)):
        basis = intertwiner_basis(*(t.rho(*group_elements("SO2", top)) for t in (a, b)))
        residual = max(np.abs(w @ a.rho(angle) - b.rho(angle) @ w).max() for w in basis)
        assert (residual < 1e-12) == exact


def test_invariant_basis_is_the_bias_rule():
    """Invariant vectors: trivial fields, the constant of a regular field, an irrep of order N under C_N."""
    t = FieldType("0 + 0- + reg + 1 + 4", group="D4")  # channels 0 | 1 | 2..9 | 10, 11 | 12, 13
    basis = invariant_basis(t.rho(*group_elements("D4")))
    expected = np.zeros((3, t.dim))
    expected[0, 0] = 1.0  # the trivial field
    expected[1, 2:10] = 1.0  # the constant vector over the 8 channels of the D4 regular field
    expected[2, 12] = 1.0  # rho_4 of D4: rotations act trivially, F as diag(1, -1)
    np.testing.assert_array_equal(basis, expected)
    c4 = FieldType("0 + 4 + 2", group="C4")
    basis = invariant_basis(c4.rho(*group_elements("C4")))
    np.testing.assert_array_equal(basis, [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 0, 0]])


KINDS_C6 = ["0", "1", "2", "3", "reg"]


@pytest.mark.parametrize("out_kind", KINDS_C6)
@pytest.mark.parametrize("in_kind", KINDS_C6)
def test_hexagonal_kernels_span_the_null_space(out_kind, in_kind):
    """ico: rho_a = (C6 on the 7 taps) (x) rho_in, rho_b = rho_out."""
    from gaugeconv.ico.conv import TAP_ACTION

    basis = kernel_basis(out_kind, in_kind)  # (n, d_out, d_in, 7)
    r_in = FieldType(in_kind, group="C6").rho(*group_elements("C6"))
    r_out = FieldType(out_kind, group="C6").rho(*group_elements("C6"))
    taps = np.zeros((6, 7, 7))  # the rotation by 60 j degrees moves tap t to TAP_ACTION^j(t)
    moved = np.arange(7)
    for j in range(6):
        taps[j, moved, np.arange(7)] = 1.0
        moved = TAP_ACTION[moved]
    rho_a = np.einsum("gyi,gst->gysit", r_in, taps).reshape(6, -1, r_in.shape[-1] * 7)
    check_basis(basis.reshape(len(basis), r_out.shape[-1], rho_a.shape[-1]), rho_a, r_out)


KINDS_STRIP = ["0", "0-", "reg", "1", "2"]


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("out_kind", KINDS_STRIP)
@pytest.mark.parametrize("in_kind", KINDS_STRIP)
def test_mirror_kernels_span_the_null_space(out_kind, in_kind, k):
    """Möbius: rho_a = (mirror of the k x k taps across the width) (x) rho_in(F), rho_b = rho_out(F)."""
    basis = mirror_kernel_basis(out_kind, in_kind, k)  # (n, d_out, d_in, k, k)

    def rho(kind):
        return FieldType(kind, group="D1" if kind == "reg" else "O2").rho(np.zeros(2), np.array([False, True]))

    r_in, r_out = rho(in_kind), rho(out_kind)
    mirror = np.eye(k * k).reshape(k, k, k * k)[::-1].reshape(k * k, k * k)  # row dy -> -dy
    rho_a = np.einsum("gyi,gst->gysit", r_in, np.stack([np.eye(k * k), mirror])).reshape(2, -1, len(r_in[0]) * k * k)
    check_basis(basis.reshape(len(basis), r_out.shape[-1], rho_a.shape[-1]), rho_a, r_out)


AGGREGATES = [(kind, n) for kind in ("0", "0-", "1", "2") for n in (0, 1, -2, 3, -3) if kind in ("1", "2") or n >= 0]


@pytest.mark.parametrize("kind_in, n", AGGREGATES)
def test_mesh_aggregate_representation(kind_in, n):
    """The moment S = sum w e^{i (n theta + l alpha)} conj^f(z) of an order-l input transforms under
    a gauge change at p like the irrep of order l + n: checked on the formula itself."""
    from gaugeconv.nn.kernel import _aggregate_rho, _parts

    order = int(kind_in.rstrip("-"))  # real inputs (order 0) use n >= 0 only: S_-n = conj(S_n)
    rng = np.random.default_rng(2)
    theta, alpha, flip = rng.uniform(-3, 3, 5), rng.uniform(-3, 3, 5), rng.integers(0, 2, 5).astype(bool)
    z = rng.normal(size=5) + 1j * (rng.normal(size=5) if order else 0)
    w = rng.uniform(0.5, 1, 5)
    sigma = np.where(flip, -1.0, 1.0) if kind_in == "0-" else 1.0

    def moment(theta, alpha, flip):
        return np.sum(w * np.exp(1j * (n * theta + order * alpha)) * np.where(flip, np.conj(z), z) * sigma)

    for h_angle, h_flip in ((0.7, False), (-1.1, True)):
        # gauge change h_p = R(h_angle) F**h_flip at p: theta -> h^-1 theta, T -> h^-1 T
        sign = -1.0 if h_flip else 1.0
        theta2, alpha2, flip2 = sign * (theta - h_angle), sign * (alpha - h_angle), flip ^ h_flip
        sigma_moved = -sigma if h_flip and kind_in == "0-" else sigma  # a sign input carries T's sign
        moved = np.sum(w * np.exp(1j * (n * theta2 + order * alpha2)) * np.where(flip2, np.conj(z), z) * sigma_moved)
        s = moment(theta, alpha, flip)
        vec = np.array([s.real, s.imag])[: _parts(kind_in, n)]
        inv_angle, inv_flip = (h_angle, True) if h_flip else (-h_angle, False)
        rho = _aggregate_rho(kind_in, n, np.array([inv_angle]), np.array([inv_flip]))[0]
        np.testing.assert_allclose(np.array([moved.real, moved.imag])[: len(vec)], rho @ vec, atol=1e-12)
        assert np.isclose(abs(np.linalg.det(rho)), 1.0)


def test_tile_basis_places_one_weight_per_copy_and_element():
    """kernel[o-field, i-field] = sum_b w[(o, i, b)] basis_b, per pair of runs of fields."""
    t_in, t_out = FieldType("2x0 + reg", group="C6"), FieldType("reg + 0", group="C6")
    index, coef, count = tile_basis(t_out, t_in, kernel_basis, taps=(7,))
    assert count == 2 * 7 + 42 + 2 * 2 + 7  # (reg<-0) x2, (reg<-reg), (0<-0) x2, (0<-reg)
    w = np.random.default_rng(3).normal(size=count)
    kernel = (np.append(w, 0.0)[index] * coef).sum(-1)  # (C_out, C_in, 7)
    b = kernel_basis("reg", "0")  # the second trivial input field -> the regular output field
    start = 7  # weights of (reg <- first trivial) come first
    np.testing.assert_allclose(kernel[:6, 1:2], np.einsum("b,bxyt->xyt", w[start : start + 7], b), atol=1e-12)


#: Parameter counts of the three solvers the one solver replaced, measured at commit a834134
#: (nn/kernel.KernelPlan's hand-derived tables, ico/conv.kernel_basis, mobius/conv.reflection_basis).
OLD_COUNTS = [
    ("mesh", ("16x0 + 16x1 + 16x2", "16x0 + 16x1 + 16x2", "SO2", {"rings": 2, "band_limit": 2}), (9728, 1280, 16)),
    ("mesh", ("2x0 + 0- + 1 + 2x2 + 3", "0 + 2x0- + 2x1 + 2 + 3", "O2", {"rings": 3}), (180, 9, 1)),
    ("mesh", ("0 + 2xreg", "2xreg + 1", "C4", {}), (264, 26, 2)),
    ("mesh", ("0 + 0- + reg", "reg + 2", "D4", {"band_limit": 1}), (56, 10, 1)),
    ("ico", ("1x0 + 1x1 + 1x2 + 1x3 + 1xreg", "2x1 + 1x2 + 1xreg + 1x0", "C6", {}), (196, 2)),
    ("ico", ("2x0 + 8xreg", "8xreg", "C6", {}), (2800, 8)),
    ("mobius", ("1x0 + 2x0- + 1xreg", "1x0 + 1x0- + 2xreg", "D1", {"kernel_size": 3}), (135, 3)),
    ("mobius", ("1x0 + 1x0- + 1x1 + 1x2", "1x0 + 1x0- + 1x1 + 1x3", "O2", {"kernel_size": 5}), (450, 3)),
]


@pytest.mark.parametrize("path, args, counts", OLD_COUNTS, ids=[f"{c[0]}-{c[1][2]}" for c in OLD_COUNTS])
def test_same_parameter_counts_as_the_replaced_solvers(path, args, counts):
    spec_in, spec_out, group, kw = args
    t_in, t_out = FieldType(spec_in, group=group), FieldType(spec_out, group=group)
    if path == "mesh":
        layer = GaugeConv(t_in, t_out, **kw)
        assert (layer.weight.numel(), layer.self_weight.numel(), layer.bias.numel()) == counts
    elif path == "ico":
        layer = IcoConv(t_in, t_out, IcoAtlas(1))
        assert (layer.weight.numel(), layer.bias.numel()) == counts
    else:
        layer = MobiusConv(t_in, t_out, **kw)
        assert (layer.weight.numel(), layer.bias.numel()) == counts
    assert all(torch.isfinite(p).all() for p in layer.parameters())
