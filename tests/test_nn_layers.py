"""Nonlinearities, FieldBatchNorm, InvariantReadout, global pooling and GaugeResNet: gauge
equivariance with negative controls, the regular nonlinearity's error against N, isometry invariance,
and the same layers on the grid layouts (channel axis dim=1)."""

import numpy as np
import pytest
import torch
from torch import nn

from gaugeconv import FieldType, Geometry, shapes
from gaugeconv.models import GaugeResNet
from gaugeconv.nn import (
    FieldBatchNorm,
    GatedNonlinearity,
    GaugeConv,
    GlobalPool,
    InvariantReadout,
    NormNonlinearity,
    RegularNonlinearity,
    global_pool,
)
from gaugeconv.testing import (
    TOLERANCE,
    assert_gauge_equivariant,
    check_gauge_equivariance,
    check_isometry_invariance,
    identity_transporters,
    random_gauge,
    transform_features,
)


@pytest.fixture(scope="module")
def meshes(icosphere_geometry, disc_geometry, mobius_geometry):
    """The shared session geometries (tests/conftest.py) by name."""
    return {"icosphere": icosphere_geometry, "disc": disc_geometry, "mobius": mobius_geometry}


SO2 = FieldType("2x0 + 2x1 + 2x2 + 2x3")
O2 = FieldType("2x0 + 2x0- + 2x1 + 2x2 + 2x3", group="O2")


def _randomise(module):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(0.3, 1.3)  # non-zero biases and weights
    return module.double()


class Pointwise(nn.Module):
    """A per-vertex layer as a model ``(x, geometry)``, with its field types."""

    def __init__(self, layer):
        super().__init__()
        self.layer, self.in_type, self.out_type = layer, layer.in_type, layer.out_type

    def forward(self, x, geometry):
        return self.layer(x)


LAYERS = {
    "norm": lambda t: NormNonlinearity(t),
    "gated": lambda t: GatedNonlinearity(t),
    "batchnorm-train": lambda t: FieldBatchNorm(t).train(),
    "batchnorm-eval": lambda t: FieldBatchNorm(t).eval(),
}


