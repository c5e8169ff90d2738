"""IcoConv / IcoPool / IcoUnpool: exact equivariance under the 60 rotations derived from the grid,
negative controls without seam transport, and agreement with a slow reference built from the mesh
path's Geometry buffers."""

import numpy as np
import pytest
import torch

from gaugeconv import preprocess
from gaugeconv.groups import FieldType
from gaugeconv.ico import CornerRule, IcoConv, IcoPool, IcoUnpool, icosahedral_rotations, kernel_basis
from gaugeconv.nn import InvariantReadout
from gaugeconv.shapes import icosahedron

TOL = 1e-12


def orientation_pool(t, reduce="max"):
    """Invariant fields of an atlas tensor: the orientation max (or mean) of regular fields."""
    return InvariantReadout(t, reduce=reduce, dim=1)


def C6(spec):
    return FieldType(spec, group="C6")


@pytest.fixture(scope="module")
def rotations():
    """Permutations of the 60 rotations at levels 0..2 (same rotation order at every level)."""
    perms = {level: icosahedral_rotations(level)[1] for level in range(3)}
    for level in (1, 2):
        coarse = 10 * 4 ** (level - 1) + 2
        assert np.array_equal(perms[level][:, :coarse], perms[level - 1])  # nested grids
    return perms


def rotate(x, perm):
    """Rotate a per-vertex signal (B, V, C): the value at v moves to perm[v]."""
    out = torch.empty_like(x)
    out[:, perm] = x
    return out


class IcoCNN(torch.nn.Module):
    """Two levels of IcoConv with regular fields, ReLU, hexagonal max pooling, invariant readout."""

    def __init__(self, ico_atlas, transport=True):
        super().__init__()
        t_in, t1, t2, t3 = C6("2x0"), C6("1x0 + 3xreg"), C6("4xreg"), C6("2x0 + 2xreg")
        self.atlas2, self.atlas1 = ico_atlas(2), ico_atlas(1)
        self.layers = torch.nn.ModuleList(
            [
                IcoConv(t_in, t1, self.atlas2, transport=transport),
                IcoConv(t1, t2, self.atlas2, transport=transport),
                IcoPool(t2, self.atlas2, self.atlas1, transport=transport),
                IcoConv(t2, t3, self.atlas1, transport=transport),
            ]
        )
        self.readout = orientation_pool(t3)
        with torch.no_grad():
            for layer in self.layers:
                if isinstance(layer, IcoConv):
                    layer.bias.normal_()  # non-zero biases

    def forward(self, x):  # (B, V2, 2) -> per-vertex invariants (B, V1, 4), global (B, 4)
        y = self.atlas2.to_atlas(x)
        y = torch.relu(self.layers[0](y))
        y = torch.relu(self.layers[1](y))
        y = self.layers[2](y)
        y = self.readout(self.layers[3](y))
        return self.atlas1.to_vertices(y), y.mean(-1)


def rotation_errors(model, rotations, x):
    local, pooled = model(x)
    errors = []
    for g in range(60):
        local_r, pooled_r = model(rotate(x, rotations[2][g]))
        errors.append(max((local_r[:, rotations[1][g]] - local).abs().max(), (pooled_r - pooled).abs().max()))
    return torch.stack(errors), local


@pytest.mark.parametrize(
    ("spec_in", "spec_out", "count"), [("0", "0", 2), ("0", "reg", 7), ("reg", "0", 7), ("reg", "reg", 42)]
)
def test_kernel_basis_counts(spec_in, spec_out, count, ico_atlas):
    assert len(kernel_basis(spec_out, spec_in)) == count
    assert IcoConv(C6(f"3x{spec_in}"), C6(f"2x{spec_out}"), ico_atlas(1)).weight.numel() == 6 * count


def test_icocnn_invariant_under_all_60_rotations(rotations, ico_atlas):
    torch.manual_seed(0)
    model = IcoCNN(ico_atlas).double()
    x = torch.randn(2, 162, 2, dtype=torch.float64)
    errors, local = rotation_errors(model, rotations, x)
    assert local.abs().mean() > 1e-3  # not trivially zero
    assert errors.max() < TOL, errors.max()


