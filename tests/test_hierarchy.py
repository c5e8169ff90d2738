"""Coarse levels and pooling maps: the subdivision levels of a subdivided mesh, geodesic
sampling elsewhere, intrinsic and independent of vertex numbering; exact on flat meshes, close
to potpourri3d on curved ones, consistent transporters, gauge transformations, the file format."""

from __future__ import annotations

import numpy as np
import pytest

from gaugeconv import GeometryFileError, load_geometry, load_mesh, make_mesh, preprocess, save_geometry
from gaugeconv.groups import o2_compose
from gaugeconv.ico.symmetry import icosahedral_rotations
from gaugeconv.preprocessing import compute_buffers
from gaugeconv.preprocessing.coarsening import farthest_point_order, recognise_subdivision
from gaugeconv.shapes import disc, icosahedron, mobius, plane, torus
from gaugeconv.testing import random_isometry


def bumpy_mesh(n=300, seed=0):
    """A closed mesh with no symmetry: the convex hull of random points on a sphere, bumped."""
    from scipy.spatial import ConvexHull

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    faces = ConvexHull(x).simplices
    normal = np.cross(x[faces[:, 1]] - x[faces[:, 0]], x[faces[:, 2]] - x[faces[:, 0]])
    flip = np.einsum("fk,fk->f", normal, x[faces].mean(axis=1)) < 0
    faces[flip] = faces[flip][:, ::-1]
    return make_mesh(x * (1 + 0.2 * rng.random((n, 1))), faces, name="bumpy")


@pytest.fixture(scope="module")
def flat():
    return preprocess(disc(n_rings=12), levels=2)


@pytest.fixture(scope="module")
def sphere():
    return preprocess(icosahedron(4), levels=2)


def mesh_ids(geometry, k):
    """Mesh vertex id of every vertex of level k (0 = the mesh)."""
    ids = np.arange(geometry.n_vertices)
    for pool in geometry.pools[:k]:
        ids = ids[pool.sub]
    return ids


def in_frame(frames, p, d):
    """Complex coordinates of 3D vectors d (n, 3) in the frames of vertices p (n,)."""
    return np.einsum("nk,nk->n", d, frames[p, 0]) + 1j * np.einsum("nk,nk->n", d, frames[p, 1])


def test_sizes_nesting_and_determinism(sphere):
    again = preprocess(icosahedron(4), levels=2)
    assert [lv.n_vertices for lv in sphere.levels] == [642, 162]  # the subdivision levels 3 and 2
    for k, (level, pool) in enumerate(zip(sphere.levels, sphere.pools), start=1):
        finer = sphere if k == 1 else sphere.levels[k - 2]
        # icosahedron(L) numbers the vertices of icosahedron(L - 1) first
        np.testing.assert_array_equal(mesh_ids(sphere, k), np.arange(level.n_vertices))
        np.testing.assert_array_equal(level.vertices, finer.vertices[pool.sub])
        np.testing.assert_array_equal(level.frames, finer.frames[pool.sub])
        assert pool.n_fine == finer.n_vertices and pool.n_pairs >= pool.n_fine
        assert np.all(np.diff(pool.index[0]) >= 0) and np.unique(pool.index[0]).size == finer.n_vertices
        np.testing.assert_allclose(np.bincount(pool.index[0], weights=pool.weight), 1.0)  # shares sum to 1
        # each coarse vertex lies in its own cell only, at r = 0 with the identity transporter
        own = np.isin(pool.index[0], pool.sub)
        np.testing.assert_array_equal(pool.index[1, own], np.arange(level.n_vertices))
        assert np.all(pool.log_r[own] == 0) and np.all(pool.transport_angle[own] == 0)
        assert np.all(pool.weight[own] == 1)
        assert np.isclose(level.vertex_area.sum(), sphere.vertex_area.sum())
        assert np.isclose(level.angle_defect.sum(), 4 * np.pi)
        np.testing.assert_array_equal(level.edge_index, again.levels[k - 1].edge_index)
        np.testing.assert_array_equal(level.log_theta, again.levels[k - 1].log_theta)
        # edges grouped by target, in angular order, both directions present
        q, p = level.edge_index
        assert np.all(np.diff(p) >= 0)
        same = np.diff(p) == 0
        assert np.all(np.diff(level.log_theta)[same] > 0)
        assert set(zip(q.tolist(), p.tolist())) == set(zip(p.tolist(), q.tolist()))
        assert level.degree.min() >= 3


