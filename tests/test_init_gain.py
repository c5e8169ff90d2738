"""The initial weight variance of the three convolutions: ``reset_parameters(gain)``."""

import numpy as np
import pytest
import torch

from gaugeconv.groups import FieldType
from gaugeconv.ico import IcoConv
from gaugeconv.mobius import MobiusConv
from gaugeconv.nn import GaugeConv


def _mobius(in_spec, out_spec):
    return MobiusConv(FieldType(in_spec, group="D1"), FieldType(out_spec, group="D1"), kernel_size=5)


def _ico(ico_atlas):
    return IcoConv(FieldType("24xreg", group="C6"), FieldType("24xreg", group="C6"), ico_atlas(1))


def _gauge():
    return GaugeConv(FieldType("8x0 + 8x1 + 8x2"), FieldType("8x0 + 8x1 + 8x2"))


def _conv(make, ico_atlas):
    """One convolution of each family: ``make`` in ("mobius", "ico", "gauge")."""
    return {"mobius": lambda: _mobius("8xreg", "8xreg"), "ico": lambda: _ico(ico_atlas), "gauge": _gauge}[make]()


def _mean_kernel_energy(conv, gain, draws=20):
    """The mean over ``draws`` initialisations of every output channel's kernel energy sum K^2."""
    energies = []
    for _ in range(draws):
        conv.reset_parameters(gain=gain)
        energies.append(conv.kernel().detach().pow(2).sum((1, 2, 3)).mean().item())
    return np.mean(energies)


@pytest.mark.parametrize(
    "spec", [("32x0", "32x0"), ("32x0-", "32x0-"), ("16xreg", "16xreg"), ("8x0 + 8x0- + 8xreg", "8x0 + 8x0- + 8xreg")]
)
@pytest.mark.parametrize("gain", [2.0, 1 / 3])
def test_mobius_kernel_energy_per_output_channel_is_gain(spec, gain):
    """Every output channel's kernel has energy sum K^2 close to ``gain`` (the unconstrained
    kernel's expectation), whatever the field kinds: the solved basis spreads each weight."""
    torch.manual_seed(0)
    assert _mean_kernel_energy(_mobius(*spec), gain) == pytest.approx(gain, rel=0.1)


def test_ico_kernel_energy_per_output_channel_is_gain(ico_atlas):
    torch.manual_seed(0)
    conv = _ico(ico_atlas)
    for gain in (2.0, 1 / 3):
        assert _mean_kernel_energy(conv, gain) == pytest.approx(gain, rel=0.1)


@pytest.mark.parametrize("make", ["mobius", "ico", "gauge"])
def test_gain_scales_the_weights_and_nothing_else(make, ico_atlas):
    """Same seed, two gains: the weights differ by exactly sqrt(gain ratio); the default is unchanged."""
    conv = _conv(make, ico_atlas)
    params = [conv.weight] + ([conv.self_weight] if make == "gauge" else [])
    torch.manual_seed(1)
    conv.reset_parameters()
    default = [p.detach().clone() for p in params]
    default_gain = 1.0 if make == "gauge" else 2.0
    torch.manual_seed(1)
    conv.reset_parameters(gain=default_gain)
    assert all(torch.equal(a, p) for a, p in zip(default, params))
    torch.manual_seed(1)
    conv.reset_parameters(gain=default_gain / 4)
    for a, p in zip(default, params):
        torch.testing.assert_close(p.detach(), a / 2, rtol=1e-6, atol=0)


@pytest.mark.parametrize("make", ["mobius", "ico", "gauge"])
@pytest.mark.parametrize("gain", [0.0, -1.0, float("nan")])
def test_gain_must_be_positive(make, gain, ico_atlas):
    conv = _conv(make, ico_atlas)
    with pytest.raises(ValueError, match="gain must be positive"):
        conv.reset_parameters(gain=gain)
