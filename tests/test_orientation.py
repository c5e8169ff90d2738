"""Chirality and the explicit orientation choice of preprocess (docs/conventions.md, "Chirality").

Reversing the winding of every face mirrors the gauges. SO(2) models are chiral: their outputs
change. O(2) models are not. ``orientation="outward"`` makes the buffers independent of the
file's winding, so SO(2) models give the same outputs for a mesh and its reversed copy.
"""

import numpy as np
import pytest
import torch

from gaugeconv import FieldType, make_mesh, preprocess, shapes
from gaugeconv.nn import GaugeConv
from gaugeconv.preprocessing.orientation import signed_volumes
from gaugeconv.testing import randomize_parameters


def reversed_mesh(mesh):
    lengths = None if mesh.lengths is None else mesh.lengths[:, [1, 0, 2]]
    return make_mesh(mesh.vertices, mesh.faces[:, ::-1], name=mesh.name, lengths=lengths)


def linear_model(group: str):
    """scalar -> (scalar + two order-1 fields) -> scalar: the order-1 channels carry chirality
    under SO(2) (kernels e^{i theta} with any phase), none under O(2)."""
    first = GaugeConv(FieldType("1x0", group=group), FieldType("1x0 + 2x1", group=group)).double()
    second = GaugeConv(FieldType("1x0 + 2x1", group=group), FieldType("1x0", group=group)).double()
    randomize_parameters(first, seed=1)
    randomize_parameters(second, seed=2)
    return lambda x, g: second(first(x, g), g)


def outputs(model, mesh, orientation):
    g = preprocess(mesh, orientation=orientation).to_torch(torch.float64)
    x = torch.as_tensor(np.cos(3 * mesh.vertices[:, :1]) + mesh.vertices[:, 1:2] ** 2)  # gauge-invariant input
    with torch.no_grad():
        return model(x, g).numpy()


