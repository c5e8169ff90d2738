"""Properties the discrete connection must have (DESIGN.md, "Checks that must hold")."""

import numpy as np
import pytest

from gaugeconv import make_mesh, preprocess, shapes
from gaugeconv.groups import o2_act_on_angle, o2_compose, o2_inverse, wrap_angle
from gaugeconv.preprocessing import corner_angles, side_lengths


# ----------------------------------------------------------------------------- helpers
def edge_finder(g):
    """Return find(q, p) -> index of directed edge q -> p (vectorised)."""
    n = g.n_vertices
    key = g.edge_index[0] * n + g.edge_index[1]
    order = np.argsort(key)
    sorted_key = key[order]

    def find(q, p):
        k = np.asarray(q) * n + np.asarray(p)
        i = np.searchsorted(sorted_key, k)
        assert np.all(sorted_key[np.minimum(i, len(key) - 1)] == k), "not an edge"
        return order[i]

    return find


def compose_path(g, path):
    """Transporter along a vertex path (list of vertex arrays): product T_last ... T_first."""
    find = edge_finder(g)
    angle = np.zeros(np.shape(path[0]))
    flip = np.zeros(np.shape(path[0]), bool)
    for q, p in zip(path[:-1], path[1:]):
        e = find(q, p)
        angle, flip = o2_compose(g.transport_angle[e], g.transport_flip[e], angle, flip)
    return angle, flip


def triangle_curvature(mesh, g):
    """Curvature the corner-angle connection puts in each face, signed by the orientation of the
    face in the gauge of its first vertex; plus the holonomy of each face."""
    f = g.faces
    lengths = side_lengths(g.vertices, f) if mesh.lengths is None else None
    if lengths is None:  # intrinsic lengths: faces may have been reoriented, so match sides
        lengths = np.array(mesh.lengths)
        assert np.array_equal(np.sort(f, 1), np.sort(mesh.faces, 1))
        lengths = lengths.copy()
    alpha = corner_angles(lengths)
    theta = np.bincount(f.ravel(), weights=alpha.ravel(), minlength=g.n_vertices)
    k = np.where(g.boundary, 0.0, 2 * np.pi / theta - 1.0)
    curvature = (alpha * k[f]).sum(1)
    a, b, c = f.T
    find = edge_finder(g)
    # +1 where b -> c turns counter-clockwise in a's gauge
    sign = np.sign(wrap_angle(g.log_theta[find(c, a)] - g.log_theta[find(b, a)]))
    hol_angle, hol_flip = compose_path(g, [a, b, c, a])
    return curvature * sign, hol_angle, hol_flip


def bumpy_sphere(level=3, seed=0):
    m = shapes.icosahedron(level)
    rng = np.random.default_rng(seed)
    v = m.vertices * (1 + 0.15 * rng.standard_normal((m.n_vertices, 1)))
    return make_mesh(v, m.faces, name="bumpy")


def wheel(n_spokes=60):
    """A flat disc whose centre has ``n_spokes`` neighbours (high valence), with a second ring."""
    t = np.arange(n_spokes) * 2 * np.pi / n_spokes
    ring1 = np.c_[np.cos(t), np.sin(t)]
    ring2 = 2 * np.c_[np.cos(t + np.pi / n_spokes), np.sin(t + np.pi / n_spokes)]
    v = np.r_[[[0, 0]], ring1, ring2]
    i = np.arange(n_spokes)
    j = (i + 1) % n_spokes
    faces = np.r_[np.c_[np.zeros(n_spokes, int), 1 + i, 1 + j], np.c_[1 + i, 1 + n_spokes + i, 1 + j],
                  np.c_[1 + j, 1 + n_spokes + i, 1 + n_spokes + j]]  # fmt: skip
    return make_mesh(np.c_[v, np.zeros(len(v))], faces, name="wheel")


def two_components():
    a = shapes.icosahedron(1)
    b = shapes.torus(n_major=12, n_minor=6)
    v = np.r_[a.vertices, b.vertices + 5.0]
    f = np.r_[a.faces, b.faces + a.n_vertices]
    return make_mesh(v, f, name="two")


MESHES = {
    "icosphere": lambda: shapes.icosahedron(3),
    "ico_flat": lambda: shapes.icosahedron(2, sphere=False),
    "bumpy": bumpy_sphere,
    "torus": lambda: shapes.torus(n_major=24, n_minor=10),
    "plane": lambda: shapes.plane(nx=9, ny=7),
    "disc": lambda: shapes.disc(n_rings=5),
    "cylinder": lambda: shapes.cylinder(n_around=16, n_height=6),
    "mobius": lambda: shapes.mobius(n_length=30, n_width=5),
    "mobius_embedded": lambda: shapes.mobius(n_length=30, n_width=5, flat=False),
    "wheel": wheel,
    "two_components": two_components,
}
CLOSED = ["icosphere", "ico_flat", "bumpy", "torus", "two_components"]
FLAT = ["plane", "disc", "cylinder"]


