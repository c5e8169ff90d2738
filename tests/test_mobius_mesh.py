"""The grid path equals the mesh path on the same strip.

Reference: a slow per-vertex convolution built only from a Geometry's buffers: neighbours from
``edge_index`` (paths of up to ``2 h`` edges, composing offsets ``log_r, log_theta`` and
transporters), the 3x3 / 5x5 stencil read off the offsets in each vertex's gauge, the flips from
``transport_flip``. GaugeConv's kernel (a continuous angular basis on the rings of the mesh)
cannot express a grid stencil exactly, so the mesh path used here is this reference; the
Geometry buffers from ``gaugeconv.preprocess(shapes.mobius(..., flat=True))`` are the ground truth.
"""

import numpy as np
import pytest
import torch

from gaugeconv import preprocess, shapes
from gaugeconv.groups import FieldType, o2_inverse
from gaugeconv.mobius import MobiusConv, check_strip_type, mirror
from gaugeconv.mobius.mesh import flip_reduction, grid_to_vertices, vertices_to_grid

W, L = 5, 8  # rows across, columns along; unit spacing: length L, width W - 1

O2_TYPES = [FieldType("1x0 + 1x0- + 1x1", group="O2"), FieldType("1x2 + 1x0-", group="O2")]
D1_TYPES = [FieldType("1x0 + 1x0- + 1xreg", group="D1"), FieldType("2xreg", group="D1")]


@pytest.fixture(scope="module")
def geometry():
    return preprocess(shapes.mobius(length=L, width=W - 1, n_length=L, n_width=W, flat=True))


def stencil(g, half):
    """Per vertex p: {(a, b): (q, flip)} with (a, b) the offset of q across/along in p's gauge.

    ``g`` must have transporters in {e, F} (a flip-reduced gauge); offsets are composed along
    all edge paths of up to ``2 half`` steps, and every path must agree (a flat strip).
    """
    q_all, p_all = g.edge_index
    incoming = [np.flatnonzero(p_all == p) for p in range(g.n_vertices)]
    table = []
    for p in range(g.n_vertices):
        found = {(0, 0): (p, False)}
        frontier = [(p, np.zeros(2), False)]  # (vertex, offset in p's gauge, flip from it to p)
        for _ in range(2 * half):
            new = []
            for m, offset, flip_mp in frontier:
                sign = np.array([1.0, -1.0 if flip_mp else 1.0])  # T(m -> p) = F**flip_mp
                for e in incoming[m]:
                    q = q_all[e]
                    step = g.log_r[e] * np.array([np.cos(g.log_theta[e]), np.sin(g.log_theta[e])])
                    v = offset + sign * step
                    b, a = np.round(v).astype(int)
                    assert np.abs(v - np.round(v)).max() < 1e-9  # lattice offsets
                    if max(abs(a), abs(b)) > half:
                        continue
                    f = bool(flip_mp ^ g.transport_flip[e])
                    assert abs(np.sin(g.transport_angle[e])) < 1e-9 and np.cos(g.transport_angle[e]) > 0
                    if (a, b) in found:
                        assert found[(a, b)] == (q, f), "paths disagree: not a flat strip"
                        continue
                    found[(a, b)] = (q, f)
                    new.append((q, v, f))
            frontier = new
        table.append(found)
    return table


def reference_conv(x, g, conv, table):
    """y_p = sum_q K(offset_pq) rho_in(T_pq) x_q + bias, per vertex; x (B, V, C_in) -> (B, V, C_out)."""
    kernel = conv.kernel().detach()
    h = conv.kernel_size // 2
    bias = conv.bias_vector().detach()
    out = torch.zeros(x.shape[0], g.n_vertices, conv.out_type.dim, dtype=x.dtype)
    for p, found in enumerate(table):
        for (a, b), (q, f) in found.items():
            xq = conv.in_type.act(x[:, q], 0.0, f)  # rho_in(F**f)
            out[:, p] += xq @ kernel[:, :, a + h, b + h].T
        out[:, p] += bias
    return out


