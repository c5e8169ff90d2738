"""Devices and dtypes: every layer gives the same outputs and gradients on a CUDA device as on the
CPU (float32, to 1e-5; these tests run only where CUDA exists), and the layers that read a
geometry refuse half precision with one clear message."""

import copy

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, Geometry, preprocess, shapes
from gaugeconv.ico import IcoConv, IcoPad, IcoPool, IcoUnpool
from gaugeconv.mobius import MobiusConv, MobiusPool
from gaugeconv.models import GaugeResNet, GaugeUNet
from gaugeconv.nn import (
    ConditionalGaugeConv,
    FieldBatchNorm,
    GatedNonlinearity,
    GaugeConv,
    InvariantReadout,
    NormNonlinearity,
    RegularNonlinearity,
    TransportPool,
    TransportUnpool,
    global_pool,
)
from gaugeconv.testing import randomize_parameters

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = "cuda"
TOL = {"atol": 1e-5, "rtol": 1e-5}

SO2 = FieldType("2x0 + 2x1 + 2")
O2 = FieldType("2x0 + 0- + 1 + 2", group="O2")
C6 = FieldType("0 + reg + 1", group="C6")
STRIP = FieldType("1x0 + 1x0- + 1xreg", group="D1")


@pytest.fixture(scope="module")
def levels_geometry():
    """An icosphere of level 3 with two coarse levels (for pooling and the U-Net)."""
    return preprocess(shapes.icosahedron(3), levels=2)


