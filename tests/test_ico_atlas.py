"""The icosahedral atlas: charts cover the grid, the 60 rotations, seams agree with the mesh's connection."""

import numpy as np
import pytest
import torch

from gaugeconv import preprocess
from gaugeconv.groups import FieldType
from gaugeconv.ico.atlas import DIRECTIONS, IcoAtlas
from gaugeconv.ico.padding import IcoPad
from gaugeconv.ico.symmetry import icosahedral_rotations
from gaugeconv.shapes import icosahedron

LEVELS = [1, 2, 3]


@pytest.mark.parametrize("level", [0, *LEVELS])
def test_atlas_is_a_bijection(level, ico_atlas):
    atlas = ico_atlas(level)
    n = 2**level
    assert atlas.n_vertices == 10 * 4**level + 2
    assert np.array_equal(np.sort(atlas.vertex_of_atlas), np.arange(atlas.n_vertices))
    assert np.array_equal(atlas.atlas_of_vertex[atlas.vertex_of_atlas], np.arange(atlas.n_vertices))
    # the two poles are the last entries and are corners; 10 corners sit at chart cells (0, 0) and (0, n)
    poles = atlas.vertex_of_atlas[-2:]
    assert set(poles) <= set(atlas.corners)
    _, s, t = atlas.chart_coords[np.setdiff1d(atlas.corners, poles)].T
    assert sorted(zip(s, t)) == sorted([(0, 0), (0, n)] * 5)
    assert len(atlas.corners) == 12 and atlas.corner_neighbours.shape == (12, 5)


@pytest.mark.parametrize("level", LEVELS)
def test_chart_cells_are_lattice_points(level, ico_atlas):
    """Inside a chart the flat mesh is the hexagonal lattice: neighbour d of cell (s, t) is cell
    (s, t) + delta_d, at the same 3D distance, and the six directions are 60 degrees apart."""
    atlas = ico_atlas(level)
    pos = np.asarray(icosahedron(level, sphere=False).vertices)
    regular_ids = np.flatnonzero(atlas.neighbours[:, 0] >= 0)
    step = pos[atlas.neighbours[regular_ids]] - pos[regular_ids][:, None]  # (V', 6, 3)
    assert np.allclose(np.linalg.norm(step, axis=2), np.linalg.norm(step[0, 0]))
    # consecutive directions 60 degrees apart (flat neighbourhoods)
    cos = np.sum(step * np.roll(step, -1, axis=1), axis=2) / np.sum(step * step, axis=2)
    assert np.allclose(cos, 0.5)
    v = atlas.vertex_of_atlas[: 10 * atlas.n**2]
    k, s, t = atlas.chart_coords[v].T
    regular = atlas.neighbours[v, 0] >= 0
    for d, (ds, dt) in enumerate(DIRECTIONS):
        inside = regular & (s + ds >= 0) & (s + ds < atlas.n) & (t + dt >= 0) & (t + dt < 2 * atlas.n)
        chart = atlas.charts(atlas.vertex_of_atlas[None, :])[0]  # (5, n, 2n) mesh ids
        target = chart[k, np.clip(s + ds, 0, atlas.n - 1), np.clip(t + dt, 0, 2 * atlas.n - 1)]
        assert np.array_equal(atlas.neighbours[v[inside], d], target[inside])
        assert np.all(atlas.shifts[v[inside], d] == 0)


@pytest.mark.parametrize("level", LEVELS)
def test_sixty_rotations_from_the_grid(level):
    rotations, perms = icosahedral_rotations(level)
    assert rotations.shape == (60, 3, 3)
    assert np.allclose(rotations @ rotations.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rotations), 1.0)
    assert len(np.unique(np.round(rotations, 8).reshape(60, -1), axis=0)) == 60
    for perm in perms:
        assert np.array_equal(np.sort(perm), np.arange(len(perm)))  # bijective
    # closed under composition: a group
    keys = {tuple(p) for p in perms}
    rng = np.random.default_rng(0)
    for a, b in rng.integers(0, 60, size=(20, 2)):
        assert tuple(perms[a][perms[b]]) in keys
    # the same permutations on the sphere
    _, perms_sphere = icosahedral_rotations(level, sphere=True)
    assert np.array_equal(perms, perms_sphere)


@pytest.mark.parametrize("level", LEVELS)
def test_seam_transport_matches_the_mesh_connection(level, ico_atlas):
    """The atlas's C6 shifts equal the intrinsic connection of the flat icosahedron (gaugeconv.preprocessing)
    after aligning the gauges: shift = m_geo + g_p - g_q, all multiples of 60 degrees."""
    atlas = ico_atlas(level)
    geo = preprocess(icosahedron(level, sphere=False))
    q, p = geo.edge_index
    corner = np.zeros(atlas.n_vertices, bool)
    corner[atlas.corners] = True
    keep = ~corner[p] & ~corner[q]
    theta = geo.log_theta / (np.pi / 3)
    assert np.allclose(theta[~corner[p]], np.rint(theta[~corner[p]]), atol=1e-9)
    # direction of q in p's atlas frame
    d_atlas = np.argmax(atlas.neighbours[p] == q[:, None], axis=1)
    offset = (d_atlas - np.rint(theta).astype(int)) % 6  # g_p, one value per vertex
    g = np.zeros(atlas.n_vertices, int)
    g[p[~corner[p]]] = offset[~corner[p]]
    assert np.all(offset[~corner[p]] == g[p[~corner[p]]])
    m_geo = geo.transport_angle / (np.pi / 3)
    assert np.allclose(m_geo[keep], np.rint(m_geo[keep]), atol=1e-9)
    expected = (np.rint(m_geo[keep]).astype(int) + g[p[keep]] - g[q[keep]]) % 6
    assert np.array_equal(atlas.shifts[p[keep], d_atlas[keep]], expected)
    assert np.any(expected != 0)  # seams do rotate