def chart_flips(g):
    """Per vertex, whether its gauge's e2 points to decreasing rows (e1 must point along +i)."""
    q_all, p_all = g.edge_index
    flips = np.zeros(g.n_vertices, dtype=bool)
    for p in range(g.n_vertices):
        i, j = divmod(p, W)
        for e in np.flatnonzero(p_all == p):
            qi, qj = divmod(int(q_all[e]), W)
            if qi == i and qj == j + 1:
                flips[p] = np.sin(g.log_theta[e]) < 0
            if qi == i and qj == j - 1:
                flips[p] = np.sin(g.log_theta[e]) > 0
            if qj == j and qi == (i + 1) % L and i != L - 1:
                assert abs(g.log_theta[e]) < 1e-9  # e1 along the strip, towards increasing i
    return flips


def reduce(g):
    """Flip-reduced gauge with e1 along +i at vertex 0 (direction of the edge from vertex W)."""
    q_all, p_all = g.edge_index
    e = np.flatnonzero((p_all == 0) & (q_all == W))[0]
    angle, flip = flip_reduction(g, root=0, direction=g.log_theta[e])
    return angle, flip, g.gauge_transform(angle, flip)


def act(t, x, angle, flip, inverse=False):
    """x (B, V, C) -> rho(h_p) x_p (or rho(h_p)^-1 x_p) with h_p = R(angle_p) F**flip_p."""
    if inverse:
        angle, flip = o2_inverse(angle, flip)
    return t.act(x, angle, flip)


def make_conv(t_in, t_out, k):
    torch.manual_seed(2)
    conv = MobiusConv(t_in, t_out, kernel_size=k).double()
    with torch.no_grad():
        if conv.bias.numel():
            conv.bias.normal_()
    return conv


def grid_features(t, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, t.dim, W, L, generator=gen, dtype=torch.float64)


def test_flip_reduction_gives_flip_group_transporters(geometry):
    angle, flip, red = reduce(geometry)
    assert not flip[0] and angle.shape == flip.shape == (geometry.n_vertices,)  # the root is only rotated
    assert np.abs(np.sin(red.transport_angle)).max() < 1e-9 and (np.cos(red.transport_angle) > 0).all()
    n_flips = int(red.transport_flip.sum())
    assert n_flips > 0 and n_flips % 2 == 0  # the twist cannot be gauged away
    assert geometry.structure_group == "O2" and not geometry.orientable


