"""GaugeConv's sparse operators: their entries against a per-edge reference, the transposes, the
index arrays shared between layers, their lifetime (the geometry's), and the custom op's
gradients."""

import copy
import dataclasses
import gc
import pickle
import warnings
import weakref

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, Geometry
from gaugeconv.nn import GaugeConv, clear_operators, operator_nbytes
from gaugeconv.nn import operators as ops_module
from gaugeconv.nn.kernel import KernelPlan
from gaugeconv.nn.operators import PartedOperator, gauge_operators, ring_weights, sparse_moments
from gaugeconv.testing import randomize_parameters

T_IN = FieldType("2x0 + 0- + 1 + 2", group="O2")
T_OUT = FieldType("0 + 0- + 2x1 + 2", group="O2")


def _dense(crow, col, values, n_cols):
    """The CSR matrix as a dense tensor, after torch's checks of the CSR invariants (sorted columns)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        size = (crow.numel() - 1, n_cols)
        return torch.sparse_csr_tensor(crow.long(), col.long(), values, size=size, check_invariants=True).to_dense()


def _reference(geometry, plan, radius=None, aggr="mean"):
    """The dense operators from the formula, edge by edge (float64): block (n, j, Re/Im) of row p,
    component kk of column q gets Re/Im of h_j(r)/deg(p) e^{i(n theta + l alpha)} (c + i sigma s)."""
    g = geometry.numpy()
    V = g.n_vertices
    q, p = g.edge_index
    r_max = float(g.log_r.max()) if radius is None else radius
    h = ring_weights(torch.as_tensor(g.log_r), torch.tensor(r_max, dtype=torch.float64), plan.rings).numpy()
    if aggr == "mean":
        h = h / np.bincount(p, minlength=V)[p]
    sigma = np.where(g.transport_flip, -1.0, 1.0)
    out = []
    for grp in plan.groups:
        mats = []
        for b0, b1 in grp.out_range.values():
            nb = b1 - b0
            a = np.zeros((V * nb, V * grp.k))
            for e in range(g.n_edges):
                for i, (n, j, part) in enumerate(grp.blocks[b0:b1]):
                    z = h[j, e] * np.exp(1j * (n * g.log_theta[e] + grp.order * g.transport_angle[e]))
                    if grp.k == 1:
                        entries = [(z.imag if part else z.real) * (sigma[e] if grp.kind == "0-" else 1.0)]
                    else:  # coefficients of c and s in Re/Im of z (c + i sigma s)
                        entries = [z.imag, sigma[e] * z.real] if part else [z.real, -sigma[e] * z.imag]
                    for kk, v in enumerate(entries):
                        a[p[e] * nb + i, q[e] * grp.k + kk] += v
            mats.append(a)
        out.append(mats)
    return out


def _drop_edges(geometry, seed=0):
    """The geometry with a fifth of its directed edges removed (no longer symmetric), still
    grouped by target."""
    g = geometry.numpy()
    keep = np.random.default_rng(seed).random(g.n_edges) > 0.2
    names = ("log_r", "log_theta", "transport_angle", "transport_flip")
    return dataclasses.replace(g, edge_index=g.edge_index[:, keep], **{k: getattr(g, k)[keep] for k in names})


@pytest.mark.parametrize("runs", [True, False], ids=["runs", "degree_classes"])
@pytest.mark.parametrize("which", ["mobius", "disc_dropped"])
def test_operators_match_the_per_edge_formula(mobius_geometry, disc_geometry, which, runs, monkeypatch):
    """Both layouts: segments as runs of consecutive vertices (entries filled in CSR order) and
    as vertices grouped by degree (entries put in CSR order by a row gather)."""
    monkeypatch.setattr(ops_module, "_MAX_RUNS", 10**9 if runs else 0)
    geometry = mobius_geometry if which == "mobius" else _drop_edges(disc_geometry)
    t = geometry.to_torch(torch.float64)
    plan = KernelPlan(T_IN, T_OUT, rings=2, band_limit=None)
    ops = gauge_operators(t, plan, None, "mean", torch.float64, torch.device("cpu"))
    for rows in ops_module._edges(t, torch.device("cpu")):
        assert (rows.inv is None) == runs
        assert len({d for d, _, _ in rows.segments}) > 1  # vertices of several degrees
    reference = _reference(geometry, plan)
    V = geometry.n_vertices
    for grp, group_ops, mats in zip(plan.groups, ops, reference):
        assert len(group_ops) == len(mats)
        for op, ref in zip(group_ops, mats):
            assert op.crow.dtype == op.col.dtype == torch.int32
            a = _dense(op.crow, op.col, op.values, V * grp.k)
            np.testing.assert_allclose(a.numpy(), ref, atol=1e-13, rtol=0)
            a_t = _dense(op.crow_t, op.col_t, op.values_t, ref.shape[0])
            assert torch.equal(a_t, a.T)  # the transpose holds the same numbers
            nnz = ref.shape[0] // V * grp.k * geometry.n_edges  # one entry per edge, block and component
            assert op.values.numel() == op.values_t.numel() == op.col.numel() == nnz


def test_sum_aggregation_and_fixed_radius(torus_geometry):
    plan = KernelPlan(FieldType("0 + 1"), FieldType("0 + 1 + 2"), rings=3, band_limit=2)
    t = torus_geometry.to_torch(torch.float64)
    ops = gauge_operators(t, plan, 0.3, "sum", torch.float64, torch.device("cpu"))
    ref = _reference(torus_geometry, plan, radius=0.3, aggr="sum")
    V = torus_geometry.n_vertices
    for grp, group_ops, mats in zip(plan.groups, ops, ref):
        for op, m in zip(group_ops, mats):
            np.testing.assert_allclose(_dense(op.crow, op.col, op.values, V * grp.k).numpy(), m, atol=1e-13)


def test_layers_share_operators_and_index_arrays(disc_geometry):
    t = disc_geometry.to_torch(torch.float64)
    a = GaugeConv(T_IN, T_OUT).double()
    b = GaugeConv(T_IN, FieldType("3x0 + 2x0- + 1 + 2x2", group="O2")).double()  # same orders, other widths
    c = GaugeConv(FieldType("0 + 0- + 2", group="O2"), T_OUT).double()  # some of a's input kinds
    d = GaugeConv(T_IN, T_OUT, aggr="sum").double()  # other entries, same shapes
    x = torch.randn(t.n_vertices, T_IN.dim, dtype=torch.float64)
    a(x, t), b(x, t)
    ops_a = a._operators(t, torch.float64, x.device)
    assert b._operators(t, torch.float64, x.device) is ops_a  # one set of operators for both
    before = operator_nbytes(t)
    c(torch.randn(t.n_vertices, c.in_type.dim, dtype=torch.float64), t)
    assert operator_nbytes(t) == before  # every matrix of c is one of a's
    kinds_a = {g.kind: group for g, group in zip(a.plan.groups, ops_a)}
    for g, group in zip(c.plan.groups, c._operators(t, torch.float64, x.device)):
        assert all(op is other for op, other in zip(group, kinds_a[g.kind]))
    d(x, t)
    assert operator_nbytes(t) > before
    # new entries, but the index arrays of every block shape are the same tensors
    for group_a, group_d in zip(ops_a, d._operators(t, torch.float64, x.device)):
        for op_a, op_d in zip(group_a, group_d):
            assert op_a.crow is op_d.crow and op_a.col is op_d.col and op_a.col_t is op_d.col_t
            assert op_a.values.data_ptr() != op_d.values.data_ptr()
            assert not torch.equal(op_a.values, op_d.values)


def test_operators_live_as_long_as_their_geometry(disc_geometry, torus_geometry, monkeypatch):
    builds = []
    real = ops_module._build
    monkeypatch.setattr(ops_module, "_build", lambda g, *args: builds.append(g.name) or real(g, *args))
    conv = GaugeConv(FieldType("0 + 1"), FieldType("0 + 1")).double()
    geos = [g.to_torch(torch.float64) for g in (disc_geometry, torus_geometry)]
    xs = [torch.randn(g.n_vertices, 3, dtype=torch.float64) for g in geos]
    for _ in range(3):  # a loop over two meshes builds each once
        for g, x in zip(geos, xs):
            conv(x, g)
    assert builds == ["disc", "torus"]
    probe = weakref.ref(conv._operators(geos[0], torch.float64, xs[0].device)[0][0].values)
    del geos[0]
    gc.collect()
    assert probe() is None  # nothing outside the geometry kept its operators
    clear_operators(geos[0])
    assert operator_nbytes(geos[0]) == 0
    conv(xs[1], geos[0])
    assert builds == ["disc", "torus", "torus"]


def test_copies_start_without_operators(disc_geometry):
    t = disc_geometry.to_torch(torch.float64)
    conv = GaugeConv(FieldType("0 + 1"), FieldType("0 + 1")).double()
    x = torch.randn(t.n_vertices, 3, dtype=torch.float64)
    y = conv(x, t)
    assert operator_nbytes(t) > 0
    for other in (pickle.loads(pickle.dumps(t)), copy.copy(t), copy.deepcopy(t), dataclasses.replace(t)):
        assert other._operators == {} and other._operators is not t._operators
        torch.testing.assert_close(conv(x, other), y, atol=1e-14, rtol=0)
    assert operator_nbytes(t) > 0  # the original keeps its own
    assert "_operators" not in repr(t)
    restored = pickle.loads(pickle.dumps(conv))
    torch.testing.assert_close(restored(x, t), y, atol=0, rtol=0)


def test_sparse_moments_gradients(mobius_geometry):
    t = mobius_geometry.to_torch(torch.float64)
    plan = KernelPlan(FieldType("1", group="O2"), FieldType("0 + 2", group="O2"), rings=2, band_limit=None)
    op = gauge_operators(t, plan, None, "mean", torch.float64, torch.device("cpu"))[0][0]
    x = torch.randn(2 * t.n_vertices, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: sparse_moments(op, v), (x,))
    assert torch.autograd.gradgradcheck(lambda v: sparse_moments(op, v), (x,))


def test_parted_operator_gradients(mobius_geometry, disc_geometry):
    """A batch's operator, applied mesh by mesh: its product, transpose and double backward are
    those of the block-diagonal matrix."""
    meshes = [g.to_torch(torch.float64) for g in (mobius_geometry, disc_geometry)]
    plan = KernelPlan(FieldType("1", group="O2"), FieldType("0 + 2", group="O2"), rings=2, band_limit=None)
    op = gauge_operators(Geometry.batch(meshes), plan, None, "mean", torch.float64, torch.device("cpu"))[0][0]
    assert isinstance(op, PartedOperator)
    x = torch.randn(sum(op.cols), 3, dtype=torch.float64, requires_grad=True)
    whole = op.block_diagonal()
    torch.testing.assert_close(sparse_moments(op, x), sparse_moments(whole, x), atol=0, rtol=0)
    assert torch.autograd.gradcheck(lambda v: sparse_moments(op, v), (x,))
    assert torch.autograd.gradgradcheck(lambda v: sparse_moments(op, v), (x,))


def test_a_batch_runs_like_its_meshes_one_by_one(disc_geometry, mobius_geometry, torus_geometry):
    """GaugeConv on a batch of torch meshes (operators applied mesh by mesh) gives the outputs and
    gradients (input and parameters) of the meshes run one by one, in a feature batch too."""
    meshes = [g.to_torch(torch.float64) for g in (disc_geometry, mobius_geometry, torus_geometry)]
    conv = randomize_parameters(GaugeConv(T_IN, T_OUT).double())
    xs = [torch.randn(2, g.n_vertices, T_IN.dim, dtype=torch.float64, requires_grad=True) for g in meshes]
    ys = [conv(x, g) for x, g in zip(xs, meshes)]
    weights = [torch.randn_like(y) for y in ys]
    sum((y * w).sum() for y, w in zip(ys, weights)).backward()
    one_by_one = [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    x = torch.cat([x.detach() for x in xs], dim=1).requires_grad_()
    batch = Geometry.batch(meshes)
    y = conv(x, batch)
    (y * torch.cat(weights, dim=1)).sum().backward()
    torch.testing.assert_close(y, torch.cat(ys, dim=1), atol=1e-12, rtol=0)
    torch.testing.assert_close(x.grad, torch.cat([x.grad for x in xs], dim=1), atol=1e-12, rtol=0)
    for p, expected in zip(conv.parameters(), one_by_one):
        torch.testing.assert_close(p.grad, expected, atol=1e-10, rtol=1e-12)
    # negative control: the same features on the meshes in another order (other vertex ranges)
    swapped = Geometry.batch([meshes[1], meshes[0], meshes[2]])
    assert not torch.allclose(conv(x, swapped), y.detach(), atol=1e-6)


def test_edges_in_any_order(disc_geometry):
    """Edges need not come grouped: shuffling them changes nothing but rounding."""
    g = disc_geometry.numpy()
    perm = np.random.default_rng(0).permutation(g.n_edges)
    names = ("log_r", "log_theta", "transport_angle", "transport_flip")
    shuffled = dataclasses.replace(g, edge_index=g.edge_index[:, perm], **{k: getattr(g, k)[perm] for k in names})
    conv = GaugeConv(T_IN, T_OUT).double()
    x = torch.randn(g.n_vertices, T_IN.dim, dtype=torch.float64)
    y = conv(x, g.to_torch(torch.float64))
    torch.testing.assert_close(conv(x, shuffled.to_torch(torch.float64)), y, atol=1e-13, rtol=0)


def test_batched_geometry_builds_block_diagonal_operators(disc_geometry, torus_geometry):
    parts = [disc_geometry.to_torch(torch.float64), torus_geometry.to_torch(torch.float64)]
    batch = Geometry.batch([disc_geometry, torus_geometry]).to_torch(torch.float64)  # built on the batch itself
    assert "parts" not in batch._operators
    plan = KernelPlan(FieldType("0 + 1"), FieldType("0 + 1"), rings=2, band_limit=None)
    cpu = torch.device("cpu")
    whole = gauge_operators(batch, plan, None, "mean", torch.float64, cpu)
    singles = [gauge_operators(g, plan, None, "mean", torch.float64, cpu) for g in parts]
    for gi, grp in enumerate(plan.groups):
        for oi, op in enumerate(whole[gi]):
            a = _dense(op.crow, op.col, op.values, batch.n_vertices * grp.k)
            blocks = [
                _dense(s[gi][oi].crow, s[gi][oi].col, s[gi][oi].values, g.n_vertices * grp.k)
                for s, g in zip(singles, parts)
            ]
            torch.testing.assert_close(a, torch.block_diag(*blocks), atol=0, rtol=0)


def test_a_batch_of_torch_geometries_assembles_its_operators_from_its_meshes(
    disc_geometry, torus_geometry, mobius_geometry, monkeypatch
):
    """Geometry.batch of torch meshes keeps them; the batch's operators are their operators put
    block-diagonally, equal to the ones built on the whole batch, and a new batch of the same
    meshes builds nothing."""
    meshes = [g.to_torch(torch.float64) for g in (disc_geometry, mobius_geometry, torus_geometry)]
    scratch = Geometry.batch([g.numpy() for g in meshes]).to_torch(torch.float64)
    plan = KernelPlan(T_IN, T_OUT, rings=2, band_limit=None)
    cpu = torch.device("cpu")
    builds = []
    real = ops_module._Builder.matrix
    monkeypatch.setattr(
        ops_module._Builder, "matrix", lambda self, *a: builds.append(self.geometry.name) or real(self, *a)
    )
    expected = gauge_operators(scratch, plan, None, "mean", torch.float64, cpu)
    n_matrices = len(builds)
    batch = Geometry.batch([meshes[0], Geometry.batch(meshes[1:])])  # nested batches are flattened
    assert batch._operators["parts"] == tuple(meshes)
    assembled = gauge_operators(batch, plan, None, "mean", torch.float64, cpu)
    assert len(builds) == 4 * n_matrices  # the three meshes', once each
    for group_e, group_a in zip(expected, assembled):
        for e, a in zip(group_e, group_a):
            assert isinstance(a, PartedOperator) and len(a.parts) == 3  # applied mesh by mesh
            for mine, theirs in zip(a.block_diagonal(), e):  # index arrays as int64 (their dtypes follow the sizes)
                mine, theirs = (t if t.is_floating_point() else t.long() for t in (mine, theirs))
                torch.testing.assert_close(mine, theirs, atol=0, rtol=0)
    again = Geometry.batch([meshes[2], meshes[0]])  # another batch of known meshes: nothing built
    conv = GaugeConv(T_IN, T_OUT).double()
    x = torch.randn(again.n_vertices, T_IN.dim, dtype=torch.float64)
    y = conv(x, again)
    assert len(builds) == 4 * n_matrices
    reference = conv(x, Geometry.batch([meshes[2].numpy(), meshes[0].numpy()]).to_torch(torch.float64))
    torch.testing.assert_close(y, reference, atol=0, rtol=0)
