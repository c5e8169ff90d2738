"""GaugeConv: exact gauge equivariance (SO2, O2, C_N, D_N), negative controls, kernel structure,
parameter counts against the numerically solved constraint, gradcheck, batching, input errors."""

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, Geometry, load_geometry, preprocess, save_geometry, shapes
from gaugeconv.groups import o2_matrix
from gaugeconv.nn import GaugeConv, global_pool
from gaugeconv.nn.operators import ring_weights
from gaugeconv.testing import TOLERANCE, assert_gauge_equivariant, identity_transporters


@pytest.fixture(scope="module")
def meshes(icosphere_geometry, torus_geometry, disc_geometry, mobius_geometry):
    """The shared session geometries (tests/conftest.py) by name."""
    return {"icosphere": icosphere_geometry, "torus": torus_geometry, "disc": disc_geometry, "mobius": mobius_geometry}


TYPES = {
    "SO2": (FieldType("2x0 + 1 + 2x2 + 3"), FieldType("2x0 + 2x1 + 2 + 3")),
    "O2": (FieldType("2x0 + 0- + 1 + 2x2 + 3", group="O2"), FieldType("0 + 2x0- + 2x1 + 2 + 3", group="O2")),
}
CASES = [
    ("icosphere", "SO2"),
    ("icosphere", "O2"),
    ("torus", "SO2"),
    ("disc", "SO2"),
    ("disc", "O2"),
    ("mobius", "O2"),
]


def make_conv(in_type, out_type, **kw):
    torch.manual_seed(0)
    conv = GaugeConv(in_type, out_type, **kw).double()
    if conv.bias is not None:
        with torch.no_grad():
            conv.bias.uniform_(0.5, 1.5)  # non-zero biases: equivariance must survive them
    return conv


@pytest.mark.parametrize("mesh, group", CASES)
@pytest.mark.parametrize("band_limit", [None, 2])
def test_gauge_equivariance_and_negative_control(meshes, mesh, group, band_limit):
    in_type, out_type = TYPES[group]
    conv = make_conv(in_type, out_type, rings=2, band_limit=band_limit)
    assert_gauge_equivariant(conv, meshes[mesh], seed=1)
    with pytest.raises(AssertionError, match="error"):  # negative control: a broken connection
        assert_gauge_equivariant(conv, meshes[mesh], trials=1, seed=1, corrupt=identity_transporters)


def test_batched_features_equivariant(meshes):
    in_type, out_type = TYPES["O2"]
    conv = make_conv(in_type, out_type, rings=3, aggr="sum")
    assert_gauge_equivariant(conv, meshes["mobius"], batch=3)
    g = meshes["mobius"].to_torch(torch.float64)
    x = torch.randn(3, g.n_vertices, in_type.dim, dtype=torch.float64)
    batched = conv(x, g)
    for b in range(3):
        torch.testing.assert_close(batched[b], conv(x[b], g), atol=1e-12, rtol=0)


FINITE = [
    (FieldType("0 + 2xreg", group="C4"), FieldType("2xreg + 1", group="C4")),
    (FieldType("reg + 1", group="C5"), FieldType("0 + reg", group="C5")),
    (FieldType("reg", group="C6"), FieldType("2xreg", group="C6")),
    (FieldType("0 + 0- + reg", group="D4"), FieldType("reg + 2", group="D4")),
    (FieldType("reg", group="D3"), FieldType("0- + reg", group="D3")),
    (FieldType("2x0 + reg", group="D1"), FieldType("reg + 0-", group="D1")),
]


@pytest.mark.parametrize("in_type, out_type", FINITE, ids=lambda t: f"{t.group}:{t}")
def test_regular_fields_exact_for_finite_groups(aligned_plane, in_type, out_type):
    conv = make_conv(in_type, out_type, rings=2)
    assert_gauge_equivariant(conv, aligned_plane)
    with pytest.raises(AssertionError):
        assert_gauge_equivariant(conv, aligned_plane, corrupt=identity_transporters)


def test_finite_group_types_need_fitting_transporters(meshes):
    conv = GaugeConv(FieldType("reg", group="C4"), FieldType("reg", group="C4")).double()
    g = meshes["icosphere"].to_torch(torch.float64)
    with pytest.raises(ValueError, match="multiples of 2\\*pi/4"):
        conv(torch.zeros(g.n_vertices, 4, dtype=torch.float64), g)
    so2 = GaugeConv(FieldType("0 + 1"), FieldType("0 + 1")).double()
    m = meshes["mobius"].to_torch(torch.float64)
    with pytest.raises(ValueError, match="structure group is O2"):
        so2(torch.zeros(m.n_vertices, 3, dtype=torch.float64), m)