@pytest.mark.parametrize("make", [lambda: shapes.icosahedron(2), lambda: shapes.torus(n_major=14, n_minor=7)])
def test_so2_models_are_chiral_and_o2_models_are_not(make):
    mesh = make()
    back = reversed_mesh(mesh)
    so2, o2 = linear_model("SO2"), linear_model("O2")
    chiral = np.abs(outputs(so2, mesh, "file") - outputs(so2, back, "file")).max()
    assert chiral > 1e-3 * np.abs(outputs(so2, mesh, "file")).max()
    np.testing.assert_allclose(outputs(o2, mesh, "file"), outputs(o2, back, "file"), rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", [lambda: shapes.icosahedron(2), lambda: shapes.torus(n_major=14, n_minor=7)])
def test_outward_orientation_does_not_depend_on_the_file_winding(make):
    mesh = make()
    so2 = linear_model("SO2")
    np.testing.assert_allclose(
        outputs(so2, mesh, "outward"), outputs(so2, reversed_mesh(mesh), "outward"), rtol=0, atol=1e-12
    )


def test_outward_normals_point_out_of_a_closed_surface():
    mesh = shapes.icosahedron(2)
    for given in (mesh, reversed_mesh(mesh)):
        g = preprocess(given, orientation="outward")
        assert np.all(np.einsum("vi,vi->v", g.frames[:, 2], g.vertices) > 0)
        file_normals = preprocess(given).frames[:, 2]  # "file": as wound
        sign = np.sign(np.einsum("vi,vi->v", file_normals, given.vertices))
        assert np.all(sign == sign[0])
    assert np.all(np.einsum("vi,vi->v", preprocess(reversed_mesh(mesh)).frames[:, 2], mesh.vertices) < 0)


def test_outward_on_an_open_cap_points_to_its_convex_side():
    sphere = shapes.icosahedron(2)
    keep = np.all(sphere.vertices[sphere.faces][:, :, 2] > 0.3, axis=1)  # a spherical cap
    with pytest.warns(UserWarning, match="unreferenced"):
        cap = make_mesh(sphere.vertices, sphere.faces[keep][:, ::-1])  # wound inwards in the file
    g = preprocess(cap, orientation="outward")
    assert np.all(g.frames[:, 2, 2] > 0)  # normals away from the sphere's centre
    assert np.all(preprocess(cap).frames[:, 2, 2] < 0)  # the file's winding


def test_every_component_is_oriented_on_its_own():
    a, b = shapes.icosahedron(1), shapes.icosahedron(1)
    vertices = np.r_[a.vertices, b.vertices + [5.0, 0, 0]]
    faces = np.r_[a.faces, b.faces[:, ::-1] + a.n_vertices]  # the second sphere wound inwards
    g = preprocess(make_mesh(vertices, faces), orientation="outward")
    centre = np.where(np.arange(len(vertices))[:, None] < a.n_vertices, 0.0, [5.0, 0, 0])
    assert np.all(np.einsum("vi,vi->v", g.frames[:, 2], g.vertices - centre) > 0)


def test_flat_pieces_keep_the_file_majority():
    disc = shapes.disc(n_rings=3)
    faces = np.array(disc.faces)
    faces[:5] = faces[:5, ::-1]  # a few faces disagree: the majority decides
    g = preprocess(make_mesh(disc.vertices, faces), orientation="outward")
    assert np.all(g.frames[:, 2, 2] > 0)
    assert np.all(preprocess(reversed_mesh(disc), orientation="outward").frames[:, 2, 2] < 0)


def test_outward_ignores_face_order():
    mesh = shapes.torus(n_major=10, n_minor=5)
    order = np.random.default_rng(3).permutation(mesh.n_faces)
    shuffled = make_mesh(mesh.vertices, reversed_mesh(mesh).faces[order])
    normals = [preprocess(m, orientation="outward").frames[:, 2] for m in (mesh, shuffled)]
    np.testing.assert_allclose(normals[0], normals[1], atol=1e-12)


def test_non_orientable_meshes_are_left_as_they_are(mobius_geometry):
    mesh = shapes.mobius(n_length=24, n_width=5)
    g = preprocess(mesh, orientation="outward")
    for name in ("faces", "log_theta", "transport_angle", "transport_flip"):
        np.testing.assert_array_equal(getattr(g, name), getattr(mobius_geometry, name), err_msg=name)


def test_signed_volume_of_the_unit_sphere():
    mesh = shapes.icosahedron(4)
    volume, reach = signed_volumes(mesh.vertices, mesh.faces, np.zeros(mesh.n_faces, np.int64), 1)
    # sum_f (c_f - c) . (2 A_f n_f) = 2 * 3 V (divergence theorem), V -> 4/3 pi for a fine sphere
    assert volume[0] / 6 == pytest.approx(4 / 3 * np.pi, rel=1e-2)
    assert 0 < volume[0] <= reach[0]


def test_unknown_orientation_is_refused():
    with pytest.raises(ValueError, match=r"orientation must be one of 'file', 'outward', got 'inward'"):
        preprocess(shapes.icosahedron(0), orientation="inward")


def test_hash_and_vertices_are_the_file_s_whatever_the_orientation():
    mesh = reversed_mesh(shapes.icosahedron(1))
    g = preprocess(mesh, orientation="outward")
    assert g.mesh_hash == mesh.hash
    np.testing.assert_array_equal(g.vertices, mesh.vertices)


def test_command_line_orientation_option(tmp_path, capsys):
    from gaugeconv import load_geometry, save_mesh
    from gaugeconv.cli import main

    mesh = reversed_mesh(shapes.icosahedron(2))  # wound inwards in the file
    save_mesh(mesh, tmp_path / "inward.ply")
    for choice, sign in (("file", -1), ("outward", 1)):
        out = tmp_path / f"{choice}.npz"
        assert main(["preprocess", str(tmp_path / "inward.ply"), "-o", str(out), "--orientation", choice]) == 0
        g = load_geometry(out)
        assert np.all(sign * np.einsum("vi,vi->v", g.frames[:, 2], g.vertices) > 0)
    assert main(["preprocess", str(tmp_path / "inward.ply"), "-o", str(out), "--orientation", "up"]) == 2
    assert "invalid choice: 'up'" in capsys.readouterr().err
