"""torch.compile: a GaugeResNet forward+backward is one graph without breaks once its geometry
has its operators (the build on a new geometry is the only break), and compiles to the same
numbers; the custom op behind the sparse products passes torch's operator checks."""

import pytest
import torch

from gaugeconv import FieldType, Geometry
from gaugeconv.models import GaugeResNet
from gaugeconv.nn.kernel import KernelPlan
from gaugeconv.nn.operators import _sparse_moments, gauge_operators
from gaugeconv.testing import randomize_parameters


@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _resnet_step():
    """A GaugeResNet with random parameters and its training step ``step(x, geometry) -> loss``."""
    model = GaugeResNet(FieldType("3x0"), FieldType("2x0 + 1 + 2"), 3, depth=1, band_limit=2)
    randomize_parameters(model)

    def step(x, geometry):
        return model(x, geometry).square().sum()

    return model, step


def _assert_one_graph_like_eager(model, step, x, geometry, negative_control=None):
    """Eager forward+backward first (the geometry gets its operators); then ``step`` is one graph
    without breaks, and compiled with ``fullgraph=True`` gives eager's loss and gradients.
    ``negative_control()`` runs between the two (it may use dynamo)."""
    step(x, geometry).backward()
    eager = [p.grad.clone() for p in model.parameters()]
    explanation = torch._dynamo.explain(step)(x, geometry)
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), explanation.break_reasons
    if negative_control is not None:
        negative_control()
    torch._dynamo.reset()
    model.zero_grad()
    loss = torch.compile(step, backend="aot_eager", fullgraph=True)(x, geometry)
    loss.backward()
    torch.testing.assert_close(loss, step(x, geometry).detach(), atol=1e-5, rtol=1e-5)
    for p, grad in zip(model.parameters(), eager):
        torch.testing.assert_close(p.grad, grad, atol=1e-5, rtol=1e-5)


def test_gauge_resnet_is_one_graph(icosphere_geometry, torus_geometry, fresh_dynamo):
    g = icosphere_geometry.to_torch(torch.float32)
    model, step = _resnet_step()

    def new_geometry_breaks():
        # negative control: on a new geometry the operators are built outside the graph, a break per signature
        fresh = torus_geometry.to_torch(torch.float32)
        explanation = torch._dynamo.explain(step)(torch.randn(fresh.n_vertices, 3), fresh)
        assert explanation.graph_break_count >= 1
        assert "compiler.disable" in str(explanation.break_reasons[0].reason)

    _assert_one_graph_like_eager(model, step, torch.randn(g.n_vertices, 3), g, new_geometry_breaks)


def test_custom_op_passes_opcheck(mobius_geometry):
    g = mobius_geometry.to_torch(torch.float64)
    plan = KernelPlan(FieldType("1", group="O2"), FieldType("0 + 2", group="O2"), rings=2, band_limit=None)
    op = gauge_operators(g, plan, None, "mean", torch.float64, torch.device("cpu"))[0][0]
    x = torch.randn(2 * g.n_vertices, 3, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(_sparse_moments, (x, *op))


def test_a_batch_of_meshes_is_one_graph(torus_geometry, disc_geometry, fresh_dynamo):
    """On a batch of torch meshes the operators are applied mesh by mesh (one custom op per mesh
    and matrix): still one graph without breaks, the numbers and gradients of eager."""
    batch = Geometry.batch([torus_geometry.to_torch(torch.float32), disc_geometry.to_torch(torch.float32)])
    model, step = _resnet_step()
    _assert_one_graph_like_eager(model, step, torch.randn(batch.n_vertices, 3), batch)
