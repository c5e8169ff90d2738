"""The shared layers of gaugeconv.nn on the Möbius strip's grid path (channel axis dim=1):
NormNonlinearity, FieldBatchNorm, InvariantReadout as global pooling; MobiusPool; whole models."""

import pytest
import torch
from torch import nn

from gaugeconv.groups import FieldType
from gaugeconv.mobius import MobiusConv, MobiusPool, periodic_pad, pooled_width, shift
from gaugeconv.nn import FieldBatchNorm, InvariantReadout, NormNonlinearity

TYPES = {
    "trivial": FieldType("2x0", group="D1"),
    "sign": FieldType("2x0-", group="D1"),
    "regular": FieldType("2xreg", group="D1"),
    "mixed": FieldType("1x0 + 1x0- + 1xreg", group="D1"),
    "irreps": FieldType("1x0 + 1x0- + 1x1 + 1x3", group="O2"),
}
L = 8


def seam(t):
    """The field type (shift applies its seam action rho(F))."""
    return t


def strip_nonlinearity(t):
    return NormNonlinearity(t, dim=1)


def strip_batchnorm(t):
    return FieldBatchNorm(t, dim=1)


class GlobalInvariants(nn.Module):
    """Global max pooling of the per-pixel invariants (trivial values, norms, regular max): one
    number per invariant channel, unchanged by every shift. (B, C, W, L) -> (B, D)."""

    def __init__(self, t):
        super().__init__()
        self.readout = InvariantReadout(t, reduce="max", dim=1)

    def forward(self, x):
        return self.readout(x).flatten(2).amax(-1)


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
@pytest.mark.parametrize("make", [strip_nonlinearity, strip_batchnorm], ids=["nonlinearity", "batchnorm"])
@pytest.mark.parametrize("training", [True, False])
def test_pointwise_layers_commute_with_every_shift(name, make, training):
    t = TYPES[name]
    layer = randomise(make(t)).train(training)
    x = features(t, 5)
    if make is strip_batchnorm and not training:
        layer.train()(x)  # fill the running statistics
        layer.eval()
    assert max_shift_error(layer, x, seam(t), seam(t), range(-L, 2 * L + 1)) < 1e-10


def test_norm_nonlinearity_is_odd_on_sign_fields_and_not_linear():
    t = TYPES["sign"]
    layer = NormNonlinearity(t, dim=1).double()
    with torch.no_grad():
        layer.bias.fill_(-0.5)
    x = features(t, 5)
    torch.testing.assert_close(layer(-x), -layer(x))
    expect = torch.sign(x) * torch.relu(x.abs() - 0.5)
    torch.testing.assert_close(layer(x), expect)


def test_batchnorm_normalises_per_field():
    t = TYPES["mixed"]
    layer = FieldBatchNorm(t, dim=1).double()
    x = 3.0 + 2.0 * features(t, 5)
    y = layer(x)
    torch.testing.assert_close(y[:, 0].mean(), torch.tensor(0.0, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close((y[:, 1] ** 2).mean(), torch.tensor(1.0, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(y[:, 2:].mean(), torch.tensor(0.0, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("width", [6, 7])
@pytest.mark.parametrize("reduce", ["max", "mean"])
@pytest.mark.parametrize("name", list(TYPES))
def test_pooling_commutes_with_shifts_by_multiples_of_its_stride(width, reduce, name):
    t = TYPES[name]
    a = seam(t)
    x = features(t, width)
    along = MobiusPool(t, along=True, across=False, reduce=reduce)
    both = MobiusPool(t, along=True, across=True, reduce=reduce)
    assert both(x).shape == (3, t.dim, pooled_width(width), L // 2)
    assert max_shift_error(along, x, a, a, range(-L, 2 * L + 1, 2), out_step=2) < 1e-10
    assert max_shift_error(both, x, a, a, range(-L, 2 * L + 1, 2), out_step=2) < 1e-10
    across = MobiusPool(t, along=False, across=True, reduce=reduce)
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
    pool = GlobalInvariants(t)
    x = features(t, 5)
    y = pool(x)
    assert y.shape == (3, t.n_fields)
    errors = [(pool(shift(x, seam(t), s)) - y).abs().max().item() for s in range(-L, 2 * L + 1)]
    assert max(errors) < 1e-12, errors


def model(t_in, t_hidden, padding="seam"):
    layers = [
        MobiusConv(t_in, t_hidden),
        strip_batchnorm(t_hidden),
        strip_nonlinearity(t_hidden),
        MobiusPool(t_hidden, along=True, across=True),
        MobiusConv(t_hidden, t_hidden, kernel_size=5),
        strip_batchnorm(t_hidden),
        strip_nonlinearity(t_hidden),
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
    pool = GlobalInvariants(t_h)
    x = features(t_in, width, length=2 * L)  # total stride 4 along: 16 -> 4 columns
    shifts = range(-2 * L, 4 * L + 1, 4)
    assert max_shift_error(net, x, seam(t_in), seam(t_h), shifts, out_step=4) < 1e-10
    y = pool(net(x))
    errors = [(pool(net(shift(x, seam(t_in), s))) - y).abs().max().item() for s in shifts]
    assert max(errors) < 1e-10, errors
    # negative control: the same model with naive periodic padding is not invariant
    naive = model(t_in, t_h, padding="periodic")
    y = pool(naive(x))
    errors = [(pool(naive(shift(x, seam(t_in), s))) - y).abs().max().item() for s in (4, 8, 12)]
    assert max(errors) > 1e-3


def test_pool_bad_input():
    t = TYPES["trivial"]
    with pytest.raises(ValueError, match="even length"):
        MobiusPool(t)(features(t, 5, length=7))
    with pytest.raises(ValueError, match="reduce"):
        MobiusPool(t, reduce="median")
    with pytest.raises(ValueError, match="Möbius"):
        MobiusPool(FieldType("2x0"))


@pytest.mark.parametrize("make", [strip_nonlinearity, strip_batchnorm, GlobalInvariants, MobiusPool])
def test_layers_reject_wrong_channel_counts(make):
    with pytest.raises(ValueError, match="expected|channels"):
        make(TYPES["mixed"])(torch.zeros(1, 2, 5, 8))