@pytest.mark.parametrize("ftype", [SO2, O2], ids=["SO2", "O2"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_pointwise_layers_equivariant(meshes, ftype, name):
    layer = _randomise(LAYERS[name](ftype))
    if name == "batchnorm-eval":
        layer.running_mean.uniform_(-1, 1)
        layer.running_var.uniform_(0.5, 2)
    geometry = meshes["mobius" if ftype.has_reflections else "icosphere"]
    assert_gauge_equivariant(Pointwise(layer), geometry, batch=2)


def test_pointwise_layers_are_not_trivially_equivariant(meshes):
    """Control: the same check catches a layer that mixes the two channels of an irrep unequally."""
    t = FieldType("2x1")
    bad = lambda x, g: x * torch.tensor([1.0, 2.0, 1.0, 1.0], dtype=x.dtype)  # noqa: E731
    with pytest.raises(AssertionError, match="exceeds"):
        assert_gauge_equivariant(bad, meshes["disc"], in_type=t, out_type=t)


def test_convolution_pipeline_with_layers_and_negative_control(meshes):
    """conv -> batch norm -> gated nonlinearity -> conv -> readout -> pooling, on the Möbius strip."""
    gate = GatedNonlinearity(O2)
    conv1 = GaugeConv(O2, gate.in_type, band_limit=3)
    norm = FieldBatchNorm(gate.in_type)
    conv2 = GaugeConv(O2, O2, band_limit=3)
    readout = InvariantReadout(O2)
    for m in (gate, conv1, norm, conv2, readout):
        _randomise(m)

    def model(x, g):
        return global_pool(readout(conv2(gate(norm(conv1(x, g))), g)), g, "mean")

    assert_gauge_equivariant(model, meshes["mobius"], in_type=O2, out_type=None)
    with pytest.raises(AssertionError):
        assert_gauge_equivariant(model, meshes["mobius"], in_type=O2, out_type=None, corrupt=identity_transporters)


# ---------------------------------------------------------------------------------------- regular nonlinearity
def _relative_rms_error(layer, ftype, geometry, group):
    """Relative RMS equivariance error of a pointwise layer over random gauges in ``group``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(geometry.n_vertices, ftype.dim, generator=gen, dtype=torch.float64)
    angle, flip = random_gauge(geometry.n_vertices, group, 1)
    y = layer(x)
    moved = layer(transform_features(x, ftype, angle, flip))
    diff = moved - transform_features(y, ftype, angle, flip)
    return float(diff.pow(2).mean().sqrt() / y.pow(2).mean().sqrt())


def test_regular_nonlinearity_error_falls_with_samples(meshes):
    t = FieldType("8x0 + 8x1 + 8x2")
    errors = {
        n: _relative_rms_error(RegularNonlinearity(t, samples=n), t, meshes["icosphere"], "SO2") for n in (7, 15, 101)
    }
    assert errors[7] > errors[15] > errors[101] > 0
    assert errors[7] < 0.5 and errors[101] < 2e-3  # measured: see docs/layers.md
    assert errors[101] > 1e-8  # approximate for SO(2), not exact


@pytest.mark.parametrize("ftype", [FieldType("4x0 + 4x1 + 4x2"), FieldType("3x0 + 3x0- + 3x1 + 3x3", group="O2")])
@pytest.mark.parametrize("samples", [7, 12])
def test_regular_nonlinearity_exact_for_sampled_group(meshes, ftype, samples):
    group = f"{'D' if ftype.has_reflections else 'C'}{samples}"
    layer = RegularNonlinearity(ftype, samples=samples).double()
    err = _relative_rms_error(layer, ftype, meshes["icosphere"], group)
    assert err < 1e-12
    assert _relative_rms_error(layer, ftype, meshes["icosphere"], ftype.group) > 1e-4  # control: not exact for SO(2)


@pytest.mark.parametrize("ftype", [FieldType("2x0 + 2xreg", group="C6"), FieldType("0 + 2xreg", group="D4")])
def test_regular_nonlinearity_on_regular_fields(ftype):
    layer = RegularNonlinearity(ftype)
    x = torch.randn(5, ftype.dim, dtype=torch.float64)
    torch.testing.assert_close(layer(x), torch.relu(x))
    angle, flip = random_gauge(5, ftype.group, 0)
    y = transform_features(x, ftype, angle, flip)
    torch.testing.assert_close(layer(y), transform_features(layer(x), ftype, angle, flip))


def test_regular_nonlinearity_rejects_bad_types():
    with pytest.raises(ValueError, match="same multiplicity"):
        RegularNonlinearity(FieldType("2x0 + 1x1"))
    with pytest.raises(ValueError, match="samples"):
        RegularNonlinearity(FieldType("0 + 1 + 2 + 3"), samples=6)
    with pytest.raises(ValueError, match="NormNonlinearity"):
        RegularNonlinearity(FieldType("reg + 0-", group="D4"))


# ---------------------------------------------------------------------------------------- batch norm
def test_batchnorm_state_dict_same_in_train_and_eval():
    bn = FieldBatchNorm(O2)
    keys_train = {k: tuple(v.shape) for k, v in bn.train().state_dict().items()}
    keys_eval = {k: tuple(v.shape) for k, v in bn.eval().state_dict().items()}
    assert (
        keys_train
        == keys_eval
        == {
            "weight": (10,),
            "bias": (2,),
            "running_mean": (10,),
            "running_var": (10,),
        }
    )


def test_batchnorm_normalises():
    t = FieldType("0 + 1 + reg", group="C4")
    bn = FieldBatchNorm(t).double().train()
    x = 3.0 + 2.0 * torch.randn(4000, t.dim, dtype=torch.float64)
    y = bn(x).detach()
    assert abs(float(y[:, 0].mean())) < 1e-10 and abs(float(y[:, 0].std()) - 1) < 1e-3
    assert abs(float(y[:, 3:].mean())) < 1e-10  # regular: centred over all orientations
    assert abs(float(y[:, 1:3].pow(2).mean()) - 1) < 1e-3  # irrep: unit mean square, not centred
    assert float(bn.running_mean[0]) == pytest.approx(0.3, rel=0.05)


# ---------------------------------------------------------------------------------------- readout, pooling
def test_readout_values():
    t = FieldType("0 + 0- + 1 + reg", group="D2")
    x = torch.tensor([[2.0, -3.0, 3.0, 4.0, 1.0, 5.0, -1.0, 0.0]], dtype=torch.float64)
    out = InvariantReadout(t, eps=0.0)(x)
    torch.testing.assert_close(out, torch.tensor([[2.0, 3.0, 5.0, 5.0, 1.25]], dtype=torch.float64))


@pytest.mark.parametrize("reduce", ["mean", "max", "sum", "area"])
def test_global_pool_over_batched_meshes(meshes, reduce):
    parts = [meshes["disc"], meshes["mobius"]]
    batch = Geometry.batch(parts).to_torch(torch.float64)
    x = torch.randn(2, batch.n_vertices, 3, dtype=torch.float64)
    pooled = GlobalPool(reduce)(x, batch)
    assert pooled.shape == (2, 2, 3)
    first = x[:, : parts[0].n_vertices]
    expected = {
        "mean": first.mean(1),
        "max": first.amax(1),
        "sum": first.sum(1),
        "area": (first * batch.vertex_area[: parts[0].n_vertices, None]).sum(1)
        / batch.vertex_area[: parts[0].n_vertices].sum(),
    }[reduce]
    torch.testing.assert_close(pooled[:, 0], expected)
    if reduce != "area":  # an explicit batch vector gives the same
        ids = torch.repeat_interleave(torch.arange(2), torch.tensor([g.n_vertices for g in parts]))
        torch.testing.assert_close(global_pool(x, None, reduce, batch=ids), pooled)
    with pytest.raises(ValueError, match="reduce"):
        global_pool(x, batch, "median")


# ---------------------------------------------------------------------------------------- models, isometries
@pytest.mark.parametrize("nonlinearity", ["gated", "norm", "regular"])
def test_resnet_gauge_equivariant(meshes, nonlinearity):
    hidden = FieldType("4x0 + 4x1 + 4x2", group="O2") if nonlinearity != "regular" else FieldType("4x0 + 4x1 + 4x2")
    geometry = meshes["mobius" if hidden.group == "O2" else "icosphere"]
    in_type = FieldType("2x0 + 1", group=hidden.group)
    out_type = FieldType("0 + 1", group=hidden.group)
    torch.manual_seed(0)
    net = GaugeResNet(in_type, hidden, out_type=out_type, depth=1, band_limit=2, nonlinearity=nonlinearity, samples=7)
    net = net.double().eval()
    for m in net.modules():
        if isinstance(m, FieldBatchNorm):
            m.running_mean.uniform_(-1, 1)
    if nonlinearity == "regular":  # 7 samples: exact for gauges in C_7, approximate for SO(2)
        c7_in, c7_out = FieldType(str(in_type), group="C7"), FieldType(str(out_type), group="C7")
        assert_gauge_equivariant(net, geometry, in_type=c7_in, out_type=c7_out)
        assert check_gauge_equivariance(net, geometry, in_type, out_type) > 1e-6
        with pytest.raises(AssertionError):
            assert_gauge_equivariant(net, geometry, in_type=c7_in, out_type=c7_out, corrupt=identity_transporters)
        return
    assert_gauge_equivariant(net, geometry)
    with pytest.raises(AssertionError):
        assert_gauge_equivariant(net, geometry, corrupt=identity_transporters)


@pytest.mark.parametrize("mesh", ["icosphere", "disc", "mobius"])
def test_isometry_invariance_of_invariant_outputs(mesh):
    base = {
        "icosphere": shapes.icosahedron(2),
        "disc": shapes.disc(n_rings=3),
        "mobius": shapes.mobius(n_length=24, n_width=5),
    }[mesh]
    group = "O2" if mesh == "mobius" else "SO2"
    torch.manual_seed(0)
    net = GaugeResNet(
        FieldType("0", group=group), FieldType("4x0 + 4x1 + 2x2 + 2x3", group=group), out_dim=3, pool=None
    )
    net = _randomise_bn(net.double().eval())
    tol = TOLERANCE[torch.float64]
    assert check_isometry_invariance(net, base, seed=2) < tol
    pooled = GaugeResNet(FieldType("0", group=group), FieldType("4x0 + 4x1", group=group), out_dim=3, pool="mean")
    assert check_isometry_invariance(pooled.double().eval(), base, seed=3, per_vertex=False) < tol


def _randomise_bn(net):
    for m in net.modules():
        if isinstance(m, FieldBatchNorm):
            m.running_mean.uniform_(-1, 1)
    return net


def test_isometry_check_detects_position_dependence():
    """Control: a model reading vertex positions is not invariant under rotation."""

    def uses_positions(x, g):
        return g.vertices[:, :1] * x

    assert check_isometry_invariance(uses_positions, shapes.disc(n_rings=3), seed=1) > 1e-3


def test_resnet_classifies_batches(meshes):
    batch = Geometry.batch([meshes["disc"], meshes["icosphere"]]).to_torch(torch.float32)
    net = GaugeResNet(FieldType("0"), FieldType("8x0 + 4x1 + 4x2"), out_dim=5, depth=2, band_limit=2)
    logits = net(torch.ones(batch.n_vertices, 1), batch)
    assert logits.shape == (2, 5)
    logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------- the grid layouts
def test_norm_nonlinearity_per_kind():
    """Trivial and regular channels: fn(x + b) channel by channel; sign fields: sign(x) fn(|x| + b);
    irreps: scaled by fn(|x| + b) / |x| (direction kept)."""
    t = FieldType("0 + 0- + 1 + reg", group="D2")
    layer = NormNonlinearity(t, eps=0.0).double()
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([-0.5, -1.0, -1.0, -1.5]))
    x = torch.tensor([[2.0, -3.0, 3.0, 4.0, 1.0, 5.0, -1.0, 0.0]], dtype=torch.float64)
    expected = [1.5, -2.0, 2.4, 3.2, 0.0, 3.5, 0.0, 0.0]
    torch.testing.assert_close(layer(x), torch.tensor([expected], dtype=torch.float64))


def _norm_nonlinearity_by_field(t: FieldType, x: torch.Tensor, bias: torch.Tensor, fn) -> torch.Tensor:
    """NormNonlinearity's rule written field by field (channels last)."""
    out = torch.empty_like(x)
    for i, field in enumerate(t):
        sl = field.slice
        v = x[..., sl]
        if field.kind in ("0", "reg"):
            out[..., sl] = fn(v + bias[i])
        else:
            norm = v.norm(dim=-1, keepdim=True)
            out[..., sl] = v * fn(norm + bias[i]) / norm
    return out


@pytest.mark.parametrize(
    "spec",
    [
        ("2x0 + 3xreg", "D1"),
        ("3x0 + 2xreg", "C4"),
        ("2x0- + 3x0", "O2"),
        ("4x0-", "D1"),
        ("2x0 + 2x0- + 2xreg", "D1"),
        ("0 + 0- + 2x1", "O2"),
    ],
    ids=["pointwise-D1", "pointwise-C4", "trivial-sign", "sign-only", "mixed-D1", "general"],
)
def test_norm_nonlinearity_shortcuts_equal_the_rule(spec):
    """Types with only trivial/regular fields, or whose norm-scaled fields all have one channel
    (sign fields), take shorter paths; every path gives the per-field rule, values and gradients."""
    t = FieldType(spec[0], group=spec[1])
    layer = NormNonlinearity(t, fn=torch.nn.functional.elu, eps=0.0).double()
    torch.manual_seed(1)
    with torch.no_grad():
        layer.bias.uniform_(-1.0, 1.0)
    x = torch.randn(3, 5, t.dim, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    xr = x.detach().clone().requires_grad_(True)
    expect = _norm_nonlinearity_by_field(t, xr, layer.bias.detach(), torch.nn.functional.elu)
    torch.testing.assert_close(y, expect, atol=1e-12, rtol=0)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    (expect * w).sum().backward()
    torch.testing.assert_close(x.grad, xr.grad, atol=1e-12, rtol=0)


GRID_TYPES = [
    FieldType("2x0 + 2xreg + 1 + 3", group="C6"),
    FieldType("0 + 2x0- + 2xreg", group="D1"),
    FieldType("2x0 + 0- + 2x1 + 2", group="O2"),
]
GRID_LAYERS = {
    "norm": lambda t, dim: NormNonlinearity(t, dim=dim),
    "gated": lambda t, dim: GatedNonlinearity(t, dim=dim),
    "batchnorm": lambda t, dim: FieldBatchNorm(t, dim=dim).train(),
    "readout": lambda t, dim: InvariantReadout(t, dim=dim),
    "readout-max": lambda t, dim: InvariantReadout(t, reduce="max", dim=dim),
}


@pytest.mark.parametrize("ftype", GRID_TYPES, ids=lambda t: t.group)
@pytest.mark.parametrize("name", sorted(GRID_LAYERS))
@pytest.mark.parametrize("shape", [(2, 7), (2, 3, 5)], ids=["atlas", "strip"])
def test_layers_on_channel_first_layouts(ftype, name, shape):
    """dim=1 on atlas tensors (B, C, V) and strip maps (B, C, W, L) is the channels-last layer on the
    moved axis, and commutes with a group element per position (act on dim 1)."""
    torch.manual_seed(0)
    last, first = GRID_LAYERS[name](ftype, -1).double(), GRID_LAYERS[name](ftype, 1).double()
    for p in last.parameters():
        torch.nn.init.uniform_(p, 0.3, 1.3)
    first.load_state_dict(last.state_dict())
    x = torch.randn(shape[0], first.in_type.dim, *shape[1:], dtype=torch.float64)
    y = first(x)
    torch.testing.assert_close(y, last(x.movedim(1, -1)).movedim(-1, 1), atol=1e-12, rtol=0)
    angle, flip = random_gauge(int(np.prod(shape[1:])), ftype.group, 3)
    angle, flip = angle.reshape(shape[1:]), flip.reshape(shape[1:])
    f = flip if ftype.has_reflections else None
    moved = first(first.in_type.act(x, angle, f, dim=1))
    expected = y if name.startswith("readout") else first.out_type.act(y, angle, f, dim=1)
    torch.testing.assert_close(moved, expected, atol=1e-12, rtol=0)


def test_regular_nonlinearity_on_channel_first_layout():
    t = FieldType("4x0 + 4x1 + 4x2")
    last, first = RegularNonlinearity(t, samples=7), RegularNonlinearity(t, samples=7, dim=1)
    x = torch.randn(2, t.dim, 9, dtype=torch.float64)
    torch.testing.assert_close(first(x), last(x.transpose(1, 2)).transpose(1, 2))


@pytest.mark.parametrize("make", list(GRID_LAYERS.values()), ids=list(GRID_LAYERS))
def test_layers_reject_wrong_channel_axis(make):
    layer = make(FieldType("0 + 1"), 1)
    with pytest.raises(ValueError, match="channels"):
        layer(torch.zeros(2, 5, 3))  # channels last, but the layer reads axis 1
