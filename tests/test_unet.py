"""GaugeUNet: gauge equivariance over all levels at once (random gauges, float64, random non-zero
biases), negative controls (broken pooling transporters; broken level transporters), training."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from gaugeconv import FieldType, preprocess
from gaugeconv.models import GaugeUNet
from gaugeconv.shapes import icosahedron, mobius, torus
from gaugeconv.testing import assert_gauge_equivariant, randomize_parameters


def randomize(model, seed=0):
    return randomize_parameters(model, seed=seed, scale=0.5, shift=0.1)


def break_pools(g):
    return replace(
        g,
        pools=tuple(
            replace(
                p,
                transport_angle=torch.zeros_like(p.transport_angle),
                transport_flip=torch.zeros_like(p.transport_flip),
            )
            for p in g.pools
        ),
    )


def break_levels(g):
    return replace(
        g,
        levels=tuple(
            replace(
                lv,
                transport_angle=torch.zeros_like(lv.transport_angle),
                transport_flip=torch.zeros_like(lv.transport_flip),
            )
            for lv in g.levels
        ),
    )


CASES = {
    "sphere-SO2": (lambda: icosahedron(2), "2x0 + 1x1", ["4x0 + 2x1 + 1x2", "4x0 + 2x1 + 2x2"], "2x0 + 1x1", "SO2"),
    "mobius-O2": (
        lambda: mobius(n_length=32, n_width=6),
        "1x0 + 0- + 1",
        ["2x0 + 2x0- + 2x1", "2x0 + 2x1 + 1x2"],
        "2x0 + 1",
        "O2",
    ),
}


@pytest.fixture(scope="module", params=list(CASES))
def setup(request):
    make, spec_in, specs, spec_out, group = CASES[request.param]
    geometry = preprocess(make(), levels=2)
    widths = [FieldType(s, group=group) for s in specs]
    model = GaugeUNet(FieldType(spec_in, group=group), FieldType(spec_out, group=group), widths, rings=2)
    return geometry, randomize(model.double())


def test_unet_is_equivariant(setup):
    geometry, model = setup
    assert all(b.abs().min() > 0 for n, b in model.named_parameters() if n.endswith("bias"))
    assert_gauge_equivariant(model, geometry, batch=2)


@pytest.mark.parametrize("corrupt", [break_pools, break_levels])
def test_unet_negative_controls(setup, corrupt):
    """Broken pooling transporters, or broken transporters of the coarse levels: the check fails."""
    geometry, model = setup
    with pytest.raises(AssertionError, match="exceeds"):
        assert_gauge_equivariant(model, geometry, corrupt=corrupt)


def test_unet_needs_levels():
    model = GaugeUNet(FieldType("1x0"), FieldType("1x0"), [FieldType("2x0"), FieldType("2x0")])
    g = preprocess(icosahedron(1)).to_torch()
    with pytest.raises(ValueError, match="levels=1"):
        model(torch.zeros(g.n_vertices, 1), g)
    with pytest.raises(ValueError, match="one group"):
        GaugeUNet(FieldType("1x0"), FieldType("1x0"), [FieldType("2x0", group="O2")])


def test_unet_trains():
    torch.manual_seed(0)
    g = preprocess(icosahedron(2), levels=2).to_torch()
    x = torch.as_tensor(g.vertices[:, :1].numpy())  # a smooth scalar target: fit z to itself via coarse levels
    model = GaugeUNet(FieldType("1x0"), FieldType("1x0"), [FieldType("4x0 + 2x1")] * 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        loss = (model(x, g) - x).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_batched_geometry_gives_the_same_outputs():
    """Geometry.batch batches the levels and pooling maps too: one forward pass over two meshes
    equals the two separate passes."""
    torch.manual_seed(0)
    ga = preprocess(icosahedron(2), levels=2)
    gb = preprocess(torus(n_major=24, n_minor=8), levels=2)
    model = randomize(GaugeUNet(FieldType("1x0"), FieldType("2x0 + 1x1"), [FieldType("2x0 + 1x1")] * 3).double())
    both = type(ga).batch([ga, gb]).to_torch(torch.float64)
    assert [lv.graph_sizes for lv in both.levels] == [
        (lv_a.n_vertices, lv_b.n_vertices) for lv_a, lv_b in zip(ga.levels, gb.levels)
    ]
    xa = torch.randn(ga.n_vertices, 1, dtype=torch.float64)
    xb = torch.randn(gb.n_vertices, 1, dtype=torch.float64)
    with torch.no_grad():
        y = model(torch.cat([xa, xb]), both)
        ya, yb = model(xa, ga.to_torch(torch.float64)), model(xb, gb.to_torch(torch.float64))
    torch.testing.assert_close(y, torch.cat([ya, yb]), rtol=0, atol=1e-12)