# ---------------------------------------------------------------------------------------- kernel structure
def _jacobian_blocks(conv, g):
    """d y_p / d x_q for every edge and every vertex (the layer is affine in x)."""
    V = g.n_vertices
    x = torch.zeros(V, conv.in_type.dim, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda x: conv(x, g), x)  # (V, C_out, V, C_in)
    return jac.permute(0, 2, 1, 3).numpy()  # (p, q, C_out, C_in)


@pytest.mark.parametrize("group", ["SO2", "O2"])
@pytest.mark.parametrize("band_limit", [None, 1])
def test_kernel_is_rho_out_W_rho_in_inverse(meshes, group, band_limit):
    """Slow reference: the per-edge Jacobian equals rho_out(theta) W(r) rho_in(theta)^-1 rho_in(T) / deg
    with W(r) interpolated between rings, W reflection-symmetric for O2, band-limited spectrum."""
    in_type = FieldType("0 + 1 + 2", group=group)
    out_type = FieldType("0 + 1 + 2" + (" + 0-" if group == "O2" else ""), group=group)
    rings = 2
    conv = make_conv(in_type, out_type, rings=rings, band_limit=band_limit)
    geo = meshes["mobius" if group == "O2" else "disc"]
    jac = _jacobian_blocks(conv, geo.to_torch(torch.float64))
    q, p = geo.edge_index
    deg = np.bincount(p, minlength=geo.n_vertices)
    h = ring_weights(torch.as_tensor(geo.log_r), torch.tensor(geo.log_r.max()), rings).numpy()  # (R, E)
    w_edges = []
    for e in range(geo.n_edges):
        m = jac[p[e], q[e]] * deg[p[e]] @ in_type.rho(geo.transport_angle[e], geo.transport_flip[e]).T
        w_edges.append(out_type.rho(-geo.log_theta[e]) @ m @ in_type.rho(geo.log_theta[e]))
    w_edges = np.array(w_edges).reshape(geo.n_edges, -1)
    coef, *_ = np.linalg.lstsq(h.T, w_edges, rcond=None)  # (R, C_out * C_in)
    assert np.abs(h.T @ coef - w_edges).max() < 1e-10
    rings_w = coef.reshape(rings, out_type.dim, in_type.dim)
    assert np.abs(rings_w).max() > 0.1
    if group == "O2":
        f_in, f_out = in_type.rho(0.0, True), out_type.rho(0.0, True)
        np.testing.assert_allclose(f_out @ rings_w @ f_in, rings_w, atol=1e-10)
    # angular spectrum of K(theta) = rho_out(theta) W rho_in(-theta)
    theta = 2 * np.pi * np.arange(32) / 32
    kernel = out_type.rho(theta)[:, None] @ rings_w[None] @ in_type.rho(-theta)[:, None]
    spectrum = np.abs(np.fft.fft(kernel, axis=0))
    freq = np.abs(np.fft.fftfreq(32, 1 / 32))
    high = spectrum[freq > (band_limit if band_limit is not None else 4)].max()
    assert high < 1e-9
    if band_limit is not None:
        unlimited = make_conv(in_type, out_type, rings=rings)
        unlimited_w = np.zeros_like(rings_w)
        jac_u = _jacobian_blocks(unlimited, geo.to_torch(torch.float64))
        e = 0
        m = jac_u[p[e], q[e]] * deg[p[e]] @ in_type.rho(geo.transport_angle[e], geo.transport_flip[e]).T
        unlimited_w = out_type.rho(-geo.log_theta[e]) @ m @ in_type.rho(geo.log_theta[e])
        kernel_u = out_type.rho(theta) @ unlimited_w @ in_type.rho(-theta)
        spec_u = np.abs(np.fft.fft(kernel_u, axis=0))
        assert spec_u[freq > band_limit].max() > 1e-2  # control: without the limit those frequencies exist
    # self-interaction commutes with rho
    w0 = np.array([jac[v, v] for v in range(geo.n_vertices)])
    np.testing.assert_allclose(w0, np.broadcast_to(w0[0], w0.shape), atol=1e-12)
    a, f = 0.7, group == "O2"
    np.testing.assert_allclose(out_type.rho(a, f) @ w0[0], w0[0] @ in_type.rho(a, f), atol=1e-12)
    assert np.abs(w0[0]).max() > 0.05


