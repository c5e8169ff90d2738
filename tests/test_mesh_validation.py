"""Mesh loading and validation: every bad input gets its own clear error, as a Python exception
(MeshError) and through the CLI (one line on stderr naming the file, exit status 2, nothing
written); repairs; every supported format loads without reordering vertices."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
import trimesh

from gaugeconv import MeshError, load_mesh, make_mesh, preprocess, shapes
from gaugeconv.cli import main

SQUARE = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 3 4\n"
PLY_HEAD = (
    "ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n"
    "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
)

# (case id, file name, file content or None for "no file", regex the message must match)
BAD_FILES = [
    ("missing", "missing.obj", None, r"no such file"),
    ("empty", "empty.obj", "", r"the file is empty"),
    ("unreadable", "garbage.ply", "this is not a ply file\n", r"cannot read as a mesh"),
    ("no-triangles", "points.obj", "v 0 0 0\nv 1 0 0\n", r"no triangles found"),
    ("unsupported-type", "mesh.txt", SQUARE, r"unsupported file type \.txt"),
    ("nan", "nan.obj", SQUARE.replace("v 1 1 0", "v 1 nan 0"), r"1 vertices have NaN or infinite coordinates"),
    ("inf", "inf.obj", SQUARE.replace("v 1 1 0", "v 1 inf 0"), r"NaN or infinite coordinates \(first: vertex 2\)"),
    ("index-out-of-range", "range.ply", PLY_HEAD + "0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", r"vertex index 7 out of range"),
    (
        "index-out-of-range-obj",
        "range.obj",
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n",
        r"line 4: vertex index 9 refers to no vertex \(3 in the file\)",
    ),
    ("degenerate-repeated", "repeated.obj", SQUARE + "f 1 1 3\n", r"1 degenerate \(zero-area\) faces"),
    ("degenerate-collinear", "collinear.obj", SQUARE + "v 2 0 0\nf 1 2 5\n", r"degenerate \(zero-area\)"),
    ("edge-in-three-faces", "fin.obj", SQUARE + "v 0.5 0.5 1\nf 1 3 5\n", r"shared by more than two faces"),
    ("bowtie", "bowtie.obj", SQUARE + "v -1 -1 0\nv 0 -1 0\nf 1 5 6\n", r"non-manifold vertices"),
    ("duplicate-face", "duplicate.obj", SQUARE + "f 3 2 1\n", r"1 duplicate faces"),
]
BAD_IDS = [case[0] for case in BAD_FILES]


def write_case(directory, filename, content):
    path = os.path.join(directory, filename)
    if content is not None:
        with open(path, "w") as fh:
            fh.write(content)
    return path


# --------------------------------------------------------------------------- Python API
@pytest.mark.parametrize("case", BAD_FILES, ids=BAD_IDS)
def test_bad_file_raises_clear_mesh_error(tmp_path, case):
    _, filename, content, pattern = case
    path = write_case(tmp_path, filename, content)
    with pytest.raises(MeshError, match=pattern) as info:
        load_mesh(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith((path, filename + ":"))


@pytest.mark.parametrize(
    "vertices, faces, pattern",
    [
        (np.zeros((4, 2)), [[0, 1, 2]], r"vertices must have shape \(V, 3\)"),
        (np.eye(3), [[0, 1, 2, 0]], r"faces must have shape \(F, 3\)"),
        (np.eye(3), np.zeros((0, 3), int), r"empty"),
        (np.eye(3), [[0.0, 1.5, 2.0]], r"face indices must be integers"),
        (np.eye(3), [[0, 1, -1]], r"vertex index -1 out of range"),
        ([[0, 0, 0], [1, 0, 0], [0, 1, np.nan]], [[0, 1, 2]], r"NaN or infinite"),
    ],
    ids=["vertex-shape", "quads", "empty", "float-indices", "negative-index", "nan"],
)
def test_make_mesh_rejects_bad_arrays(vertices, faces, pattern):
    with pytest.raises(MeshError, match=pattern):
        make_mesh(vertices, faces, name="arrays")


def test_unreferenced_vertices_dropped_with_warning():
    vertices = np.array([[9, 9, 9], [0, 0, 0], [1, 0, 0], [7, 7, 7], [0, 1, 0]], float)
    faces = np.array([[1, 2, 4]])
    with pytest.warns(UserWarning, match=r"t: dropped 2 unreferenced vertices"):
        mesh = make_mesh(vertices, faces, name="t")
    assert mesh.n_vertices == 3
    np.testing.assert_array_equal(mesh.vertices[mesh.faces], vertices[faces])  # same triangle, order kept
    assert mesh.repairs == ("dropped 2 unreferenced vertices",)


def test_several_components_allowed_and_reported(tmp_path, capsys):
    two = SQUARE + "v 5 0 0\nv 6 0 0\nv 5 1 0\nf 5 6 7\n"
    path = write_case(tmp_path, "two.obj", two)
    mesh = load_mesh(path)
    assert mesh.n_components == 2
    assert preprocess(mesh).n_components == 2
    assert main(["info", path]) == 0
    assert "components 2, boundary loops 2" in capsys.readouterr().out


def test_repair_fixes_degenerate_duplicate_and_bowtie(tmp_path):
    text = SQUARE + "f 1 1 3\nf 3 2 1\nv -1 -1 0\nv 0 -1 0\nf 1 5 6\n"
    path = write_case(tmp_path, "messy.obj", text)
    with pytest.raises(MeshError):
        load_mesh(path)
    with pytest.warns(UserWarning, match=r"repaired: dropped 1 degenerate faces; dropped 1 duplicate faces; split 1"):
        mesh = load_mesh(path, repair=True)
    assert mesh.repairs == (
        "dropped 1 degenerate faces",
        "dropped 1 duplicate faces",
        "split 1 non-manifold vertices (+1 vertices)",
    )
    assert (mesh.n_vertices, mesh.n_faces, mesh.n_components) == (7, 3, 2)
    clean = make_mesh(mesh.vertices, mesh.faces)  # the repaired mesh passes validation as it is
    assert clean.repairs == ()
    # the split copy sits where the original vertex was
    np.testing.assert_array_equal(mesh.vertices[6], mesh.vertices[0])


def _export(mesh, path, suffix):
    tm = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), process=False)
    tm.export(path, file_type=suffix)


# decimal digits / single precision per format, as trimesh writes them
FORMAT_TOLERANCE = {"obj": 1e-8, "ply": 1e-7, "off": 1e-10, "stl": 1e-7, "glb": 1e-7}


@pytest.mark.parametrize("suffix", sorted(FORMAT_TOLERANCE))
def test_formats_load_without_reordering(tmp_path, suffix):
    base = shapes.torus(n_major=10, n_minor=6)
    perm = np.random.default_rng(0).permutation(base.n_vertices)  # an order no sorting would give
    inverse = np.argsort(perm)
    mesh = make_mesh(base.vertices[perm], inverse[base.faces], name="torus")
    path = os.path.join(tmp_path, f"torus.{suffix}")
    _export(mesh, path, suffix)
    loaded = load_mesh(path)
    assert loaded.n_vertices == mesh.n_vertices and loaded.n_faces == mesh.n_faces
    tol = FORMAT_TOLERANCE[suffix]
    if suffix == "stl":  # STL has no shared vertices: corners are merged, so compare the triangles
        np.testing.assert_allclose(loaded.vertices[loaded.faces], mesh.vertices[mesh.faces], atol=tol)
    else:
        np.testing.assert_array_equal(loaded.faces, mesh.faces)
        np.testing.assert_allclose(loaded.vertices, mesh.vertices, atol=tol)


# --------------------------------------------------------------------------- CLI
def _single_error_line(stderr, path):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gaugeconv: error: ")
    assert path in lines[0]
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("case", BAD_FILES, ids=BAD_IDS)
def test_cli_preprocess_bad_file(tmp_path, capsys, case):
    _, filename, content, pattern = case
    path = write_case(tmp_path, filename, content)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["preprocess", path, "-o", str(out_dir / "result.npz")]) == 2
    captured = capsys.readouterr()
    assert re.search(pattern, _single_error_line(captured.err, path))
    assert captured.out == ""
    assert os.listdir(out_dir) == []  # no output, no temporary file


@pytest.mark.parametrize("case", BAD_FILES, ids=BAD_IDS)
def test_cli_info_bad_file(tmp_path, capsys, case):
    _, filename, content, pattern = case
    path = write_case(tmp_path, filename, content)
    assert main(["info", path]) == 2
    assert re.search(pattern, _single_error_line(capsys.readouterr().err, path))


def test_cli_batch_processes_good_files_despite_bad_ones(tmp_path, capsys):
    good = []
    for name in ("a_good.obj", "z_good.obj"):
        good.append(write_case(tmp_path, name, SQUARE))
    bad = [write_case(tmp_path, f, c) for _, f, c, _ in BAD_FILES if c is not None and f.endswith(".obj")]
    out_dir = tmp_path / "out"
    assert main(["preprocess", *good, *bad, "-o", str(out_dir)]) == 2
    captured = capsys.readouterr()
    assert sorted(os.listdir(out_dir)) == ["a_good.npz", "z_good.npz"]
    errors = [line for line in captured.err.splitlines() if line.startswith("gaugeconv: error: ")]
    assert len(errors) == len(bad)
    for path in bad:
        assert sum(path in line for line in errors) == 1
    assert f"2 preprocessed, 0 up to date, {len(bad)} failed" in captured.err
    assert len(captured.out.strip().splitlines()) == 2  # one summary line per good mesh


def test_cli_repair_flag(tmp_path, capsys):
    path = write_case(tmp_path, "dup.obj", SQUARE + "f 3 2 1\n")
    out = tmp_path / "dup.npz"
    assert main(["preprocess", path, "-o", str(out)]) == 2
    assert not out.exists()
    capsys.readouterr()
    assert main(["preprocess", "--repair", path, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "gaugeconv: warning: " in captured.err and "dropped 1 duplicate faces" in captured.err
    assert out.exists()


def test_console_script_bad_file_subprocess(tmp_path):
    """The installed console script: exit status 2, one stderr line, no traceback, no output."""
    path = write_case(tmp_path, "fin.obj", SQUARE + "v 0.5 0.5 1\nf 1 3 5\n")
    script = os.path.join(os.path.dirname(sys.executable), "gaugeconv")
    out = tmp_path / "fin.npz"
    result = subprocess.run([script, "preprocess", path, "-o", str(out)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    line = _single_error_line(result.stderr, path)
    assert "shared by more than two faces" in line
    assert not out.exists()