@pytest.fixture(scope="module", params=sorted(MESHES))
def mesh_and_geometry(request):
    mesh = MESHES[request.param]()
    return request.param, mesh, preprocess(mesh)


# ----------------------------------------------------------------------------- structure
def test_every_edge_in_both_directions(mesh_and_geometry):
    _, mesh, g = mesh_and_geometry
    q, p = g.edge_index
    forward = set(zip(q.tolist(), p.tolist()))
    assert forward == set(zip(p.tolist(), q.tolist()))
    assert len(forward) == g.n_edges  # no duplicates, no self loops
    assert not np.any(q == p)
    assert np.all(np.diff(p) >= 0), "edges are grouped by target"
    assert np.array_equal(np.bincount(p, minlength=g.n_vertices), g.degree)
    # log_r is the edge length
    np.testing.assert_allclose(g.log_r, g.log_r[edge_finder(g)(p, q)], rtol=0, atol=0)


def test_gauss_bonnet_angle_defect(mesh_and_geometry):
    name, mesh, g = mesh_and_geometry
    assert abs(g.angle_defect.sum() - 2 * np.pi * g.euler_characteristic) < 1e-9


def test_triangle_holonomy_is_the_connection_curvature(mesh_and_geometry):
    name, mesh, g = mesh_and_geometry
    curvature, hol_angle, hol_flip = triangle_curvature(mesh, g)
    assert not hol_flip.any(), "a contractible loop never reflects"
    np.testing.assert_allclose(wrap_angle(hol_angle - curvature), 0.0, atol=1e-12)
    if name in CLOSED:
        assert abs(wrap_angle(hol_angle).sum() - 2 * np.pi * g.euler_characteristic) < 1e-9


@pytest.mark.parametrize("name", FLAT)
def test_flat_meshes_every_loop_is_identity(name):
    g = preprocess(MESHES[name]())
    rng = np.random.default_rng(1)
    find = edge_finder(g)
    # random closed walks: a random walk out, then the same walk back, shuffled with triangles
    for _ in range(20):
        v = [int(rng.integers(g.n_vertices))]
        for _ in range(int(rng.integers(3, 25))):
            nbrs = g.edge_index[0][g.edge_index[1] == v[-1]]
            v.append(int(rng.choice(nbrs)))
        # close the loop along a different route when possible: back through other neighbours
        back = [v[-1]]
        while back[-1] != v[0]:
            nbrs = g.edge_index[0][g.edge_index[1] == back[-1]]
            d = np.linalg.norm(g.vertices[nbrs] - g.vertices[v[0]], axis=1)
            back.append(int(nbrs[np.argmin(d)]))
        loop = v + back[1:]
        angle, flip = compose_path(g, [np.array(x) for x in loop])
        assert not flip
        assert abs(wrap_angle(angle)) < 1e-12
    assert find is not None


@pytest.mark.parametrize("name", ["plane", "disc", "wheel"])
def test_flat_log_map_equals_planar_polar_coordinates(name):
    g = preprocess(MESHES[name]())
    q, p = g.edge_index
    d = g.vertices[q] - g.vertices[p]
    np.testing.assert_allclose(g.log_r, np.linalg.norm(d, axis=1), rtol=1e-14)
    x = np.sum(d * g.frames[p, 0], axis=1)
    y = np.sum(d * g.frames[p, 1], axis=1)
    np.testing.assert_allclose(wrap_angle(g.log_theta - np.arctan2(y, x)), 0.0, atol=1e-12)
    assert not g.transport_flip.any()


# ----------------------------------------------------------------------------- orientation
def test_mobius_is_non_orientable_and_its_core_loop_reflects():
    n_length, n_width = 30, 5
    g = preprocess(shapes.mobius(n_length=n_length, n_width=n_width))
    assert not g.orientable and g.structure_group == "O2"
    assert g.transport_flip.any()
    mid = n_width // 2  # the seam maps row mid to itself
    loop = [np.array(i * n_width + mid) for i in range(n_length)] + [np.array(mid)]
    angle, flip = compose_path(g, loop)
    assert flip, "once around the Möbius strip a frame comes back mirrored"
    # the core line is a geodesic of the flat strip: transport fixes its tangent
    find = edge_finder(g)
    tangent = wrap_angle(g.log_theta[find(n_width + mid, mid)])  # direction of the next vertex
    assert abs(wrap_angle(o2_act_on_angle(angle, flip, tangent) - tangent)) < 1e-12
    # twice around: the identity
    a2, f2 = o2_compose(angle, flip, angle, flip)
    assert not f2 and abs(wrap_angle(a2)) < 1e-12


