"""Grid fast path of the Möbius strip: seam padding, shifts along the strip, MobiusConv."""

import numpy as np
import pytest
import torch

from gaugeconv.groups import FieldType
from gaugeconv.mobius import MobiusConv, check_strip_type, mirror, periodic_pad, seam_pad, shift, unroll

W, L = 5, 6  # rows across, columns along

TYPES = {
    "trivial": FieldType("3x0", group="D1"),
    "sign": FieldType("2x0-", group="D1"),
    "regular": FieldType("2xreg", group="D1"),
    "mixed": FieldType("1x0 + 2x0- + 1xreg", group="D1"),
    "irreps": FieldType("1x0 + 1x0- + 1x1 + 1x2", group="O2"),
}
PAIRS = [
    ("trivial", "sign"),
    ("sign", "regular"),
    ("regular", "regular"),
    ("mixed", "mixed"),
    ("irreps", "irreps"),
    ("trivial", "irreps"),
]


def seam(t):
    """The field type: the strip helpers apply its seam action rho(F) through FieldType.act."""
    return t


def rho_f(t):
    """rho(F) of a field type as a matrix, (C, C)."""
    return torch.as_tensor(t.rho(0.0, True))


def random_conv(t_in, t_out, k):
    torch.manual_seed(0)
    conv = MobiusConv(t_in, t_out, kernel_size=k).double()
    with torch.no_grad():
        if conv.bias is not None and conv.bias.numel():
            conv.bias.normal_()  # non-zero biases
    return conv


@pytest.fixture
def features():
    def make(t, width=W, length=L, batch=2):
        gen = torch.Generator().manual_seed(1)
        return torch.randn(batch, t.dim, width, length, generator=gen, dtype=torch.float64)

    return make


@pytest.mark.parametrize(
    "name, diagonal, swaps",
    [
        ("trivial", [1, 1, 1], 0),
        ("sign", [-1, -1], 0),
        ("regular", [0, 0, 0, 0], 2),
        ("irreps", [1, -1, 1, -1, 1, -1], 0),
    ],
)
def test_seam_action(name, diagonal, swaps, features):
    """The seam reflection acts as rho(F): trivial 1, sign -1, regular fields swap their pair, O(2)
    irreps diag(1, -1); mirror() reverses the rows and applies it (through FieldType.act)."""
    t = TYPES[name]
    a = t.rho(0.0, True)
    np.testing.assert_array_equal(np.diag(a), diagonal)
    assert np.count_nonzero(a - np.diag(np.diag(a))) == 2 * swaps
    np.testing.assert_array_equal(a @ a, np.eye(len(a)))
    x = features(t)
    torch.testing.assert_close(mirror(x, t), torch.einsum("dc,bcwl->bdwl", rho_f(t), x.flip(-2)), rtol=0, atol=0)


@pytest.mark.parametrize("group, spec", [("SO2", "2x0 + 1x1"), ("C4", "1xreg"), ("D2", "1xreg")])
def test_strip_types_need_the_flip_group(group, spec):
    with pytest.raises(ValueError, match="Möbius"):
        check_strip_type(FieldType(spec, group=group))
    with pytest.raises(ValueError, match="Möbius"):
        MobiusConv(FieldType(spec, group=group), TYPES["trivial"])


def test_shifts_form_the_strip_isometry_group(features):
    t = TYPES["mixed"]
    a, x = seam(t), features(t)
    torch.testing.assert_close(shift(x, a, 2 * L), x, rtol=0, atol=0)
    torch.testing.assert_close(shift(x, a, 0), x, rtol=0, atol=0)
    # a shift by L is the mirror across the centre line, with rho(F) on the fields
    mirrored = torch.einsum("dc,bcwl->bdwl", rho_f(t), x.flip(-2))
    torch.testing.assert_close(shift(x, a, L), mirrored, rtol=0, atol=0)
    for s1, s2 in [(1, 2), (4, 5), (-3, 7), (11, -2)]:
        torch.testing.assert_close(shift(shift(x, a, s1), a, s2), shift(x, a, s1 + s2), rtol=0, atol=0)
    # one step moves column i to i + 1; the last column crosses the seam to column 0, mirrored
    y = shift(x, a, 1)
    torch.testing.assert_close(y[..., 1:], x[..., :-1], rtol=0, atol=0)
    torch.testing.assert_close(y[..., 0], torch.einsum("dc,bcw->bdw", rho_f(t), x[..., -1].flip(-1)), rtol=0, atol=0)


def test_seam_pad_matches_mesh_gluing(features):
    """Column L-1 is glued to column 0 with j -> W-1-j (gaugeconv.shapes.mobius)."""
    t = TYPES["sign"]
    a, x = seam(t), features(t)
    p = seam_pad(x, a, along=2, across=1)
    assert p.shape == (2, t.dim, W + 2, L + 4)
    torch.testing.assert_close(p[:, :, 1:-1, 2:-2], x)
    assert torch.all(p[:, :, 0] == 0) and torch.all(p[:, :, -1] == 0)
    # right of column L-1 comes column 0, row W-1-j, negated (sign-flip fields)
    torch.testing.assert_close(p[:, :, 1:-1, L + 2], -x[..., 0].flip(-1))
    torch.testing.assert_close(p[:, :, 1:-1, 1], -x[..., L - 1].flip(-1))
    torch.testing.assert_close(unroll(x, a, torch.tensor([2 * L + 3]))[..., 0], x[..., 3])


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("t_in, t_out", PAIRS)
def test_conv_commutes_with_every_shift(t_in, t_out, k, features):
    t_in, t_out = TYPES[t_in], TYPES[t_out]
    conv = random_conv(t_in, t_out, k)
    a_in, a_out = seam(t_in), seam(t_out)
    x = features(t_in)
    y = conv(x)
    errors = {s: (conv(shift(x, a_in, s)) - shift(y, a_out, s)).abs().max().item() for s in range(-L, 2 * L + 1)}
    assert max(errors.values()) < 1e-10, errors


