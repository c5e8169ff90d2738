"""Nonlinearities, batch norm, pooling and whole models on the Möbius strip's grid path."""

import pytest
import torch
from torch import nn

from gaugeconv.groups import FieldType
from gaugeconv.mobius import (
    MobiusBatchNorm,
    MobiusConv,
    MobiusGlobalPool,
    MobiusNonlinearity,
    MobiusPool,
    periodic_pad,
    pooled_width,
    seam_matrix,
    shift,
)

TYPES = {
    "trivial": FieldType("2x0", group="D1"),
    "sign": FieldType("2x0-", group="D1"),
    "regular": FieldType("2xreg", group="D1"),
    "mixed": FieldType("1x0 + 1x0- + 1xreg", group="D1"),
    "irreps": FieldType("1x0 + 1x0- + 1x1 + 1x3", group="O2"),
}
L = 8


def seam(t):
    return torch.as_tensor(seam_matrix(t))


def randomise(module):
    torch.manual_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))  # non-zero biases, non-unit scales
    return module.double()


def features(t, width, length=L, batch=3, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, t.dim, width, length, generator=gen, dtype=torch.float64)


def max_shift_error(f, x, a_in, a_out, shifts, out_step=1):
    y = f(x)
    return max((f(shift(x, a_in, s)) - shift(y, a_out, s // out_step)).abs().max().item() for s in shifts)


@pytest.mark.parametrize("name", list(TYPES))
@pytest.mark.parametrize("make", [MobiusNonlinearity, MobiusBatchNorm], ids=["nonlinearity", "batchnorm"])
@pytest.mark.parametrize("training", [True, False])
def test_pointwise_layers_commute_with_every_shift(name, make, training):
    t = TYPES[name]
    layer = randomise(make(t)).train(training)
    x = features(t, 5)
    if make is MobiusBatchNorm and not training:
        layer.train()(x)  # fill the running statistics
        layer.eval()
    assert max_shift_error(layer, x, seam(t), seam(t), range(-L, 2 * L + 1)) < 1e-10


def test_norm_nonlinearity_is_odd_on_sign_fields_and_not_linear():
    t = TYPES["sign"]
    layer = MobiusNonlinearity(t, bias_init=-0.5).double()
    x = features(t, 5)
    torch.testing.assert_close(layer(-x), -layer(x))
    expect = torch.sign(x) * torch.relu(x.abs() - 0.5)
    torch.testing.assert_close(layer(x), expect)


def test_batchnorm_normalises_per_field():
    t = TYPES["mixed"]
    layer = MobiusBatchNorm(t).double()
    x = 3.0 + 2.0 * features(t, 5)
    y = layer(x)
    torch.testing.assert_close(y[:, 0].mean(), torch.tensor(0.0, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close((y[:, 1] ** 2).mean(), torch.tensor(1.0, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(y[:, 2:].mean(), torch.tensor(0.0, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("width", [6, 7])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("name", list(TYPES))
def test_pooling_commutes_with_shifts_by_multiples_of_its_stride(width, mode, name):
    t = TYPES[name]
    a = seam(t)
    x = features(t, width)
    along = MobiusPool(t, along=True, across=False, mode=mode)
    both = MobiusPool(t, along=True, across=True, mode=mode)
    assert both(x).shape == (3, t.dim, pooled_width(width), L // 2)
    assert max_shift_error(along, x, a, a, range(-L, 2 * L + 1, 2), out_step=2) < 1e-10
    assert max_shift_error(both, x, a, a, range(-L, 2 * L + 1, 2), out_step=2) < 1e-10
    across = MobiusPool(t, along=False, across=True, mode=mode)
    assert max_shift_error(across, x, a, a, range(-L, 2 * L + 1)) < 1e-10
    # odd shifts do not survive pooling along (aliasing): the check above is sensitive
    assert max_shift_error(along, x, a, a, [1]) > 1e-3


def test_max_pool_keeps_sign_of_largest_magnitude():
    t = TYPES["sign"]
    x = torch.tensor([[1.0, -3.0], [2.0, 0.5]], dtype=torch.float64).view(1, 1, 2, 2).repeat(1, 2, 1, 1)
    out = MobiusPool(t, along=True, across=True)(x)
    assert out.shape == (1, 2, 1, 1) and out[0, 0, 0, 0].item() == -3.0


def test_negative_control_asymmetric_pooling_across_breaks_the_mirror():
    """With W odd, windows (2a, 2a+1) are not mapped to windows by j -> W-1-j."""
    t = TYPES["trivial"]
    a = seam(t)
    x = features(t, 7)

    def naive(z):
        return torch.nn.functional.max_pool2d(z, (2, 1), (2, 1))

    assert max_shift_error(naive, x, a, a, [L]) > 1e-3
    assert max_shift_error(MobiusPool(t, along=False, across=True), x, a, a, [L]) < 1e-10


@pytest.mark.parametrize("name", list(TYPES))
def test_global_pool_is_invariant_to_every_shift(name):
    t = TYPES[name]
    pool = MobiusGlobalPool(t)
    x = features(t, 5)
    y = pool(x)
    assert y.shape == (3, pool.n_fields)
    for s in range(-L, 2 * L + 1):
        assert (pool(shift(x, seam(t), s)) - y).abs().max().item() < 1e-12


def model(t_in, t_hidden, padding="seam"):
    layers = [
        MobiusConv(t_in, t_hidden),
        MobiusBatchNorm(t_hidden),
        MobiusNonlinearity(t_hidden),
        MobiusPool(t_hidden, along=True, across=True),
        MobiusConv(t_hidden, t_hidden, kernel_size=5),
        MobiusBatchNorm(t_hidden),
        MobiusNonlinearity(t_hidden),
        MobiusPool(t_hidden, along=True, across=True),
        MobiusConv(t_hidden, t_hidden),
    ]
    net = randomise(nn.Sequential(*layers))
    if padding == "periodic":
        for conv in net:
            if isinstance(conv, MobiusConv):
                h = conv.kernel_size // 2
                conv.forward = lambda z, c=conv, h=h: torch.nn.functional.conv2d(
                    periodic_pad(z, h, h), c.kernel(), c.bias_vector()
                )
    return net


@pytest.mark.parametrize("width", [6, 7])
@pytest.mark.parametrize("hidden", ["sign", "regular", "mixed", "irreps"])
def test_whole_model_commutes_with_shifts_by_multiples_of_total_stride(width, hidden):
    t_in, t_h = TYPES["trivial"], TYPES[hidden]
    net = model(t_in, t_h)
    pool = MobiusGlobalPool(t_h)
    x = features(t_in, width, length=2 * L)  # total stride 4 along: 16 -> 4 columns
    shifts = range(-2 * L, 4 * L + 1, 4)
    assert max_shift_error(net, x, seam(t_in), seam(t_h), shifts, out_step=4) < 1e-10
    y = pool(net(x))
    for s in shifts:
        assert (pool(net(shift(x, seam(t_in), s))) - y).abs().max().item() < 1e-10
    # negative control: the same model with naive periodic padding is not invariant
    naive = model(t_in, t_h, padding="periodic")
    y = pool(naive(x))
    errors = [(pool(naive(shift(x, seam(t_in), s))) - y).abs().max().item() for s in (4, 8, 12)]
    assert max(errors) > 1e-3


def test_pool_bad_input():
    t = TYPES["trivial"]
    with pytest.raises(ValueError, match="even length"):
        MobiusPool(t)(features(t, 5, length=7))
    with pytest.raises(ValueError, match="mode"):
        MobiusPool(t, mode="median")
    with pytest.raises(ValueError, match="expected features"):
        MobiusGlobalPool(t)(torch.zeros(1, 3, 5, 8))


@pytest.mark.parametrize("make", [MobiusNonlinearity, MobiusBatchNorm, MobiusGlobalPool, MobiusPool])
def test_layers_reject_wrong_channel_counts(make):
    with pytest.raises(ValueError, match="expected features"):
        make(TYPES["mixed"])(torch.zeros(1, 2, 5, 8))