@pytest.fixture
def exact_cuda():
    """Full float32 on the GPU: no TF32 in matrix products and convolutions (restored after)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _agree(module, make_inputs, call=None, device=CUDA):
    """Outputs and gradients (inputs and parameters) of ``module`` on the CPU and on ``device``.

    ``make_inputs(device)`` returns the inputs on that device (tensors with requires_grad are the
    ones whose gradients are compared; geometries are built per device); ``call(module, *inputs)``
    defaults to ``module(*inputs)``."""
    call = call or (lambda m, *args: m(*args))
    torch.manual_seed(0)
    module = randomize_parameters(module.float())
    results = []
    for dev in ("cpu", device):
        m = copy.deepcopy(module).to(dev)
        torch.manual_seed(1)
        inputs = make_inputs(dev)
        out = call(m, *inputs)
        (out * torch.linspace(-1, 1, out.numel(), device=dev).view(out.shape)).sum().backward()
        grads = [t.grad for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
        grads += [p.grad for p in m.parameters() if p.grad is not None]
        assert out.device.type == torch.device(dev).type
        results.append([out.detach().cpu()] + [g.cpu() for g in grads])
    cpu, other = results
    assert len(cpu) == len(other)
    for a, b in zip(cpu, other):
        torch.testing.assert_close(b, a, **TOL)
    return cpu[0]


def _features(n, channels, requires_grad=True):
    def make(dev):
        return (torch.randn(n, channels, device=dev, requires_grad=requires_grad),)

    return make


def _on_mesh(geometry, channels, batch=None):
    shape = (geometry.n_vertices, channels) if batch is None else (batch, geometry.n_vertices, channels)

    def make(dev):
        x = torch.randn(*shape, device=dev).requires_grad_()
        return x, geometry.to_torch(torch.float32, dev)

    return make


MESH_LAYERS = {
    "GaugeConv SO2": lambda: GaugeConv(SO2, SO2, rings=2, band_limit=2),
    "GaugeConv sum, radius": lambda: GaugeConv(SO2, FieldType("0 + 1"), aggr="sum", radius=0.3),
}


@needs_cuda
@pytest.mark.parametrize("name", sorted(MESH_LAYERS))
def test_gauge_conv(name, icosphere_geometry, exact_cuda):
    _agree(MESH_LAYERS[name](), _on_mesh(icosphere_geometry, SO2.dim, batch=2))


@needs_cuda
def test_gauge_conv_o2_on_the_mobius_strip(mobius_geometry, exact_cuda):
    _agree(GaugeConv(O2, O2, rings=2), _on_mesh(mobius_geometry, O2.dim))


@needs_cuda
def test_conditional_gauge_conv(icosphere_geometry, exact_cuda):
    t = FieldType("2xreg", group="C4")
    _agree(ConditionalGaugeConv(t, t), _on_mesh(icosphere_geometry, t.dim))


@needs_cuda
@pytest.mark.parametrize(
    "layer",
    [
        lambda: RegularNonlinearity(FieldType("2x0 + 2x1 + 2x2"), samples=9),
        lambda: NormNonlinearity(O2),
        lambda: GatedNonlinearity(SO2),
        lambda: FieldBatchNorm(O2),
        lambda: InvariantReadout(O2),
    ],
    ids=["regular", "norm", "gated", "batchnorm", "readout"],
)
def test_pointwise_layers(layer, exact_cuda):
    module = layer()
    _agree(module, _features(300, getattr(module, "in_type", O2).dim))


@needs_cuda
def test_batch_norm_running_statistics(exact_cuda):
    norm = FieldBatchNorm(O2)
    stats = []
    for dev in ("cpu", CUDA):
        m = copy.deepcopy(norm).to(dev)
        torch.manual_seed(0)
        m(torch.randn(500, O2.dim, device=dev) * 3 + 1)
        m.eval()
        stats.append([m.running_mean.cpu(), m.running_var.cpu(), m(torch.ones(4, O2.dim, device=dev)).cpu()])
    for a, b in zip(*stats):
        torch.testing.assert_close(b, a, **TOL)


@needs_cuda
def test_gauge_conv_on_a_batch_of_torch_meshes(disc_geometry, mobius_geometry, exact_cuda):
    """A batch of torch meshes applies their operators mesh by mesh (rows of one result)."""

    def make(dev):
        meshes = [g.to_torch(torch.float32, dev) for g in (disc_geometry, mobius_geometry)]
        batch = Geometry.batch(meshes)
        return torch.randn(2, batch.n_vertices, O2.dim, device=dev).requires_grad_(), batch

    _agree(GaugeConv(O2, O2, rings=2), make)


@needs_cuda
@pytest.mark.parametrize("reduce", ["mean", "max", "sum", "area"])
def test_global_pool_on_a_batch(reduce, disc_geometry, torus_geometry, exact_cuda):
    batch = Geometry.batch([disc_geometry, torus_geometry])
    _agree(torch.nn.Identity(), _on_mesh(batch, 5), call=lambda m, x, g: global_pool(m(x), g, reduce))


@needs_cuda
@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_transport_pool_and_unpool(reduce, levels_geometry, exact_cuda):
    both = torch.nn.ModuleList([TransportPool(SO2, reduce=reduce), TransportUnpool(SO2)])
    _agree(both, _on_mesh(levels_geometry, SO2.dim), call=lambda m, x, g: m[1](m[0](x, g.pools[0]), g.pools[0]))


@needs_cuda
def test_ico_layers(ico_atlas, exact_cuda):
    fine, coarse = ico_atlas(2), ico_atlas(1)
    atlas_input = _features(2, C6.dim * fine.n_vertices)

    def as_atlas(x, n):
        return x.view(2, C6.dim, n)

    _agree(IcoConv(C6, C6, fine), atlas_input, call=lambda m, x: m(as_atlas(x, fine.n_vertices)))
    _agree(IcoPad(C6, fine), atlas_input, call=lambda m, x: m(as_atlas(x, fine.n_vertices)))
    for reduce in ("max", "mean"):
        pool = IcoPool(C6, fine, coarse, reduce=reduce)
        _agree(pool, atlas_input, call=lambda m, x: m(as_atlas(x, fine.n_vertices)))
    coarse_input = _features(2, C6.dim * coarse.n_vertices)
    _agree(IcoUnpool(C6, fine, coarse), coarse_input, call=lambda m, x: m(as_atlas(x, coarse.n_vertices)))


@needs_cuda
def test_mobius_layers(exact_cuda):
    def make(dev):
        return (torch.randn(2, STRIP.dim, 6, 16, device=dev, requires_grad=True),)

    _agree(MobiusConv(STRIP, STRIP, kernel_size=3), make)
    for reduce in ("max", "mean"):
        _agree(MobiusPool(STRIP, along=True, across=True, reduce=reduce), make)


@needs_cuda
def test_models(levels_geometry, exact_cuda):
    resnet = GaugeResNet(FieldType("3x0"), SO2, out_dim=4, depth=2, band_limit=2)
    _agree(resnet, _on_mesh(levels_geometry, 3))
    unet = GaugeUNet(FieldType("3x0"), FieldType("0 + 1"), [SO2, SO2, SO2], band_limit=2)
    _agree(unet, _on_mesh(levels_geometry, 3))


# ---------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_refused_with_one_message(dtype, icosphere_geometry):
    g = icosphere_geometry.to_torch(torch.float32)
    t = FieldType("2xreg", group="C4")
    layers = [
        (GaugeConv(SO2, SO2), SO2.dim),
        (ConditionalGaugeConv(t, t), t.dim),
        (GaugeResNet(FieldType("3x0"), SO2, out_dim=2), 3),
    ]
    for layer, channels in layers:
        x = torch.randn(g.n_vertices, channels).to(dtype)
        with pytest.raises(ValueError, match=r"must be float32 or float64, got torch\.(float16|bfloat16); convert"):
            layer(x, g)


def test_layers_follow_the_input_dtype(icosphere_geometry):
    """A float64 layer on a float32 geometry computes in float64 (the operators are built per dtype)."""
    g = icosphere_geometry.to_torch(torch.float32)
    conv = GaugeConv(SO2, SO2, band_limit=2).double()
    x = torch.randn(g.n_vertices, SO2.dim, dtype=torch.float64)
    y64 = conv(x, g)
    y32 = conv.float()(x.float(), g)
    assert y64.dtype == torch.float64 and y32.dtype == torch.float32
    np.testing.assert_allclose(y32.double().detach().numpy(), y64.detach().numpy(), atol=1e-4)