@pytest.mark.parametrize("t_in, t_out", PAIRS)
def test_conv_commutes_with_a_global_gauge_flip(t_in, t_out, features):
    """On the one chart, the only gauge transformations that keep the grid are the global flip
    (e2 -> -e2 everywhere: rows reversed, rho(F) on the fields) and moving the cut (a shift)."""
    t_in, t_out = TYPES[t_in], TYPES[t_out]
    conv = random_conv(t_in, t_out, 3)
    a_in, a_out = seam(t_in), seam(t_out)
    x = features(t_in)
    flipped = torch.einsum("dc,bcwl->bdwl", rho_f(t_in), x.flip(-2))
    expect = torch.einsum("dc,bcwl->bdwl", rho_f(t_out), conv(x).flip(-2))
    assert (conv(flipped) - expect).abs().max().item() < 1e-10
    # moving the cut to column c: the new chart is unrolled columns c .. c+L-1
    for c in (2, L - 1, L + 3):
        cols = torch.arange(c, c + L)
        err = (conv(unroll(x, a_in, cols)) - unroll(conv(x), a_out, cols)).abs().max().item()
        assert err < 1e-10


@pytest.mark.parametrize("t_in, t_out", [("trivial", "trivial"), ("regular", "regular"), ("mixed", "irreps")])
def test_negative_control_periodic_padding_breaks_shift_equivariance(t_in, t_out, features):
    t_in, t_out = TYPES[t_in], TYPES[t_out]
    conv = random_conv(t_in, t_out, 3)
    a_in, a_out = seam(t_in), seam(t_out)
    x = features(t_in)

    def naive(z):
        return torch.nn.functional.conv2d(periodic_pad(z, 1, 1), conv.kernel(), conv.bias_vector())

    # every shift other than 0 and L (the global mirror, which the constrained kernel respects)
    # moves some column across the seam
    shifts = [s for s in range(1, 2 * L) if s != L]
    errors = [(naive(shift(x, a_in, s)) - shift(naive(x), a_out, s)).abs().max().item() for s in shifts]
    assert min(errors) > 1e-3, errors
    # the same kernel with the seam padding is equivariant (the control isolates the padding)
    assert (conv(shift(x, a_in, 1)) - shift(conv(x), a_out, 1)).abs().max().item() < 1e-10


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("t_in, t_out", PAIRS)
def test_kernel_is_constrained_and_complete(t_in, t_out, k):
    """The parametrisation spans exactly the kernels with K(-dy) = rho_out(F) K(dy) rho_in(F)."""
    t_in, t_out = TYPES[t_in], TYPES[t_out]
    conv = MobiusConv(t_in, t_out, kernel_size=k, bias=False).double()
    a_in, a_out = t_in.rho(0.0, True), t_out.rho(0.0, True)
    n = conv.weight.numel()
    size = t_out.dim * t_in.dim * k * k
    images = np.zeros((n, size))  # the kernel is linear in the weights: the image of each unit weight
    with torch.no_grad():
        for b in range(n):
            conv.weight.zero_()[b] = 1.0
            images[b] = conv.kernel().reshape(-1).numpy()
        conv.weight.zero_()
        assert torch.all(conv.kernel() == 0)
    kernel = images.reshape(n, t_out.dim, t_in.dim, k, k)
    mirrored = np.einsum("po,noiab,iq->npqab", a_out, kernel, a_in)[:, :, :, ::-1]
    np.testing.assert_allclose(mirrored, kernel, atol=1e-12)
    assert n == 0 or np.linalg.matrix_rank(images) == n  # no redundant parameter
    # dimension of the constrained space = (N + trace of the constraint map) / 2
    dim = (size + np.trace(a_out) * np.trace(a_in) * k) / 2
    assert n == dim


def test_bias_is_invariant_and_absent_on_sign_fields():
    conv = MobiusConv(TYPES["trivial"], TYPES["mixed"]).double()
    with torch.no_grad():
        conv.bias.normal_()
    b = conv.bias_vector()
    torch.testing.assert_close(rho_f(TYPES["mixed"]) @ b, b)
    assert b[1].item() == 0 and b[2].item() == 0  # the two 0- fields
    assert conv.bias.numel() == 2  # trivial field + symmetric part of the regular field


def test_bad_input_raises():
    with pytest.raises(ValueError, match="odd"):
        MobiusConv(TYPES["trivial"], TYPES["sign"], kernel_size=4)
    conv = MobiusConv(TYPES["trivial"], TYPES["sign"])
    with pytest.raises(ValueError, match="expected features"):
        conv(torch.zeros(1, 2, W, L))
    with pytest.raises(ValueError, match="D1"):
        MobiusConv(FieldType("2x0"), TYPES["sign"])
    assert "2x0- -> " in repr(MobiusConv(TYPES["sign"], TYPES["trivial"]))