# ---------------------------------------------------------------------------------------- parameter counts
def _constraint_null_dim(in_type, out_type, band_limit):
    """Dimension of {K(theta) band-limited : K(t + a) = rho_out(a) K(t) rho_in(a)^-1 [, K(-t) = ...F]}."""
    top = band_limit if band_limit is not None else in_type.max_order + out_type.max_order + 2
    freqs = [(n, trig) for n in range(top + 1) for trig in ((0,) if n == 0 else (0, 1))]
    d_out, d_in = out_type.dim, in_type.dim
    n_unknown = len(freqs) * d_out * d_in
    rng = np.random.default_rng(0)

    def basis(theta):  # (len(theta), n_unknown, d_out, d_in): K(theta) for every unit coefficient
        out = np.zeros((len(theta), len(freqs), d_out, d_in, d_out, d_in))
        for i, (n, trig) in enumerate(freqs):
            val = np.cos(n * theta) if trig == 0 else np.sin(n * theta)
            for a in range(d_out):
                for b in range(d_in):
                    out[:, i, a, b, a, b] = val
        return out.reshape(len(theta), n_unknown, d_out, d_in)

    rows = []
    theta, phi = rng.uniform(-np.pi, np.pi, (2, 24))
    lhs = basis(theta + phi)
    rhs = out_type.rho(phi)[:, None] @ basis(theta) @ in_type.rho(-phi)[:, None]
    rows.append((lhs - rhs).transpose(0, 2, 3, 1).reshape(-1, n_unknown))
    if in_type.has_reflections:
        f_out, f_in = out_type.rho(0.0, True), in_type.rho(0.0, True)
        lhs = basis(-theta)
        rhs = f_out @ basis(theta) @ f_in
        rows.append((lhs - rhs).transpose(0, 2, 3, 1).reshape(-1, n_unknown))
    sv = np.linalg.svd(np.concatenate(rows), compute_uv=False)
    return n_unknown - int(np.sum(sv > 1e-8 * sv[0]))


def _commutant_dim(in_type, out_type):
    rng = np.random.default_rng(1)
    a = rng.uniform(-np.pi, np.pi, 8)
    f = rng.integers(0, 2, 8).astype(bool) & in_type.has_reflections
    eye_in, eye_out = np.eye(in_type.dim), np.eye(out_type.dim)
    # rho_out(g) W - W rho_in(g) = 0, vec(W) row-major: (rho_out kron I - I kron rho_in^T)
    rows = [np.kron(ro, eye_in) - np.kron(eye_out, ri.T) for ro, ri in zip(out_type.rho(a, f), in_type.rho(a, f))]
    sv = np.linalg.svd(np.concatenate(rows), compute_uv=False)
    return in_type.dim * out_type.dim - int(np.sum(sv > 1e-8))


PAIRS = [(group, ki, ko) for group, kinds in (("SO2", ["0", "1", "2", "3"]), ("O2", ["0", "0-", "1", "2", "3"]))
         for ki in kinds for ko in kinds]  # fmt: skip


@pytest.mark.parametrize("band_limit", [None, 0, 1, 2, 3])
@pytest.mark.parametrize("group, k_in, k_out", PAIRS)
def test_parameter_count_equals_constraint_solution_dimension(group, k_in, k_out, band_limit):
    in_type, out_type = FieldType(k_in, group=group), FieldType(k_out, group=group)
    expected = _constraint_null_dim(in_type, out_type, band_limit)
    counts = [GaugeConv(in_type, out_type, rings=r, band_limit=band_limit, bias=False).weight.numel() for r in (1, 2)]
    assert counts == [expected, 2 * expected]  # one solution space per ring
    conv = GaugeConv(in_type, out_type, band_limit=band_limit)
    assert conv.self_weight.numel() == _commutant_dim(in_type, out_type)


# ---------------------------------------------------------------------------------------- autograd, batching
def test_gradcheck():
    g = preprocess(shapes.icosahedron(0)).to_torch(torch.float64)
    in_type, out_type = FieldType("0 + 1 + 0-", group="O2"), FieldType("0 + 2 + 0-", group="O2")
    conv = make_conv(in_type, out_type, rings=2)
    x = torch.randn(g.n_vertices, in_type.dim, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: conv(x, g), (x,))
    weight = conv.weight.detach().clone().requires_grad_(True)
    self_weight = conv.self_weight.detach().clone().requires_grad_(True)

    def by_weights(w, s):
        return torch.func.functional_call(conv, {"weight": w, "self_weight": s}, (x.detach(), g))

    assert torch.autograd.gradcheck(by_weights, (weight, self_weight))


