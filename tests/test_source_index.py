"""The index map back to the file: Mesh.source_index and Geometry.source_index (saved in the file)."""

import numpy as np
import pytest
import trimesh

from gaugeconv import FORMAT_VERSION, Geometry, MeshError, load_geometry, load_mesh, make_mesh, preprocess, shapes

# a square (file vertices 2, 3, 5, 6) and a triangle (file vertices 7, 8, 9) sharing nothing, with
# unreferenced vertices 1 and 4 (1-based, as the OBJ file counts)
OBJ = """v 9 9 9
v 0 0 0
v 1 0 0
v 8 8 8
v 1 1 0
v 0 1 0
v 5 0 0
v 6 0 0
v 5 1 0
f 2 3 5
f 2 5 6
f -3 -2 -1
"""


@pytest.fixture()
def obj_file(tmp_path):
    path = tmp_path / "labelled.obj"
    path.write_text(OBJ)
    return path


def test_dropped_vertices_leave_gaps_in_the_index_map(obj_file):
    with pytest.warns(UserWarning, match="dropped 2 unreferenced vertices"):
        mesh = load_mesh(obj_file)
    np.testing.assert_array_equal(mesh.source_index, [1, 2, 4, 5, 6, 7, 8])
    file_vertices = np.loadtxt(obj_file, usecols=(1, 2, 3), max_rows=9)
    np.testing.assert_array_equal(mesh.vertices, file_vertices[mesh.source_index])
    assert not mesh.source_index.flags.writeable


def test_labels_carried_over_and_results_written_back(obj_file, tmp_path):
    """The documented round trip (docs/cli.md, "The index map")."""
    labels = np.arange(9) * 10  # one label per vertex of the file, in file order
    with pytest.warns(UserWarning):
        mesh = load_mesh(obj_file)
    g = preprocess(mesh)
    per_vertex = labels[g.source_index]  # the labels of the mesh's vertices
    np.testing.assert_array_equal(per_vertex, [10, 20, 40, 50, 60, 70, 80])
    result = g.vertex_area  # any per-vertex result
    back = np.full(len(labels), np.nan)  # one value per vertex of the file; NaN where dropped
    back[g.source_index] = result
    assert np.isnan(back[[0, 3]]).all() and np.isfinite(np.delete(back, [0, 3])).all()
    np.testing.assert_allclose(back[1], 1 / 3 * 0.5 + 1 / 3 * 0.5)  # the corner in both triangles of the square


def test_split_vertices_share_their_source_index(tmp_path):
    # two triangles meeting at one vertex (a bowtie), which repair=True splits into two
    path = tmp_path / "bowtie.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv -1 0 0\nv 0 -1 0\nf 1 2 3\nf 1 4 5\n")
    with pytest.raises(MeshError, match="non-manifold"):
        load_mesh(path)
    with pytest.warns(UserWarning, match="split 1 non-manifold vertices"):
        mesh = load_mesh(path, repair=True)
    assert mesh.n_vertices == 6
    np.testing.assert_array_equal(mesh.source_index, [0, 1, 2, 3, 4, 0])
    file_vertices = np.loadtxt(path, usecols=(1, 2, 3), max_rows=5)
    np.testing.assert_array_equal(mesh.vertices, file_vertices[mesh.source_index])


def test_stl_corners_map_to_the_first_corner_at_their_position(tmp_path):
    base = shapes.icosahedron(1)
    path = tmp_path / "ico.stl"
    trimesh.Trimesh(base.vertices, base.faces, process=False).export(path)
    mesh = load_mesh(path)
    corners = trimesh.load(path, process=False, force="mesh").vertices  # 3 per face, as stored
    assert len(corners) == 3 * base.n_faces and mesh.n_vertices == base.n_vertices
    np.testing.assert_array_equal(mesh.vertices, corners[mesh.source_index])
    for i, s in enumerate(mesh.source_index):  # the first corner at that position
        assert not np.any(np.all(corners[:s] == mesh.vertices[i], axis=1))


@pytest.mark.parametrize("suffix", ["ply", "off", "glb"])
def test_other_formats_keep_unreferenced_vertices_in_the_numbering(tmp_path, suffix):
    vertices = np.array([[9, 9, 9], [0, 0, 0], [1, 0, 0], [0, 1, 0]], float)
    path = tmp_path / f"t.{suffix}"
    trimesh.Trimesh(vertices, [[1, 2, 3]], process=False).export(path)
    with pytest.warns(UserWarning, match="dropped 1 unreferenced"):
        mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.source_index, [1, 2, 3])


def test_geometry_file_keeps_the_index_map(obj_file, tmp_path):
    from gaugeconv import save_geometry

    assert FORMAT_VERSION == 2
    with pytest.warns(UserWarning):
        g = preprocess(load_mesh(obj_file))
    save_geometry(g, tmp_path / "g.npz")
    loaded = load_geometry(tmp_path / "g.npz")
    np.testing.assert_array_equal(loaded.source_index, g.source_index)
    assert loaded.source_index.dtype == np.int64


def test_coarse_levels_carry_the_source_index_of_the_vertex_they_are():
    mesh = shapes.icosahedron(3)
    shuffled = make_mesh(mesh.vertices, mesh.faces, source_index=np.arange(mesh.n_vertices) * 7 + 3)
    g = preprocess(shuffled, levels=2)
    fine = g.source_index
    np.testing.assert_array_equal(fine, np.arange(mesh.n_vertices) * 7 + 3)
    for level, pool in zip(g.levels, g.pools):
        np.testing.assert_array_equal(level.source_index, fine[pool.sub])
        np.testing.assert_array_equal(level.vertices, g.vertices[np.searchsorted(g.source_index, level.source_index)])
        fine = level.source_index


def test_batches_concatenate_the_index_maps():
    a, b = preprocess(shapes.icosahedron(0)), preprocess(shapes.disc(n_rings=1))
    batch = Geometry.batch([a, b])
    np.testing.assert_array_equal(batch.source_index, np.r_[a.source_index, b.source_index])
    assert batch.to_torch().source_index.dtype.is_floating_point is False


@pytest.mark.parametrize("bad", [np.arange(3), np.arange(4.0), [[0, 1, 2, 3]]])
def test_make_mesh_checks_a_given_source_index(bad):
    with pytest.raises(MeshError, match=r"source_index must be \(4,\) integers"):
        make_mesh(np.eye(4, 3), [[0, 1, 2], [0, 2, 3]], source_index=bad)