@pytest.mark.parametrize("level", [2, 4])
def test_subdivision_levels_have_the_coarser_meshes_edges(level):
    """Level k of icosahedron(L) has the vertices and the edges of icosahedron(L - k)."""
    g = preprocess(icosahedron(level), levels=2)
    for k in (1, 2):
        coarse = icosahedron(level - k)
        ids = mesh_ids(g, k)
        np.testing.assert_array_equal(ids, np.arange(coarse.n_vertices))
        q, p = g.levels[k - 1].edge_index
        f = coarse.faces
        expect = {tuple(sorted(e)) for e in np.r_[f[:, :2], f[:, 1:], f[:, ::2]].tolist()}
        assert {tuple(sorted(e)) for e in zip(ids[q].tolist(), ids[p].tolist())} == expect


def test_recognise_subdivision_rejects_other_meshes():
    for mesh in (torus(), disc(n_rings=5), icosahedron(0), bumpy_mesh()):
        assert recognise_subdivision(compute_buffers(mesh)["faces"], mesh.n_vertices) is None
    with pytest.raises(ValueError, match="not a regular 1-to-4 subdivision"):
        preprocess(torus(), levels=1, coarsening="subdivision")
    with pytest.raises(ValueError, match="coarsening must be one of"):
        preprocess(torus(), levels=1, coarsening="voronoi")
    # explicit vertex sets: nested subsets
    with pytest.raises(ValueError, match="subset of level 1"):
        preprocess(torus(), levels=2, coarsening=[np.arange(0, 768, 4), np.arange(1, 768, 16)])
    g = preprocess(torus(), levels=1, coarsening=[np.arange(0, 768, 4)])
    np.testing.assert_array_equal(g.pools[0].sub, np.arange(0, 768, 4))


def test_hierarchy_is_invariant_under_the_icosahedral_rotations():
    """Every rotation of the grid maps each level's vertices, cells and shares onto themselves."""
    g = preprocess(icosahedron(3), levels=2)
    _, perms = icosahedral_rotations(3, sphere=True)
    for perm in perms:
        for k in (1, 2):
            ids = mesh_ids(g, k)
            assert set(perm[ids].tolist()) == set(ids.tolist())
            fine, pool = mesh_ids(g, k - 1), g.pools[k - 1]
            pairs = {(f, c): w for f, c, w in zip(fine[pool.index[0]], ids[pool.index[1]], pool.weight)}
            moved = {(perm[f], perm[c]): w for (f, c), w in pairs.items()}
            assert moved.keys() == pairs.keys()
            assert all(abs(moved[key] - pairs[key]) < 1e-12 for key in pairs)


@pytest.mark.parametrize("make", [bumpy_mesh, lambda: load_mesh("meshes/ant.obj")], ids=["bumpy", "ant"])
def test_relabelled_rotated_mesh_gets_the_same_levels(make):
    """Same coarse vertices, cells, shares and distances after relabelling and rotating in 3D."""
    mesh = make()
    moved, perm = random_isometry(mesh, 3)  # new vertex i is old vertex perm[i]
    g0, g1 = preprocess(mesh, levels=2), preprocess(moved, levels=2)
    for k in (1, 2):
        ids0, ids1 = mesh_ids(g0, k), perm[mesh_ids(g1, k)]
        np.testing.assert_array_equal(np.sort(ids1), ids0)
        f0, f1 = mesh_ids(g0, k - 1), perm[mesh_ids(g1, k - 1)]
        p0, p1 = g0.pools[k - 1], g1.pools[k - 1]
        a = sorted(zip(f0[p0.index[0]], ids0[p0.index[1]], np.round(p0.weight, 9), np.round(p0.log_r, 9)))
        b = sorted(zip(f1[p1.index[0]], ids1[p1.index[1]], np.round(p1.weight, 9), np.round(p1.log_r, 9)))
        assert a == b
        e0 = sorted(zip(ids0[g0.levels[k - 1].edge_index[0]], ids0[g0.levels[k - 1].edge_index[1]]))
        e1 = sorted(zip(ids1[g1.levels[k - 1].edge_index[0]], ids1[g1.levels[k - 1].edge_index[1]]))
        assert e0 == e1


