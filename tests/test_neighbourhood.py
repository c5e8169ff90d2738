"""Geodesic neighbourhoods wider than the one-ring: exact on flat meshes, close to potpourri3d on
curved ones, r^2 growth, equivariant layers on them, label-free, saved in the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, load_geometry, load_mesh, make_mesh, preprocess, save_geometry
from gaugeconv.groups import o2_compose
from gaugeconv.models import GaugeUNet
from gaugeconv.nn import GaugeConv
from gaugeconv.preprocessing import compute_buffers, geodesic_neighbourhoods
from gaugeconv.shapes import disc, icosahedron, mobius, plane
from gaugeconv.testing import (
    check_gauge_equivariance,
    identity_transporters,
    random_isometry,
    randomize_parameters,
)


def in_frame(frames, p, d):
    """Complex coordinates of 3D vectors d (n, 3) in the frames of vertices p (n,)."""
    return np.einsum("nk,nk->n", d, frames[p, 0]) + 1j * np.einsum("nk,nk->n", d, frames[p, 1])


@pytest.fixture(scope="module")
def wavy_disc():
    """A flat disc with irregular vertices (no symmetry)."""
    base = disc(n_rings=14)
    rng = np.random.default_rng(0)
    xy = base.vertices[:, :2] + 0.005 * rng.normal(size=(base.n_vertices, 2))
    return make_mesh(np.c_[xy, np.zeros(len(xy))], base.faces, name="wavy")


@pytest.mark.parametrize("radius", [0.15, 0.3])
def test_flat_log_map_transport_and_membership_are_exact(wavy_disc, radius):
    """On a flat mesh: planar offsets, frame-to-frame transporters, and exactly the disc."""
    b = compute_buffers(wavy_disc)
    nb = geodesic_neighbourhoods(b, radius)
    V, frames = b["vertices"], b["frames"]
    q, p = nb["edge_index"]
    np.testing.assert_allclose(nb["log_r"] * np.exp(1j * nb["log_theta"]), in_frame(frames, p, V[q] - V[p]), atol=1e-12)
    np.testing.assert_allclose(np.exp(1j * nb["transport_angle"]), in_frame(frames, p, frames[q, 0]), atol=1e-12)
    dist = np.linalg.norm(V[:, None] - V[None], axis=-1)
    expect = {(i, j) for i, j in zip(*np.nonzero((dist <= radius) & (dist > 0)))}  # (centre, neighbour)
    assert set(zip(p.tolist(), q.tolist())) == expect
    np.testing.assert_array_equal(nb["degree"], np.bincount(p, minlength=len(V)))
    assert np.all(np.diff(p) >= 0)


def test_neighbours_grow_as_r_squared():
    b = compute_buffers(plane(width=1.0, height=1.0, nx=41, ny=41))
    h = np.mean(b["log_r"])
    centre = np.flatnonzero(np.linalg.norm(b["vertices"][:, :2] - 0.5, axis=1) < 0.1)
    counts = []
    for r in (1.5, 3, 6):
        nb = geodesic_neighbourhoods(b, r * h)
        counts.append(nb["degree"][centre].mean())
    slope = np.polyfit(np.log([1.5, 3, 6]), np.log(counts), 1)[0]  # lattice effects at small r
    assert abs(slope - 2) < 0.2, counts


def test_curved_log_map_matches_potpourri3d():
    """Neighbourhood positions on the icosphere against pp3d's vector heat log map (after the best
    common rotation): within 2% of the radius."""
    import potpourri3d as pp3d

    g = preprocess(icosahedron(4), radius=3.0)
    solver = pp3d.MeshVectorHeatSolver(g.vertices, g.faces)
    worst = 0.0
    for c in range(0, g.n_vertices, 97):
        log = solver.compute_log_map(c)
        edges = np.flatnonzero(g.edge_index[1] == c)
        ours = g.log_r[edges] * np.exp(1j * g.log_theta[edges])
        theirs = log[g.edge_index[0, edges], 0] + 1j * log[g.edge_index[0, edges], 1]
        phase = np.exp(1j * np.angle(np.sum(ours * np.conj(theirs))))
        worst = max(worst, np.max(np.abs(ours - phase * theirs)) / g.radius)
    assert worst < 0.02


def test_mobius_neighbourhoods_reverse_and_flip():
    """Non-orientable: flips appear; reverse edges carry inverse transporters and equal lengths."""
    g = preprocess(mobius(n_length=40, n_width=6), radius=2.5)
    assert g.structure_group == "O2" and g.transport_flip.any()
    q, p = g.edge_index
    key = {(a, b): e for e, (a, b) in enumerate(zip(q.tolist(), p.tolist()))}
    rev = np.array([key[(b, a)] for a, b in zip(q.tolist(), p.tolist())])
    a, f = o2_compose(g.transport_angle, g.transport_flip, g.transport_angle[rev], g.transport_flip[rev])
    assert not f.any()
    np.testing.assert_allclose(np.exp(1j * a), 1.0, atol=1e-9)
    np.testing.assert_allclose(g.log_r, g.log_r[rev], atol=1e-9)  # flat: exact


def test_every_level_gets_neighbourhoods(tmp_path):
    g = preprocess(icosahedron(4), levels=2, radius=2.0)
    one_ring = preprocess(icosahedron(4), levels=2)
    for level, ring in zip([g, *g.levels], [one_ring, *one_ring.levels]):
        assert level.radius == pytest.approx(2.0 * ring.log_r.mean())
        assert level.log_r.max() <= level.radius * (1 + 1e-9)
        assert level.degree.mean() > 2 * ring.degree.mean()
        # the radial rings are two: neighbours spread over the whole radius (one-ring: 0.77-1.0)
        spread = np.percentile(level.log_r / level.log_r.max(), [5, 95])
        assert spread[0] < 0.5 < spread[1]
    save_geometry(g, tmp_path / "g.npz")
    back = load_geometry(tmp_path / "g.npz")
    assert back.radius == g.radius and back.levels[1].radius == g.levels[1].radius
    np.testing.assert_array_equal(back.levels[1].edge_index, g.levels[1].edge_index)
    assert "neighbourhoods of geodesic radius" in g.summary()
    with pytest.raises(ValueError, match="radius must be a positive"):
        preprocess(icosahedron(1), radius=-1.0)


@pytest.mark.parametrize("mesh", [icosahedron(2), mobius(n_length=24, n_width=5)], ids=["sphere", "mobius"])
def test_gauge_conv_on_neighbourhoods_is_equivariant(mesh):
    g = preprocess(mesh, radius=2.5)
    group = "O2" if g.structure_group == "O2" else "SO2"
    t_in, t_out = FieldType("2x0 + 2x1 + 1x2", group=group), FieldType("3x0 + 2x1 + 1x2", group=group)
    conv = randomize_parameters(GaugeConv(t_in, t_out).to(torch.float64))
    assert check_gauge_equivariance(conv, g, t_in, t_out) < 1e-10
    assert check_gauge_equivariance(conv, g, t_in, t_out, corrupt=identity_transporters) > 1e-3


def test_unet_on_neighbourhoods_is_symmetric_and_label_free():
    """60 rotations of the icosphere and relabelling + rotating the ant: exact, with wide
    neighbourhoods at every level."""
    from gaugeconv.ico.symmetry import icosahedral_rotations

    widths = [FieldType("4x0 + 2x1 + 2x2"), FieldType("6x0 + 2x1"), FieldType("6x0 + 2x1")]
    model = randomize_parameters(GaugeUNet(FieldType("2x0"), FieldType("3x0"), widths).to(torch.float64)).eval()
    g = preprocess(icosahedron(3), levels=2, radius=2.0).to_torch(torch.float64)
    x = torch.randn(g.n_vertices, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        y = model(x, g)
        for perm in icosahedral_rotations(3, sphere=True)[1][::7]:
            p = torch.as_tensor(perm)
            x_rot = torch.empty_like(x)
            x_rot[p] = x
            assert float((model(x_rot, g)[p] - y).abs().max()) < 1e-10
    ant = load_mesh("meshes/ant.obj")
    moved, perm = random_isometry(ant, 1)
    g0 = preprocess(ant, levels=2, radius=2.0).to_torch(torch.float64)
    g1 = preprocess(moved, levels=2, radius=2.0).to_torch(torch.float64)
    x = torch.randn(ant.n_vertices, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        y0, y1 = model(x, g0), model(x[torch.as_tensor(perm)], g1)
    assert float(y0.abs().max()) > 0.1
    assert float((y0[torch.as_tensor(perm)] - y1).abs().max()) < 1e-10