def test_negative_control_flip_reduction_rejects_broken_transporters(geometry):
    from dataclasses import replace

    broken = replace(geometry, transport_flip=np.zeros_like(geometry.transport_flip))
    with pytest.raises(ValueError, match="not flat"):
        flip_reduction(broken)


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("t_in, t_out", [(D1_TYPES[0], D1_TYPES[1]), (O2_TYPES[0], O2_TYPES[1])])
def test_grid_path_equals_mesh_path(geometry, t_in, t_out, k):
    _, _, red = reduce(geometry)
    table = stencil(red, k // 2)
    conv = make_conv(t_in, t_out, k)
    x = grid_features(t_in)
    s = chart_flips(red)
    # chart gauge -> reduced gauge: rho(F) where the reduced e2 points to decreasing rows
    zero = np.zeros(len(s))
    y_mesh = reference_conv(act(t_in, grid_to_vertices(x), zero, s), red, conv, table)
    y_grid = grid_to_vertices(conv(x))
    assert (act(t_out, y_mesh, zero, s) - y_grid).abs().max().item() < 1e-10
    torch.testing.assert_close(vertices_to_grid(grid_to_vertices(x), W), x, rtol=0, atol=0)
    # negative control: the same neighbours and offsets with every transporter set to the identity
    table_broken = [{key: (q, False) for key, (q, _) in found.items()} for found in table]
    y_broken = reference_conv(act(t_in, grid_to_vertices(x), zero, s), red, conv, table_broken)
    assert (act(t_out, y_broken, zero, s) - y_grid).abs().max().item() > 1e-3


@pytest.mark.parametrize("t_in, t_out", [(D1_TYPES[0], D1_TYPES[1]), (O2_TYPES[0], O2_TYPES[1])])
def test_mesh_path_commutes_with_random_gauge_flips(geometry, t_in, t_out):
    _, _, red = reduce(geometry)
    rng = np.random.default_rng(5)
    flips = rng.random(red.n_vertices) < 0.5
    flipped = red.gauge_transform(np.zeros(red.n_vertices), flips)
    conv = make_conv(t_in, t_out, 3)
    x = grid_to_vertices(grid_features(t_in))
    y = reference_conv(x, red, conv, stencil(red, 1))
    zero = np.zeros(len(flips))  # F is its own inverse
    y_flipped = reference_conv(act(t_in, x, zero, flips), flipped, conv, stencil(flipped, 1))
    assert (y_flipped - act(t_out, y, zero, flips)).abs().max().item() < 1e-10


def test_mesh_path_with_random_o2_gauges_equals_grid_path(geometry):
    """Random O(2) gauges (rotations and flips) through Geometry.gauge_transform, O(2) irreps:
    reduce each geometry to the flip group from its buffers, convolve, map back to the own gauge."""
    t_in, t_out = O2_TYPES
    conv = make_conv(t_in, t_out, 3)
    x = grid_features(t_in, seed=3)
    y_grid = grid_to_vertices(conv(x))
    rng = np.random.default_rng(7)
    n = geometry.n_vertices
    h_angle, h_flip = rng.uniform(-np.pi, np.pi, n), rng.random(n) < 0.5
    outputs = []
    for g in (geometry, geometry.gauge_transform(h_angle, h_flip)):
        r_angle, r_flip, red = reduce(g)
        s = chart_flips(red)
        # own gauge <- reduced <- chart: x_own = rho(r) rho(F**s) x_chart
        zero = np.zeros(n)
        x_own = act(t_in, act(t_in, grid_to_vertices(x), zero, s), r_angle, r_flip)
        x_red = act(t_in, x_own, r_angle, r_flip, inverse=True)
        y_own = act(t_out, reference_conv(x_red, red, conv, stencil(red, 1)), r_angle, r_flip)
        y_chart = act(t_out, act(t_out, y_own, r_angle, r_flip, inverse=True), zero, s)  # F**s is an involution
        assert (y_chart - y_grid).abs().max().item() < 1e-10
        outputs.append(y_own)
    # features in the transformed gauges are rho(h^-1) of the originals
    assert (outputs[1] - act(t_out, outputs[0], h_angle, h_flip, inverse=True)).abs().max().item() < 1e-10


def test_o2_irreps_on_the_strip_act_through_the_flip():
    """O(2) types live on the strip through their restriction to {e, F}: the seam mirrors the rows
    and applies rho(F) = diag(1, -1) to an irrep, -1 to a sign field."""
    t = check_strip_type(O2_TYPES[0])  # 0 + 0- + 1
    x = grid_features(t)
    flipped = mirror(x, t)
    torch.testing.assert_close(flipped[:, [0, 2]], x[:, [0, 2]].flip(-2), rtol=0, atol=0)
    torch.testing.assert_close(flipped[:, [1, 3]], -x[:, [1, 3]].flip(-2), rtol=0, atol=0)


def test_layout_helpers_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, C, W, L\)"):
        grid_to_vertices(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="multiple of 5"):
        vertices_to_grid(torch.zeros(1, 7, 2), W)


def test_flip_reduction_rejects_a_disconnected_mesh(geometry):
    from dataclasses import replace

    keep = geometry.edge_index[1] != 0  # vertex 0 loses its incoming edges: unreachable from root 1
    cut = replace(
        geometry,
        edge_index=geometry.edge_index[:, keep],
        log_r=geometry.log_r[keep],
        log_theta=geometry.log_theta[keep],
        transport_angle=geometry.transport_angle[keep],
        transport_flip=geometry.transport_flip[keep],
    )
    with pytest.raises(ValueError, match="connected"):
        flip_reduction(cut, root=1)