def test_levels_are_intrinsic():
    """A flat mesh rolled up in 3D with its intrinsic lengths kept gets the same levels."""
    flat_mesh = disc(n_rings=10)
    rng = np.random.default_rng(0)
    xy = flat_mesh.vertices[:, :2] + 0.02 * rng.normal(size=(flat_mesh.n_vertices, 2))
    flat = make_mesh(np.c_[xy, np.zeros(len(xy))], flat_mesh.faces)
    corners = flat.vertices[flat.faces]
    lengths = np.linalg.norm(corners - np.roll(corners, -1, axis=1), axis=2)
    rolled = np.c_[np.sin(xy[:, 0]), xy[:, 1], np.cos(xy[:, 0])]  # wrapped on a unit cylinder
    bent = make_mesh(rolled, flat.faces, lengths=lengths)
    g0, g1 = preprocess(flat, levels=2), preprocess(bent, levels=2)
    for a, b in zip(g0.pools + g0.levels, g1.pools + g1.levels):
        for name in ("log_r", "transport_angle") + (("sub", "index") if hasattr(a, "sub") else ("edge_index",)):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-9)


@pytest.fixture(scope="module")
def flat_grid():
    return preprocess(plane(nx=17, ny=13), levels=2)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("mesh", ["flat", "flat_grid"])
def test_flat_log_map_and_transport_are_exact(mesh, k, request):
    """On a flat disc (sampled levels) and a flat grid (coarser grids), positions and
    transporters composed along edges are the planar ones."""
    flat = request.getfixturevalue(mesh)
    ids, coarse = mesh_ids(flat, k - 1), mesh_ids(flat, k)
    level, pool = flat.levels[k - 1], flat.pools[k - 1]
    V, frames = flat.vertices, flat.frames
    f, c = pool.index
    expect = in_frame(frames, coarse[c], V[ids[f]] - V[coarse[c]])
    np.testing.assert_allclose(pool.log_r * np.exp(1j * pool.log_theta), expect, atol=1e-12)
    # the transporter maps e1 of the fine vertex to its direction in the coarse gauge
    e1 = in_frame(frames, coarse[c], frames[ids[f], 0])
    np.testing.assert_allclose(np.exp(1j * pool.transport_angle), e1, atol=1e-12)
    q, p = level.edge_index
    expect = in_frame(frames, coarse[p], V[coarse[q]] - V[coarse[p]])
    np.testing.assert_allclose(level.log_r * np.exp(1j * level.log_theta), expect, atol=1e-12)
    e1 = in_frame(frames, coarse[p], frames[coarse[q], 0])
    np.testing.assert_allclose(np.exp(1j * level.transport_angle), e1, atol=1e-12)


@pytest.mark.parametrize("mesh", [icosahedron(3), torus(n_major=48, n_minor=16), mobius()], ids=lambda m: m.name)
def test_reverse_edges_have_inverse_transporters(mesh):
    g = preprocess(mesh, levels=2)
    for level in g.levels:
        q, p = level.edge_index
        key = {(a, b): e for e, (a, b) in enumerate(zip(q.tolist(), p.tolist()))}
        rev = np.array([key[(b, a)] for a, b in zip(q.tolist(), p.tolist())])
        a, f = o2_compose(
            level.transport_angle, level.transport_flip, level.transport_angle[rev], level.transport_flip[rev]
        )
        assert not f.any()
        np.testing.assert_allclose(np.abs(a), 0, atol=1e-12)
        np.testing.assert_allclose(level.log_r, level.log_r[rev], rtol=0.05)
        assert level.structure_group == g.structure_group


def test_log_map_matches_potpourri3d_vector_heat(sphere):
    """Pool positions (cell members) and coarse-edge positions against pp3d's vector heat log
    map at the coarse vertex, after the best common rotation: within 2% of the neighbourhood size."""
    import potpourri3d as pp3d  # a test dependency: the independent reference

    solver = pp3d.MeshVectorHeatSolver(sphere.vertices, sphere.faces)
    worst = 0.0
    for k in (1, 2):
        ids, coarse = mesh_ids(sphere, k - 1), mesh_ids(sphere, k)
        level, pool = sphere.levels[k - 1], sphere.pools[k - 1]
        for c in range(0, level.n_vertices, 9):
            log = solver.compute_log_map(int(coarse[c]))
            ref = log[:, 0] + 1j * log[:, 1]
            members = np.flatnonzero(pool.index[1] == c)
            edges = np.flatnonzero(level.edge_index[1] == c)
            ours = np.r_[
                pool.log_r[members] * np.exp(1j * pool.log_theta[members]),
                level.log_r[edges] * np.exp(1j * level.log_theta[edges]),
            ]
            theirs = np.r_[ref[ids[pool.index[0, members]]], ref[coarse[level.edge_index[0, edges]]]]
            phase = np.exp(1j * np.angle(np.sum(ours * np.conj(theirs))))
            worst = max(worst, np.max(np.abs(ours - phase * theirs)) / np.max(np.abs(theirs)))
    assert worst < 0.02