def test_gradients_flow_through_every_layer(ico_atlas):
    torch.manual_seed(4)
    model = IcoCNN(ico_atlas).double()
    model(torch.randn(2, 162, 2, dtype=torch.float64))[1].square().sum().backward()
    for layer in model.layers:
        for p in layer.parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0


def test_unpooling_gradients_match_finite_differences(ico_atlas):
    torch.manual_seed(4)
    t = C6("1x0 + 1xreg + 1x1")
    up = IcoUnpool(t, ico_atlas(1), ico_atlas(0))
    x = torch.randn(1, t.dim, 12, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(up, (x,))


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_pooling_gradients_match_finite_differences(ico_atlas, reduce):
    torch.manual_seed(4)
    t = C6("1x0 + 1xreg + 1x1")
    pool = IcoPool(t, ico_atlas(2), ico_atlas(1), reduce=reduce).double()
    x = torch.randn(1, t.dim, 162, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(pool, (x,))


def test_without_seam_transport_the_check_fails(rotations, ico_atlas):
    torch.manual_seed(0)
    model = IcoCNN(ico_atlas, transport=False).double()
    x = torch.randn(2, 162, 2, dtype=torch.float64)
    errors, _ = rotation_errors(model, rotations, x)
    assert errors[0] < TOL  # the identity is the first rotation
    assert (errors > 1e-6).sum() >= 50, errors


def test_regular_outputs_rotate_by_the_gauge_change(rotations, ico_atlas):
    """Regular outputs at the rotated vertex equal the original ones cyclically shifted by the
    (per-vertex) frame change of the rotation; the shift is the same for every field."""
    torch.manual_seed(1)
    atlas = ico_atlas(2)
    conv = IcoConv(C6("1x0"), C6("3xreg"), atlas).double()
    x = torch.randn(1, atlas.n_vertices, 1, dtype=torch.float64)
    out = atlas.to_vertices(conv(atlas.to_atlas(x)))[0].reshape(-1, 3, 6)
    regular = np.flatnonzero(atlas.neighbours[:, 0] >= 0)
    with torch.no_grad():
        for g in (5, 17, 42):
            perm = rotations[2][g]
            out_r = atlas.to_vertices(conv(atlas.to_atlas(rotate(x, perm))))[0].reshape(-1, 3, 6)
            moved, base = out_r[perm[regular]], out[regular]  # (V', 3, 6)
            rolls = torch.stack([base.roll(j, -1) for j in range(6)])  # (6, V', 3, 6)
            best = (rolls[:, :, 0] - moved[None, :, 0]).abs().amax(-1).argmin(0)  # shift from field 0
            shifted = rolls[best, torch.arange(len(regular))]
            assert (shifted - moved).abs().max() < TOL
            assert len(set(best.tolist())) > 1  # frames change differently at different vertices


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_pooling_commutes_with_rotations(rotations, ico_atlas, reduce):
    torch.manual_seed(2)
    t = C6("2xreg + 1x0")
    fine, coarse = ico_atlas(2), ico_atlas(1)
    lift = IcoConv(C6("1x0"), t, fine).double()
    readout = orientation_pool(t, reduce="mean")
    x = torch.randn(1, fine.n_vertices, 1, dtype=torch.float64)
    pool = IcoPool(t, fine, coarse, reduce=reduce)

    def down(z):
        return coarse.to_vertices(readout(pool(lift(fine.to_atlas(z)))))

    base = down(x)
    errors = torch.stack([(down(rotate(x, rotations[2][g]))[:, rotations[1][g]] - base).abs().max() for g in range(60)])
    assert errors.max() < TOL


def test_unpooling_commutes_with_rotations(rotations, ico_atlas):
    torch.manual_seed(2)
    t = C6("2xreg + 1x0")
    fine, coarse = ico_atlas(2), ico_atlas(1)
    lift_coarse = IcoConv(C6("1x0"), t, coarse).double()
    readout = orientation_pool(t, reduce="mean")
    xc = torch.randn(1, coarse.n_vertices, 1, dtype=torch.float64)
    unpool = IcoUnpool(t, fine, coarse)

    def up(z):
        return fine.to_vertices(readout(unpool(lift_coarse(coarse.to_atlas(z)))))

    base = up(xc)
    errors = torch.stack([(up(rotate(xc, rotations[1][g]))[:, rotations[2][g]] - base).abs().max() for g in range(60)])
    assert errors.max() < TOL
    # coarse vertices keep their values
    y = lift_coarse(coarse.to_atlas(xc))
    assert (fine.to_vertices(unpool(y))[:, : coarse.n_vertices] - coarse.to_vertices(y)).abs().max() < TOL


def test_naive_pooling_breaks_equivariance(rotations, ico_atlas):
    torch.manual_seed(2)
    t = C6("2xreg")
    fine, coarse = ico_atlas(2), ico_atlas(1)
    lift = IcoConv(C6("1x0"), t, fine).double()
    pool, readout = IcoPool(t, fine, coarse, transport=False), orientation_pool(t)
    x = torch.randn(1, fine.n_vertices, 1, dtype=torch.float64)

    def down(z):
        return coarse.to_vertices(readout(pool(lift(fine.to_atlas(z)))))

    base = down(x)
    errors = [(down(rotate(x, rotations[2][g]))[:, rotations[1][g]] - base).abs().max() for g in range(60)]
    assert sum(e > 1e-6 for e in errors) >= 50


def reference_conv(conv, geometry, atlas, x_geo):
    """Slow per-vertex IcoConv in the gauges of the mesh path (Geometry buffers): for each edge
    q -> p, tap = log_theta / 60 degrees, transport rho_in(transport_angle) (a multiple of 60
    degrees away from the corners); corners: inputs and outputs projected onto the C6-invariant
    vectors (mean over the 6 rotations), outputs by the corner rule. x_geo (V, C_in) -> (V, C_out)."""
    kernel = conv.kernel().detach()  # (C_out, C_in, 3, 3)
    taps = [kernel[:, :, 1 + ds, 1 + dt] for ds, dt in atlas_directions()]
    corner = np.zeros(atlas.n_vertices, bool)
    corner[atlas.corners] = True
    x = x_geo.clone()
    x[torch.as_tensor(corner)] = c6_mean(conv.in_type, x[torch.as_tensor(corner)])
    out = x @ kernel[:, :, 1, 1].T
    q, p = geometry.edge_index
    for e in range(len(p)):
        if corner[p[e]]:
            continue
        d = int(np.rint(geometry.log_theta[e] / (np.pi / 3))) % 6
        m = int(np.rint(geometry.transport_angle[e] / (np.pi / 3))) % 6
        out[p[e]] += taps[d] @ conv.in_type.act(x[q[e]], m * np.pi / 3)
    out += conv.bias_vector().detach()
    for c, ring in zip(atlas.corners, atlas.corner_neighbours):
        out[c] = c6_mean(conv.out_type, out[torch.as_tensor(np.array(ring))].mean(0))
    return out


def c6_mean(ftype, x):
    """The projection onto the C6-invariant vectors: the mean of rho(60 j degrees) x over j."""
    return torch.stack([ftype.act(x, j * np.pi / 3) for j in range(6)]).mean(0)


def atlas_directions():
    from gaugeconv.ico.atlas import DIRECTIONS

    return DIRECTIONS


@pytest.mark.parametrize(("spec_in", "spec_out"), [("2xreg", "3xreg"), ("1x0 + 1x1 + 1x2 + 1xreg", "2x1 + 1x3 + 1x0")])
def test_icoconv_agrees_with_reference_on_mesh_path_buffers(spec_in, spec_out, ico_atlas):
    """IcoConv equals a per-vertex convolution driven by preprocess(flat icosahedron): log_theta and
    transporters of the intrinsic connection (multiples of 60 degrees away from corners), after the
    gauge change g_p between the Geometry's gauge (e1 to the first fan neighbour) and the atlas frame."""
    torch.manual_seed(3)
    level = 2
    atlas = ico_atlas(level)
    geo = preprocess(icosahedron(level, sphere=False))
    t_in, t_out = C6(spec_in), C6(spec_out)
    conv = IcoConv(t_in, t_out, atlas).double()
    with torch.no_grad():
        conv.bias.normal_()
    q, p = geo.edge_index
    regular = atlas.neighbours[:, 0] >= 0
    d_atlas = np.argmax(atlas.neighbours[p] == q[:, None], axis=1)
    g = np.zeros(atlas.n_vertices, dtype=np.int64)
    g[p[regular[p]]] = (d_atlas - np.rint(geo.log_theta / (np.pi / 3)).astype(int))[regular[p]] % 6

    def to_atlas_frame(x, ftype, sign):  # (V, C): features in p's atlas frame, rotated by sign * g_p
        return ftype.act(x, sign * g * np.pi / 3)

    x_atlas = torch.randn(atlas.n_vertices, t_in.dim, dtype=torch.float64)
    corner = torch.as_tensor(~regular)
    x_atlas[corner] = c6_mean(t_in, x_atlas[corner])
    fast = atlas.to_vertices(conv(atlas.to_atlas(x_atlas[None])))[0]
    slow = reference_conv(conv, geo, atlas, to_atlas_frame(x_atlas, t_in, -1))
    assert (to_atlas_frame(slow, t_out, +1) - fast).abs().max() < TOL
    assert fast.abs().max() > 1e-3
    # the gauge change is not trivial and the seams matter: naive padding disagrees
    assert np.any(g != 0)
    naive = IcoConv(t_in, t_out, atlas, transport=False).double()
    naive.load_state_dict(conv.state_dict())
    fast_naive = atlas.to_vertices(naive(atlas.to_atlas(x_atlas[None])))[0]
    assert (to_atlas_frame(slow, t_out, +1) - fast_naive).abs().max() > 1e-3


def test_bad_arguments(ico_atlas):
    atlas1, atlas2 = ico_atlas(1), ico_atlas(2)
    with pytest.raises(ValueError, match="fast path supports"):
        IcoConv(FieldType("2x1"), C6("reg"), atlas1)
    with pytest.raises(TypeError, match="IcoAtlas"):
        IcoConv(C6("reg"), C6("reg"), 1)
    with pytest.raises(ValueError, match="level >= 1"):
        IcoPool(C6("reg"), ico_atlas(0), ico_atlas(0))
    with pytest.raises(ValueError, match="consecutive levels"):
        IcoPool(C6("reg"), atlas2, ico_atlas(0))
    with pytest.raises(ValueError, match="reduce"):
        IcoPool(C6("reg"), atlas2, atlas1, reduce="median")
    with pytest.raises(ValueError, match="level >= 1"):  # level 0: every vertex is a corner
        IcoConv(C6("reg"), C6("reg"), ico_atlas(0))
    with pytest.raises(ValueError, match="level >= 1"):
        IcoPool(C6("reg"), atlas1, ico_atlas(0))
    with pytest.raises(ValueError, match="level >= 1"):
        CornerRule(C6("reg"), ico_atlas(0))
    with pytest.raises(ValueError, match="atlas tensor"):
        IcoConv(C6("reg"), C6("reg"), atlas1)(torch.zeros(1, 6, 10))
    with pytest.raises(ValueError, match="atlas tensor"):
        IcoUnpool(C6("reg"), atlas2, atlas1)(torch.zeros(1, 6, 162))


def test_tables_are_read_only(ico_atlas):
    """The atlas and the solver's bases are shared between layers: nobody may write to them."""
    atlas = ico_atlas(1)
    for name in ("vertex_of_atlas", "neighbours", "shifts", "pad_source", "pad_shift", "corners"):
        assert not getattr(atlas, name).flags.writeable, name
    assert not kernel_basis("reg", "reg").flags.writeable


KINDS = ["0", "1", "2", "3", "reg"]


@pytest.mark.parametrize("out_kind", KINDS)
@pytest.mark.parametrize("in_kind", KINDS)
def test_kernel_basis_solves_the_constraint(out_kind, in_kind):
    """Every basis kernel satisfies K[:, :, g tap] = rho_out(g) K[:, :, tap] rho_in(g)^T for the
    60-degree rotation, and the basis spans the whole solution space (its dimension from an SVD)."""
    from gaugeconv.ico.conv import TAP_ACTION

    basis = kernel_basis(out_kind, in_kind)
    r_out, r_in = C6(f"1x{out_kind}").rho(np.pi / 3), C6(f"1x{in_kind}").rho(np.pi / 3)
    moved = np.zeros_like(basis)
    moved[..., TAP_ACTION] = np.einsum("xo,boit,yi->bxyt", r_out, basis, r_in)
    assert np.abs(moved - basis).max() < 1e-12
    d = basis[0].size
    action = np.zeros((d, d))
    for e in range(d):
        unit = np.zeros(d)
        unit[e] = 1.0
        k = unit.reshape(basis.shape[1:])
        image = np.zeros_like(k)
        image[..., TAP_ACTION] = np.einsum("xo,oit,yi->xyt", r_out, k, r_in)
        action[:, e] = image.reshape(-1)
    null_dim = d - np.linalg.matrix_rank(action - np.eye(d), tol=1e-9)
    assert len(basis) == null_dim
    assert np.linalg.matrix_rank(basis.reshape(len(basis), -1), tol=1e-9) == len(basis)


class IrrepCNN(torch.nn.Module):
    """IcoConv with irreps of every order, regular and trivial fields; ReLU on trivial and regular
    channels only (irreps pass linearly); mean or max-by-norm pooling; trivial per-vertex readout."""

    def __init__(self, ico_atlas, transport=True, reduce="mean"):
        super().__init__()
        t1, t2 = C6("1x0 + 1x1 + 1x2 + 1x3 + 1xreg"), C6("2x1 + 1x2 + 1xreg + 1x0")
        self.atlas2, self.atlas1 = ico_atlas(2), ico_atlas(1)
        self.convs = torch.nn.ModuleList(
            [
                IcoConv(C6("2x0"), t1, self.atlas2, transport=transport),
                IcoConv(t1, t2, self.atlas2, transport=transport),
                IcoConv(t2, C6("3x0"), self.atlas1, transport=transport),
            ]
        )
        self.pool = IcoPool(t2, self.atlas2, self.atlas1, reduce=reduce, transport=transport)
        self.masks = [torch.tensor([1.0] + [0.0] * 6 + [1.0] * 6), torch.tensor([0.0] * 6 + [1.0] * 7)]
        with torch.no_grad():
            for conv in self.convs:
                conv.bias.normal_()

    def forward(self, x):
        y = self.atlas2.to_atlas(x)
        for conv, mask in zip(self.convs[:2], self.masks):
            y = conv(y)
            m = mask.to(y)[None, :, None]
            y = m * torch.relu(y) + (1 - m) * y
        y = self.convs[2](self.pool(y))
        return self.atlas1.to_vertices(y), y.mean(-1)


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_irrep_network_invariant_under_all_60_rotations(rotations, reduce, ico_atlas):
    """Irreps through convolutions and pooling (max: the field of largest norm, nn.pooling.max_scores)."""
    torch.manual_seed(5)
    model = IrrepCNN(ico_atlas, reduce=reduce).double()
    x = torch.randn(2, 162, 2, dtype=torch.float64)
    errors, local = rotation_errors(model, rotations, x)
    assert local.abs().mean() > 1e-3
    assert errors.max() < TOL, errors.max()
    # the irreps carry signal: zeroing their ring transport (naive padding) breaks invariance
    naive = IrrepCNN(ico_atlas, transport=False, reduce=reduce).double()
    naive.load_state_dict(model.state_dict())
    errors, _ = rotation_errors(naive, rotations, x)
    assert (errors > 1e-6).sum() >= 50, errors


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("spec", ["2x0 + 1xreg", "1x1 + 1x2 + 1x3 + 1x0"])
def test_icoconv_gradients_match_finite_differences(spec, level, ico_atlas):
    """The custom backward of the ring read, the corrections and the corner rule (gradcheck)."""
    torch.manual_seed(6)
    conv = IcoConv(C6(spec), C6("1x1 + 1xreg + 1x0"), ico_atlas(level)).double()
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, C6(spec).dim, 10 * 4**level + 2, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(conv, (x,))
    params = (conv.weight, conv.bias)
    torch.autograd.gradcheck(
        lambda w_, b_: torch.func.functional_call(conv, {"weight": w_, "bias": b_}, (x.detach(),)), params
    )
