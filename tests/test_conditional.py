"""ConditionalGaugeConv: exact C_N gauge equivariance on curved meshes whose transporters are not
in C_N (random C_N gauges, float64, random non-zero biases), negative controls, and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, preprocess
from gaugeconv.nn import ConditionalGaugeConv
from gaugeconv.shapes import disc, icosahedron, mobius, torus
from gaugeconv.testing import check_gauge_equivariance, identity_transporters


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors: one thread avoids oversubscription on a shared CPU (much faster here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomize(layer, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5 + 0.2)
    return layer


@pytest.mark.parametrize(
    "mesh, n, fields",
    [(icosahedron(2), 4, (2, 3)), (torus(n_major=16, n_minor=8), 6, (1, 2)), (disc(n_rings=4), 3, (2, 1))],
    ids=["sphere-C4", "torus-C6", "disc-C3"],
)
def test_exact_equivariance_for_cn_gauges(mesh, n, fields):
    g = preprocess(mesh)
    t_in, t_out = (FieldType(f"{m}xreg", group=f"C{n}") for m in fields)
    with pytest.raises(ValueError):
        t_in.check_geometry(g)  # the transporters are not in C_N, GaugeConv could not use regular fields here
    layer = randomize(ConditionalGaugeConv(t_in, t_out, hidden=8)).double()
    assert layer.bias.abs().min() > 0
    assert check_gauge_equivariance(layer, g, t_in, t_out, trials=2, batch=2) < 1e-10
    bad = check_gauge_equivariance(layer, g, t_in, t_out, trials=2, corrupt=identity_transporters)
    assert bad > 1e-3


def test_relative_angles_matter():
    """Rotating every log_theta by a non-multiple of 2pi/N (not a gauge change) changes the output."""
    from dataclasses import replace

    g = preprocess(icosahedron(1)).to_torch(torch.float64)
    t = FieldType("2xreg", group="C4")
    layer = randomize(ConditionalGaugeConv(t, t, hidden=8)).double()
    x = torch.randn(g.n_vertices, t.dim, dtype=torch.float64)
    turned = replace(g, log_theta=g.log_theta + 0.3)
    assert (layer(x, g) - layer(x, turned)).abs().max() > 1e-3


def test_trains_and_has_gradients():
    g = preprocess(icosahedron(1)).to_torch(torch.float64)
    t = FieldType("2xreg", group="C4")
    layer = ConditionalGaugeConv(t, t).double()
    x = torch.randn(g.n_vertices, t.dim, dtype=torch.float64)
    layer(x, g).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    assert "C4" in repr(layer)


def test_bad_inputs():
    t = FieldType("2xreg", group="C4")
    with pytest.raises(ValueError, match="regular C_N fields"):
        ConditionalGaugeConv(FieldType("2x0 + 1x1"), t)
    with pytest.raises(ValueError, match="share a group"):
        ConditionalGaugeConv(t, FieldType("1xreg", group="C6"))
    with pytest.raises(ValueError, match="flipped"):
        ConditionalGaugeConv(t, t)(torch.zeros(384, 8), preprocess(mobius()).to_torch())
    g = preprocess(icosahedron(0)).to_torch()
    with pytest.raises(ValueError, match="shape"):
        ConditionalGaugeConv(t, t)(torch.zeros(g.n_vertices, 5), g)
    np.testing.assert_equal(ConditionalGaugeConv(t, t, bias=False).bias, None)