def test_components_each_get_a_root():
    a, b = plane(nx=12, ny=12), plane(nx=5, ny=5)
    V = np.r_[a.vertices, b.vertices + [3.0, 0, 0]]
    F = np.r_[a.faces, b.faces + a.n_vertices]
    g = preprocess(make_mesh(V, F), levels=3)
    for level in g.levels:
        assert (level.vertices[:, 0] > 2).any() and (level.vertices[:, 0] < 2).any()


def test_farthest_point_order_is_spread():
    """Geodesic farthest points in rounds: every prefix covers the mesh within twice its packing
    distance (exact farthest-point sampling: once; a round takes points down to half the farthest)."""
    from scipy.sparse import csgraph

    from gaugeconv.preprocessing.paths import edge_graph

    mesh = compute_buffers(bumpy_mesh(800))
    graph = edge_graph(mesh)
    order = farthest_point_order(mesh, 200)
    assert len(set(order.tolist())) == 200
    assert order[0] == np.argmax(mesh["vertex_area"])  # seeded by geometry
    for m in (50, 200):
        d = csgraph.dijkstra(graph, indices=order[:m])
        cover = d.min(axis=0).max()
        packing = (d[:, order[:m]] + np.eye(m) * 1e9).min()
        assert cover <= 2 * packing


def test_gauge_transform_reaches_every_level(sphere):
    rng = np.random.default_rng(1)
    angle = rng.uniform(-np.pi, np.pi, sphere.n_vertices)
    g = sphere.gauge_transform(angle)
    for k, (level, pool) in enumerate(zip(g.levels, g.pools), start=1):
        old_level, old_pool = sphere.levels[k - 1], sphere.pools[k - 1]
        a_fine, a_coarse = angle[mesh_ids(sphere, k - 1)], angle[mesh_ids(sphere, k)]
        q, p = level.edge_index
        expect = old_level.transport_angle - a_coarse[p] + a_coarse[q]
        np.testing.assert_allclose(np.exp(1j * level.transport_angle), np.exp(1j * expect), atol=1e-12)
        f, c = pool.index
        expect = old_pool.transport_angle - a_coarse[c] + a_fine[f]
        np.testing.assert_allclose(np.exp(1j * pool.transport_angle), np.exp(1j * expect), atol=1e-12)
        np.testing.assert_allclose(np.exp(1j * pool.log_theta), np.exp(1j * (old_pool.log_theta - a_coarse[c])))
        np.testing.assert_array_equal(level.frames[:, 2], old_level.frames[:, 2])


