"""TransportPool / TransportUnpool: gauge equivariance on both levels (random gauges, float64),
negative controls with broken pooling transporters, exact values on hand-checkable cases."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, preprocess
from gaugeconv.nn import TransportPool, TransportUnpool, max_scores
from gaugeconv.shapes import icosahedron, mobius, plane
from gaugeconv.testing import TOLERANCE, random_gauge, transform_features

CASES = {
    "sphere-SO2": (lambda: icosahedron(3), "2x0 + 2x1 + 2x2 + 1x3", "SO2"),
    "mobius-O2": (lambda: mobius(n_length=32, n_width=6), "2x0 + 2x0- + 2x1 + 1x2", "O2"),
    "plane-C8reg": (lambda: plane(nx=12, ny=12), "1x0 + 2xreg", "C8"),
}


@pytest.fixture(scope="module", params=list(CASES))
def case(request):
    make, spec, group = CASES[request.param]
    geometry = preprocess(make(), levels=2)
    return geometry, FieldType(spec, group=group)


def level_ids(geometry, k):
    ids = np.arange(geometry.n_vertices)
    for pool in geometry.pools[:k]:
        ids = ids[pool.sub]
    return ids


def identity_pools(geometry):
    return replace(
        geometry,
        pools=tuple(
            replace(
                p,
                transport_angle=torch.zeros_like(p.transport_angle),
                transport_flip=torch.zeros_like(p.transport_flip),
            )
            for p in geometry.pools
        ),
    )


def pool_error(layer, geometry, ftype, k, up=False, corrupt=None, seed=0):
    """Largest error of layer(rho(h^-1) x, h.geometry) vs rho(h^-1) layer(x, geometry) on pool k."""
    rng = np.random.default_rng(seed)
    angle, flip = random_gauge(geometry.n_vertices, ftype.group, rng)
    moved = geometry.gauge_transform(angle, flip)
    g0, g1 = geometry.to_torch(torch.float64), moved.to_torch(torch.float64)
    if corrupt is not None:
        g0, g1 = corrupt(g0), corrupt(g1)
    fine, coarse = level_ids(geometry, k), level_ids(geometry, k + 1)
    src, dst = (coarse, fine) if up else (fine, coarse)
    x = torch.as_tensor(rng.standard_normal((3, len(src), ftype.dim)))
    y = layer(x, g0.pools[k])
    y_moved = layer(transform_features(x, ftype, angle[src], flip[src]), g1.pools[k])
    return float((y_moved - transform_features(y, ftype, angle[dst], flip[dst])).abs().max())


@pytest.mark.parametrize("reduce", ["mean", "max"])
@pytest.mark.parametrize("k", [0, 1])
def test_pool_is_equivariant(case, reduce, k):
    geometry, ftype = case
    layer = TransportPool(ftype, reduce=reduce)
    assert pool_error(layer, geometry, ftype, k) < TOLERANCE[torch.float64]
    assert pool_error(layer, geometry, ftype, k, corrupt=identity_pools) > 1e-3


@pytest.mark.parametrize("k", [0, 1])
def test_unpool_is_equivariant(case, k):
    geometry, ftype = case
    layer = TransportUnpool(ftype)
    assert pool_error(layer, geometry, ftype, k, up=True) < TOLERANCE[torch.float64]
    assert pool_error(layer, geometry, ftype, k, up=True, corrupt=identity_pools) > 1e-3


def test_pool_then_unpool_of_a_parallel_field_on_a_flat_plane():
    """A constant vector field on a flat mesh is parallel: pooling returns it exactly (in the
    coarse gauges), and unpooling returns the fine field."""
    g = preprocess(plane(nx=10, ny=10), levels=1)
    t = g.to_torch(torch.float64)
    ftype = FieldType("1")
    e1 = g.frames[:, 0]
    z = (e1[:, 0] - 1j * e1[:, 1]) * (1 + 0.5j)  # the fixed vector (1, 0.5) in every vertex's gauge
    x = torch.as_tensor(np.stack([z.real, z.imag], 1))
    y = TransportPool(ftype)(x, t.pools[0])
    np.testing.assert_allclose(y.numpy(), x.numpy()[g.pools[0].sub], atol=1e-12)
    back = TransportUnpool(ftype)(y, t.pools[0])
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-12)
    # the max-norm pool picks a whole vector, here all have the same norm
    y_max = TransportPool(ftype, reduce="max")(x, t.pools[0])
    np.testing.assert_allclose(y_max.numpy(), x.numpy()[g.pools[0].sub], atol=1e-12)


def test_max_pool_of_scalars_is_the_cell_maximum():
    g = preprocess(plane(nx=8, ny=8), levels=1).to_torch(torch.float64)
    x = torch.randn(g.n_vertices, 1, dtype=torch.float64)
    y = TransportPool(FieldType("0"), reduce="max")(x, g.pools[0])
    fine, cell = g.pools[0].index
    for c in range(g.pools[0].n_coarse):
        assert y[c, 0] == x[fine[cell == c], 0].max()


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_gradients_flow(reduce):
    g = preprocess(icosahedron(2), levels=1).to_torch(torch.float64)
    ftype = FieldType("1x0 + 1x1")
    x = torch.randn(g.n_vertices, 3, dtype=torch.float64, requires_grad=True)
    y = TransportUnpool(ftype)(TransportPool(ftype, reduce=reduce)(x, g.pools[0]), g.pools[0])
    (grad,) = torch.autograd.grad(y.square().sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_bad_inputs():
    g = preprocess(icosahedron(1), levels=1)
    ftype = FieldType("2x0")
    with pytest.raises(ValueError, match="torch PoolMap"):
        TransportPool(ftype)(torch.zeros(g.n_vertices, 2), g.pools[0])
    t = g.to_torch()
    with pytest.raises(ValueError, match="must have shape"):
        TransportPool(ftype)(torch.zeros(g.n_vertices + 1, 2), t.pools[0])
    with pytest.raises(ValueError, match="must have shape"):
        TransportUnpool(ftype)(torch.zeros(g.n_vertices, 2), t.pools[0])
    with pytest.raises(ValueError, match="reduce"):
        TransportPool(ftype, reduce="sum")
    with pytest.raises(ValueError, match="regular fields"):
        TransportPool(FieldType("reg", group="C6"))(torch.zeros(g.n_vertices, 6), t.pools[0])


def test_max_scores_is_the_one_max_rule():
    """Trivial and regular channels score their value; a sign field |x|; an irrep its norm on both
    channels, so max pooling keeps whole fields (hand-checked values)."""
    t = FieldType("0 + 0- + 1 + reg", group="D2")
    x = torch.tensor([[2.0, -3.0, 3.0, 4.0, 1.0, 5.0, -1.0, 0.0]])
    expected = torch.tensor([[2.0, 3.0, 5.0, 5.0, 1.0, 5.0, -1.0, 0.0]])
    torch.testing.assert_close(max_scores(x, t), expected)
    torch.testing.assert_close(max_scores(x.T[None], t, dim=1), expected.T[None])
    plain = torch.randn(3, 12)
    assert max_scores(plain, FieldType("2x0 + 1xreg", group="C10")) is plain


def test_max_pool_keeps_the_field_of_largest_norm():
    g = preprocess(plane(nx=8, ny=8), levels=1).to_torch(torch.float64)
    t = FieldType("0- + 1", group="O2")
    x = torch.randn(g.n_vertices, 3, dtype=torch.float64)
    f, c = g.pools[0].index
    transported = t.act(x.index_select(0, f), g.pools[0].transport_angle, g.pools[0].transport_flip)
    y = TransportPool(t, reduce="max")(x, g.pools[0])
    for cell in range(g.pools[0].n_coarse):
        members = transported[c == cell]
        assert torch.equal(y[cell, :1], members[members[:, 0].abs().argmax(), :1])  # sign kept
        assert torch.equal(y[cell, 1:], members[members[:, 1:].norm(dim=1).argmax(), 1:])  # whole vector