def test_cylinder_core_loop_is_a_rotation():
    n_around, n_height = 16, 6
    g = preprocess(shapes.cylinder(n_around=n_around, n_height=n_height))
    loop = [np.array(i * n_height + 2) for i in range(n_around)] + [np.array(2)]
    angle, flip = compose_path(g, loop)
    assert not flip and abs(wrap_angle(angle)) < 1e-12  # flat, trivial holonomy


@pytest.mark.parametrize("name", ["icosphere", "torus", "disc", "cylinder", "bumpy", "two_components"])
def test_orientable_meshes_have_no_flips_even_from_inconsistent_files(name):
    mesh = MESHES[name]()
    assert not preprocess(mesh).transport_flip.any()
    faces = np.array(mesh.faces)
    rng = np.random.default_rng(3)
    bad = rng.random(len(faces)) < 0.3
    faces[bad] = faces[bad][:, ::-1]
    g = preprocess(make_mesh(mesh.vertices, faces))
    assert g.orientable and g.structure_group == "SO2"
    assert not g.transport_flip.any()


def test_components_and_high_valence():
    g = preprocess(two_components())
    assert g.n_components == 2
    assert g.euler_characteristic == 2 + 0
    w = preprocess(wheel(60))
    assert w.degree.max() == 60
    assert w.n_boundary_loops == 1


# ----------------------------------------------------------------------------- sphere
def _sphere_transport_error(level):
    g = preprocess(shapes.icosahedron(level))
    q, p = g.edge_index
    x, y = g.vertices[q], g.vertices[p]
    axis = np.cross(x, y)
    s = np.linalg.norm(axis, axis=1, keepdims=True)
    axis /= s
    c = np.sum(x * y, axis=1, keepdims=True)
    e1 = g.frames[q, 0]
    # Rodrigues: rotate e1_q about the great circle's axis from x to y (smooth transport)
    moved = e1 * c + np.cross(axis, e1) * s + axis * np.sum(axis * e1, axis=1, keepdims=True) * (1 - c)
    smooth = np.arctan2(np.sum(moved * g.frames[p, 1], 1), np.sum(moved * g.frames[p, 0], 1))
    # the discrete gauge at p differs from the embedded frame's angles by the rescaling; compare
    # the transported vector against the transported edge direction in both (angles relative to the edge)
    edge_smooth = np.arctan2(np.sum((x - y) * g.frames[p, 1], 1), np.sum((x - y) * g.frames[p, 0], 1))
    discrete_rel = wrap_angle(g.transport_angle - g.log_theta)
    smooth_rel = wrap_angle(smooth - edge_smooth)
    return np.abs(wrap_angle(discrete_rel - smooth_rel)).max()


def test_icosphere_transport_converges_to_smooth_levi_civita():
    # Angles measured relative to the edge, so the comparison does not depend on the gauge.
    errors = [_sphere_transport_error(level) for level in (2, 3, 4)]
    assert errors[2] < 2e-3, errors
    assert errors[2] < errors[1] < errors[0], errors
    assert errors[1] / errors[2] > 3.0, errors  # second order: about 4x per subdivision


def test_one_ring_log_map_matches_potpourri3d():
    pp3d = pytest.importorskip("potpourri3d", reason="potpourri3d is a test dependency (pip install .[test])")
    mesh = shapes.icosahedron(3)
    g = preprocess(mesh)
    solver = pp3d.MeshVectorHeatSolver(np.asarray(mesh.vertices), np.asarray(mesh.faces))
    worst_r, worst_t = 0.0, 0.0
    for v in np.linspace(0, g.n_vertices - 1, 12).astype(int):
        log = solver.compute_log_map(int(v))
        mask = g.edge_index[1] == v
        nbrs = g.edge_index[0][mask]
        r_ref = np.linalg.norm(log[nbrs], axis=1)
        t_ref = np.arctan2(log[nbrs, 1], log[nbrs, 0])
        offset = np.angle(np.mean(np.exp(1j * (t_ref - g.log_theta[mask]))))
        worst_t = max(worst_t, np.abs(wrap_angle(t_ref - g.log_theta[mask] - offset)).max())
        worst_r = max(worst_r, np.abs(r_ref / g.log_r[mask] - 1).max())
    # the heat method is itself approximate (short-time heat flow); documented tolerances
    assert worst_r < 0.05, worst_r
    assert worst_t < 0.05, worst_t