def test_padding_transports_regular_fields(ico_atlas):
    """Every padded cell holds its source vertex rotated by the recorded transport (orientation
    channel i reads channel i - shift); naive padding differs exactly on the cells with a shift.
    The gradient of the padding (custom backward) equals autograd's for index_select."""
    level = 2
    atlas = ico_atlas(level)
    ftype = FieldType("2xreg", group="C6")
    y = np.random.default_rng(1).normal(size=(1, 12, atlas.n_vertices))
    padded = IcoPad(ftype, atlas)(torch.as_tensor(y))[0].numpy().reshape(2, 6, -1)
    naive = IcoPad(ftype, atlas, transport=False)(torch.as_tensor(y))[0].numpy().reshape(2, 6, -1)
    src, shift = atlas.pad_source.reshape(-1), atlas.pad_shift.reshape(-1)
    plain = ~atlas.pad_from_corner.reshape(-1)
    y_t = torch.as_tensor(y, dtype=torch.float64).requires_grad_()
    weights = torch.randn(1, 12, 5 * (atlas.n + 2), 2 * atlas.n + 2, dtype=torch.float64)
    (IcoPad(ftype, atlas)(y_t) * weights).sum().backward()
    index = np.concatenate([((i - shift) % 6) * atlas.n_vertices + src for i in range(6)])
    y_ref = y_t.detach().reshape(2, -1).clone().requires_grad_()
    (y_ref.index_select(1, torch.as_tensor(index)).reshape(1, 12, *weights.shape[2:]) * weights).sum().backward()
    assert torch.allclose(y_t.grad.reshape(2, -1), y_ref.grad)
    fields = y[0].reshape(2, 6, -1)
    for i in range(6):
        expect = np.take_along_axis(fields[:, :, src], ((i - shift) % 6)[None, None, :].repeat(2, 0), 1)[:, 0]
        assert np.array_equal(padded[:, i, plain], expect[:, plain])
    moved = (shift != 0) & plain
    assert moved.any()
    assert not np.allclose(padded[..., moved], naive[..., moved])
    assert np.array_equal(padded[..., ~moved & plain], naive[..., ~moved & plain])
    # cells reading a corner copy it (no frame there; fields must be orientation-constant)
    corner = ~plain
    assert np.array_equal(padded[..., corner], naive[..., corner])


def test_padding_rotates_irreps(ico_atlas):
    """Irreps read across a seam are rotated by rho_k(60 shift degrees) (FieldType.rho), trivial
    and regular fields alongside them as above; gradients match finite differences."""
    level = 2
    atlas = ico_atlas(level)
    ftype = FieldType("1x1 + 1x0 + 1x2 + 1xreg + 1x3", group="C6")
    y = np.random.default_rng(2).normal(size=(1, ftype.dim, atlas.n_vertices))
    padded = IcoPad(ftype, atlas)(torch.as_tensor(y))[0].numpy().reshape(ftype.dim, -1)
    src, shift = atlas.pad_source.reshape(-1), atlas.pad_shift.reshape(-1)
    expect = ftype.act(torch.as_tensor(y[0][:, src]), shift * np.pi / 3, dim=0).numpy()  # rho(R(60 shift)) per cell
    assert np.abs(padded - expect).max() < 1e-12
    moved = shift != 0
    assert moved.any() and np.abs(padded[:2, moved] - y[0][:2, src[moved]]).max() > 1e-3  # order 1 rotates
    y_t = torch.as_tensor(y[..., :], dtype=torch.float64).requires_grad_()
    torch.autograd.gradcheck(
        IcoPad(ftype, ico_atlas(1)), (torch.randn(1, ftype.dim, 42, dtype=torch.float64, requires_grad=True),)
    )
    assert IcoPad(ftype, atlas)(y_t).shape == (1, ftype.dim, 5 * (atlas.n + 2), 2 * atlas.n + 2)


def test_bad_input(ico_atlas):
    with pytest.raises(ValueError, match="level"):
        IcoAtlas(-1)
    atlas = ico_atlas(1)
    with pytest.raises(ValueError, match="42 vertices"):
        atlas.to_atlas(np.zeros((40, 3)))
    with pytest.raises(ValueError, match="fast path supports"):
        IcoPad(FieldType("2x1"), atlas)
    with pytest.raises(ValueError, match="expected an atlas tensor"):
        IcoPad(FieldType("2x0"), atlas)(torch.zeros(1, 3, 42))


def test_to_atlas_round_trip(ico_atlas):
    atlas = ico_atlas(2)
    x = torch.randn(3, atlas.n_vertices, 4)
    y = atlas.to_atlas(x)
    assert y.shape == (3, 4, atlas.n_vertices)
    assert torch.equal(atlas.to_vertices(y), x)
    assert atlas.charts(y).shape == (3, 4, 5, 4, 8)
    assert torch.equal(atlas.poles(y), x[:, torch.tensor(atlas.vertex_of_atlas[-2:])].transpose(1, 2))