def test_geometry_batch_matches_separate_meshes(meshes):
    parts = [meshes["disc"], meshes["torus"], meshes["icosphere"]]
    batch = Geometry.batch(parts)
    assert batch.n_vertices == sum(g.n_vertices for g in parts) and batch.n_graphs == 3
    assert batch.graph_sizes == tuple(g.n_vertices for g in parts)
    in_type, out_type = TYPES["SO2"]
    conv = make_conv(in_type, out_type)
    torch.manual_seed(3)
    xs = [torch.randn(g.n_vertices, in_type.dim, dtype=torch.float64) for g in parts]
    joint = conv(torch.cat(xs), batch.to_torch(torch.float64))
    separate = torch.cat([conv(x, g.to_torch(torch.float64)) for x, g in zip(xs, parts)])
    torch.testing.assert_close(joint, separate, atol=1e-12, rtol=0)
    pooled = global_pool(joint, batch.to_torch(torch.float64), "max")
    assert pooled.shape == (3, out_type.dim)
    torch.testing.assert_close(pooled[1], separate[parts[0].n_vertices : -parts[2].n_vertices].amax(0))
    torch_batch = Geometry.batch([g.to_torch(torch.float64) for g in parts])
    torch.testing.assert_close(torch_batch.edge_index, batch.to_torch().edge_index)
    assert batch.structure_group == "SO2" and Geometry.batch([batch, meshes["mobius"]]).structure_group == "O2"


def test_geometry_batch_save_load(meshes, tmp_path):
    batch = Geometry.batch([meshes["disc"], meshes["torus"]])
    save_geometry(batch, tmp_path / "b.npz")
    loaded = load_geometry(tmp_path / "b.npz")
    assert tuple(loaded.graph_sizes) == batch.graph_sizes
    np.testing.assert_array_equal(loaded.edge_index, batch.edge_index)


# ---------------------------------------------------------------------------------------- errors
def test_bad_arguments_raise(meshes):
    t = FieldType("0 + 1")
    for kwargs in ({"rings": 0}, {"band_limit": -1}, {"aggr": "max"}, {"radius": -1.0}):
        with pytest.raises(ValueError):
            GaugeConv(t, t, **kwargs)
    with pytest.raises(ValueError, match="share a group"):
        GaugeConv(t, FieldType("0 + 1", group="O2"))
    conv = GaugeConv(t, t).double()
    g = meshes["disc"]
    with pytest.raises(ValueError, match="to_torch"):
        conv(torch.zeros(g.n_vertices, 3, dtype=torch.float64), g)
    with pytest.raises(ValueError, match="expected"):
        conv(torch.zeros(g.n_vertices, 4, dtype=torch.float64), g.to_torch(torch.float64))
    with pytest.raises(ValueError, match="shape"):
        conv(torch.zeros(3, dtype=torch.float64), g.to_torch(torch.float64))


def test_repr_and_state_dict():
    conv = GaugeConv(FieldType("4x0 + 2x1"), FieldType("8x0 + 4x1"), rings=2, band_limit=2)
    text = repr(conv)
    assert text.startswith("GaugeConv(4x0 + 2x1 -> 8x0 + 4x1, rings=2, band_limit=2") and "weights" in text
    assert set(conv.state_dict()) == {"weight", "self_weight", "bias"}
    assert conv.bias.shape == (8,)


def test_rotation_matrix_helper_consistency():
    """The irreps convention used by the reference test above: rho_1 is the 2x2 rotation."""
    np.testing.assert_allclose(FieldType("1").rho(0.4), o2_matrix(0.4, False))


def test_float32_within_tolerance_table(meshes):
    in_type, out_type = TYPES["O2"]
    conv = make_conv(in_type, out_type, band_limit=2).float()
    assert_gauge_equivariant(conv, meshes["mobius"], dtype=torch.float32)
    assert TOLERANCE[torch.float32] > TOLERANCE[torch.float64]
    assert (
        conv(torch.zeros(meshes["mobius"].n_vertices, in_type.dim), meshes["mobius"].to_torch()).dtype == torch.float32
    )