# ----------------------------------------------------------------------------- gauges
@pytest.mark.parametrize("name", ["icosphere", "mobius", "disc"])
def test_gauge_transform_then_inverse_restores_buffers(name):
    g = preprocess(MESHES[name]())
    rng = np.random.default_rng(5)
    angle = rng.uniform(-np.pi, np.pi, g.n_vertices)
    flip = rng.random(g.n_vertices) < 0.5 if g.structure_group == "O2" else None
    h = g.gauge_transform(angle, flip)
    inv_a, inv_f = o2_inverse(angle, np.zeros(g.n_vertices, bool) if flip is None else flip)
    back = h.gauge_transform(inv_a, inv_f)
    np.testing.assert_allclose(back.frames, g.frames, atol=1e-12)
    np.testing.assert_allclose(wrap_angle(back.log_theta - g.log_theta), 0, atol=1e-12)
    np.testing.assert_allclose(wrap_angle(back.transport_angle - g.transport_angle), 0, atol=1e-12)
    assert np.array_equal(back.transport_flip, g.transport_flip)
    # the 3D direction of every edge is gauge independent
    q, p = g.edge_index

    def direction(geo):
        return np.cos(geo.log_theta)[:, None] * geo.frames[p, 0] + np.sin(geo.log_theta)[:, None] * geo.frames[p, 1]

    np.testing.assert_allclose(direction(h), direction(g), atol=1e-12)


@pytest.mark.parametrize("name", ["bumpy", "mobius", "disc", "torus"])
def test_rotation_and_relabelling_change_only_the_gauge(name):
    mesh = MESHES[name]()
    rng = np.random.default_rng(7)
    perm = rng.permutation(mesh.n_vertices)  # new index of old vertex i is perm[i]
    inv = np.argsort(perm)
    rot = shapes.random_rotation(rng)
    faces = perm[np.asarray(mesh.faces)]
    face_order = rng.permutation(len(faces))
    shift = rng.integers(0, 3, len(faces))[face_order]
    new_faces = np.stack([np.roll(f, s) for f, s in zip(faces[face_order], shift)])
    lengths = None
    if mesh.lengths is not None:
        lengths = np.stack([np.roll(x, s) for x, s in zip(np.asarray(mesh.lengths)[face_order], shift)])
    moved = make_mesh(np.asarray(mesh.vertices)[inv] @ rot.T, new_faces, lengths=lengths)
    g, h = preprocess(mesh), preprocess(moved)
    # vertex quantities permute
    for key in ("vertex_area", "angle_defect", "degree", "boundary"):
        np.testing.assert_allclose(getattr(h, key)[perm], getattr(g, key), atol=1e-12)
    q, p = g.edge_index
    e = edge_finder(h)(perm[q], perm[p])
    np.testing.assert_allclose(h.log_r[e], g.log_r, rtol=1e-13)
    # recover the gauge change h_p from the log map: theta' = h_p^-1 theta
    first = np.r_[0, np.cumsum(g.degree)[:-1]]
    d_same = wrap_angle(g.log_theta - h.log_theta[e])  # = a_p if no flip
    d_flip = wrap_angle(g.log_theta + h.log_theta[e])  # = a_p if flip
    same_ok = np.abs(wrap_angle(d_same - d_same[first][p])) < 1e-10
    flip_ok = np.abs(wrap_angle(d_flip - d_flip[first][p])) < 1e-10
    vertex_flip = ~np.bincount(p, weights=~same_ok, minlength=g.n_vertices).astype(bool)
    vertex_flip = ~vertex_flip
    assert np.all(np.where(vertex_flip[p], flip_ok, same_ok)), "log maps differ by more than a gauge"
    if g.orientable:
        assert np.all(vertex_flip == vertex_flip[0])
    angle = np.where(vertex_flip, d_flip[first], d_same[first])
    expected = g.gauge_transform(angle, vertex_flip)
    np.testing.assert_allclose(wrap_angle(h.transport_angle[e] - expected.transport_angle), 0, atol=1e-10)
    assert np.array_equal(h.transport_flip[e], expected.transport_flip)
    # embedded frames: normals always follow; e1, e2 too where intrinsic and embedded angles
    # agree (a flat embedding); on curved meshes the frames are for display only
    np.testing.assert_allclose(h.frames[perm][:, 2], expected.frames[:, 2] @ rot.T, atol=1e-10)
    if name == "disc":
        np.testing.assert_allclose(h.frames[perm], expected.frames @ rot.T, atol=1e-10)
