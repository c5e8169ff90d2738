"""The OBJ reader (gaugeconv.meshfile.read_obj): every index form, relative indices, polygons,
and the small print of the format; its fast path and its exact path agree."""

import numpy as np
import pytest
import trimesh

from gaugeconv import MeshError, load_mesh, shapes
from gaugeconv.meshfile import _exact_numbers, _fast_numbers, _read_obj_exact, _read_obj_fast, read_obj

VERTICES = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nvn 0 0 1\n"
EXPECTED_FACES = [[0, 1, 2], [0, 2, 3]]


def _read(tmp_path, text, name="m.obj"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return read_obj(path)


@pytest.mark.parametrize(
    "faces",
    [
        "f 1 2 3\nf 1 3 4\n",
        "f -4 -3 -2\nf -4 -2 -1\n",
        "f -4/-4 -3/-3 -2/-2\nf -4/-4 -2/-2 -1/-1\n",
        "f -4/-4/-1 -3/-3/-1 -2/-2/-1\nf -4/-4/-1 -2/-2/-1 -1/-1/-1\n",
        "f -4//-1 -3//-1 -2//-1\nf -4//-1 -2//-1 -1//-1\n",
        "f 1/1 2/2 3/3\nf 1/1/1 -2/3 4//1\n",  # mixed forms and signs
    ],
    ids=["absolute", "relative", "relative-v/vt", "relative-v/vt/vn", "relative-v//vn", "mixed"],
)
def test_every_index_form(tmp_path, faces):
    vertices, triangles, source = _read(tmp_path, VERTICES + faces)
    np.testing.assert_array_equal(triangles, EXPECTED_FACES)
    np.testing.assert_array_equal(vertices, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(source, np.arange(4))


def test_relative_indices_count_the_vertices_defined_so_far(tmp_path):
    text = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf -3 -2 -1\nv 5 0 0\nv 6 0 0\nv 5 1 0\nf -3 -2 -1\nf 1 2 -4\n"
    _, triangles, _ = _read(tmp_path, text)
    np.testing.assert_array_equal(triangles, [[0, 1, 2], [3, 4, 5], [0, 1, 2]])


def test_polygons_become_fans_of_triangles(tmp_path):
    text = "v 0 0 0\nv 1 0 0\nv 2 1 0\nv 1 2 0\nv 0 1 0\nf 1 2 3 4 5\nv 3 3 3\nf 1 2 6\n"
    _, triangles, _ = _read(tmp_path, text)
    np.testing.assert_array_equal(triangles, [[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 1, 5]])


def test_the_small_print_of_the_format(tmp_path):
    text = (
        b"\xef\xbb\xbf# a comment\r\n"  # byte order mark, CRLF line ends
        b"mtllib x.mtl\r\no thing\r\n"
        b"v 0 0 0 1.0\r\n"  # a w coordinate
        b"v\t1 0 0 0.5 0.5 0.5\r\n"  # tabs, a vertex colour
        b"v 1 1 \\\r\n0\r\n"  # a line continuation
        b"  v 0 1 0 # trailing comment\r\n"
        b"\r\ng group\r\nusemtl red\r\ns off\r\n"
        b"f 1 2 3 # comment\r\nl 1 2\r\np 4\r\nf 1 3 4\r\n"
    )
    vertices, triangles, _ = _read(tmp_path, text)
    np.testing.assert_array_equal(vertices, [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(triangles, EXPECTED_FACES)


def test_agrees_with_trimesh_on_a_plain_file(tmp_path):
    base = shapes.torus(n_major=9, n_minor=5)
    path = tmp_path / "t.obj"
    trimesh.Trimesh(base.vertices, base.faces, process=False).export(path, digits=17, include_normals=False)
    vertices, triangles, _ = read_obj(path)
    theirs = trimesh.load(path, process=False, maintain_order=True, force="mesh")
    np.testing.assert_array_equal(triangles, theirs.faces)
    np.testing.assert_array_equal(vertices, theirs.vertices)
    np.testing.assert_array_equal(vertices, base.vertices)  # 17 digits: exact


def test_fast_and_exact_paths_agree():
    rng = np.random.default_rng(0)
    numbers = rng.normal(size=300) * 10.0 ** rng.integers(-300, 300, 300)
    rows = [[repr(float(x)).encode() for x in numbers[i : i + 3]] for i in range(0, 300, 3)]
    fast = _fast_numbers(rows, np.float64, 300)
    assert fast is not None
    np.testing.assert_array_equal(fast, _exact_numbers(rows, list(range(100)), float, "x.obj"))
    rows = [[b"%d/%d/%d" % (i, i, i) for i in rng.integers(-(10**9), 10**9, 3)] for _ in range(50)]
    np.testing.assert_array_equal(
        _fast_numbers(rows, np.int64, 150), _exact_numbers(rows, list(range(50)), int, "x.obj")
    )


def test_tokens_only_python_reads_take_the_exact_path(tmp_path):
    # "+1" and "1_0" are not read by the C parser; Python's int and float read them
    vertices, triangles, _ = _read(tmp_path, "v 0 0 0\nv 1_0 0 0\nv 0 1e1 0\nf +1 2 3\n")
    np.testing.assert_array_equal(vertices[1], [10, 0, 0])
    np.testing.assert_array_equal(triangles, [[0, 1, 2]])


def test_load_mesh_reads_relative_indices(tmp_path):
    path = tmp_path / "rel.obj"
    path.write_text(VERTICES + "f -4/-4 -3/-3 -2/-2\nf -4/-4 -2/-2 -1/-1\n")
    mesh = load_mesh(path)
    np.testing.assert_array_equal(mesh.faces, EXPECTED_FACES)


@pytest.mark.parametrize(
    "text, message",
    [
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", r"line 4: vertex index 4 refers to no vertex \(3 in the file\)"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3.5\n", r"line 4: vertex index '3.5' is not a number"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 /3\n", r"line 4: vertex index '/3' is not a number"),
        ("v 0 0 0\nv 1 0 0 x\nv 0 x 0\nf 1 2 3\n", r"line 3: coordinate 'x' is not a number"),
    ],
)
def test_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(MeshError, match=message) as info:
        _read(tmp_path, text)
    assert "\n" not in str(info.value) and str(info.value).endswith("the file is not a valid OBJ mesh")


def _plain_obj_texts():
    mesh = shapes.torus(n_major=7, n_minor=4)
    absolute = "".join("v %r %r %r\n" % tuple(v) for v in mesh.vertices.tolist())
    absolute += "".join("f %d %d %d\n" % tuple(f) for f in (mesh.faces + 1).tolist())
    relative = VERTICES + "f -4/-4 -3/-3 -2/-2\nf 1 3 4\nv 9 9 9 1.0\nv 8 8 8 0.1 0.2 0.3\nf -1 -2 1 2\n"
    return {"absolute": absolute, "relative": relative, "commented": "# header\n" + relative.replace("\n", " # c\n")}


@pytest.mark.parametrize("name", ["absolute", "relative", "commented"])
def test_the_fast_path_reads_plain_files_like_the_exact_path(name):
    data = _plain_obj_texts()[name].encode()
    fast = _read_obj_fast(data)
    assert fast is not None  # plain files take the fast path
    exact = _read_obj_exact(data, "x.obj")
    for a, b in zip(fast, exact):
        np.testing.assert_array_equal(a, b)


def test_the_fast_path_gives_way_on_anything_unusual_and_agrees_when_it_reads():
    """Random corruptions of a plain file: the fast path either gives up (None) or returns what the
    exact path returns."""
    data = _plain_obj_texts()["relative"].encode()
    rng = np.random.default_rng(5)
    read = 0
    for _ in range(600):
        corrupt = bytearray(data)
        for position in rng.integers(0, len(corrupt), 2):
            corrupt[position] = rng.choice(list(b" \t\n\r\\/-+.e0123456789vfx#nia"))
        corrupt = bytes(corrupt)
        fast = _read_obj_fast(corrupt)
        try:
            exact = _read_obj_exact(corrupt, "x.obj")
        except MeshError:
            assert fast is None
            continue
        if fast is not None:
            read += 1
            for a, b in zip(fast, exact):
                np.testing.assert_array_equal(a, b)
    assert read > 30  # the comparison happened often enough to mean something