def test_save_load_round_trip(tmp_path, sphere):
    path = tmp_path / "s.npz"
    save_geometry(sphere, path)
    back = load_geometry(path)
    assert len(back.levels) == 2 and len(back.pools) == 2
    for a, b in zip(back.levels + back.pools, sphere.levels + sphere.pools):
        for name in ("log_r", "log_theta", "transport_angle", "transport_flip"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert back.levels[1].name == sphere.levels[1].name
    assert back.levels[1].coarsening == "subdivision"
    with np.load(path, allow_pickle=False) as data:
        assert {"level1/edge_index", "level2/log_theta", "pool1/index", "pool2/sub"} <= set(data.files)
    t = back.to_torch()
    assert t.pools[1].index.dtype.is_floating_point is False and t.levels[0].log_r.dtype.is_floating_point
    assert isinstance(t.numpy().pools[0].log_r, np.ndarray)


def test_file_without_levels_still_loads(tmp_path):
    g = preprocess(plane(nx=6, ny=6))
    save_geometry(g, tmp_path / "p.npz")
    back = load_geometry(tmp_path / "p.npz")
    assert back.levels == () and back.pools == ()


def test_corrupt_level_arrays_are_rejected(tmp_path, flat):
    path = tmp_path / "f.npz"
    save_geometry(flat, path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    broken = dict(arrays)
    broken["pool2/log_r"] = broken["pool2/log_r"][:-1]
    np.savez(tmp_path / "bad.npz", **broken)
    with pytest.raises(GeometryFileError, match="pool array log_r"):
        load_geometry(tmp_path / "bad.npz")
    del arrays["level2/edge_index"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(GeometryFileError, match="missing arrays level2/edge_index"):
        load_geometry(tmp_path / "missing.npz")


@pytest.mark.parametrize("levels", [-1, 1.5, True])
def test_bad_levels_argument(levels):
    with pytest.raises(ValueError, match="levels must be"):
        preprocess(plane(nx=4, ny=4), levels=levels)


def test_cli_preprocess_levels(tmp_path, capsys):
    from gaugeconv.cli import main

    mesh = tmp_path / "torus.obj"
    assert main(["shape", "torus", "-o", str(mesh)]) == 0
    out = tmp_path / "torus.npz"
    assert main(["preprocess", str(mesh), "-o", str(out), "--levels", "2"]) == 0
    assert "levels 192, 48" in capsys.readouterr().out
    g = load_geometry(out)
    assert [lv.n_vertices for lv in g.levels] == [192, 48] and len(g.pools) == 2
    assert main(["info", str(out)]) == 0
    assert "coarse levels 2: vertices 768 -> 192 -> 48" in capsys.readouterr().out
    # a different level count is not "up to date"
    assert main(["preprocess", str(mesh), "-o", str(out), "--levels", "1"]) == 0
    assert len(load_geometry(out).levels) == 1
    assert "up to date" not in capsys.readouterr().out


def test_grids_get_their_coarser_grids():
    """plane 17 x 17: every second vertex in both directions, twice; the level is invariant under
    the grid's 8 symmetries of the square; coarse edges along the grid and its diagonals."""
    g = preprocess(plane(nx=17, ny=17), levels=2)
    i, j = np.divmod(np.arange(17 * 17), 17)
    for k, step in ((1, 2), (2, 4)):
        ids = mesh_ids(g, k)
        np.testing.assert_array_equal(ids, np.flatnonzero((i % step == 0) & (j % step == 0)))
        # the four axis neighbours and four diagonal ones inside the grid
        assert g.levels[k - 1].degree.max() == 8 and g.levels[k - 1].degree.min() == 3
    faces = {tuple(sorted(f)) for f in plane(nx=17, ny=17).faces.tolist()}
    for ii, jj in ((j, 16 - i), (16 - i, 16 - j), (16 - j, i), (j, i), (16 - i, j), (i, 16 - j), (16 - j, 16 - i)):
        perm = ii * 17 + jj
        assert {tuple(sorted(perm[list(f)].tolist())) for f in faces} == faces  # a symmetry of the mesh
        assert set(perm[mesh_ids(g, 1)].tolist()) == set(mesh_ids(g, 1).tolist())


@pytest.mark.parametrize(
    "mesh, sizes, kind",
    [
        (torus(), [192, 48], "grid"),
        (mobius(n_width=9), [120, 36], "grid"),
        (mobius(n_width=8), [96, 24], None),  # the twist maps row j to 7 - j: parities do not close up
        (plane(nx=16, ny=16), [64, 16], "grid"),
    ],
    ids=["torus", "mobius9", "mobius8", "plane16"],
)
def test_grid_recognition_and_fallback(mesh, sizes, kind):
    from gaugeconv.preprocessing.coarsening import structured_sets

    g = preprocess(mesh, levels=2)
    assert [lv.n_vertices for lv in g.levels] == sizes
    assert structured_sets(compute_buffers(mesh), 2)[1] == kind
    assert [lv.coarsening for lv in g.levels] == [kind or "sample"] * 2
    if kind is None:
        with pytest.raises(ValueError, match="not a regular quad grid"):
            preprocess(mesh, levels=1, coarsening="grid")


def test_torus_grid_class_is_chosen_by_geometry():
    """The kept parity class of the torus is decided by curvature, not by vertex numbers."""
    mesh = torus()
    moved, perm = random_isometry(mesh, 7)
    ids0 = mesh_ids(preprocess(mesh, levels=1), 1)
    ids1 = perm[mesh_ids(preprocess(moved, levels=1), 1)]
    np.testing.assert_array_equal(np.sort(ids1), ids0)
