"""Hostile inputs, generated at run time, against the command line's promises (docs/cli.md).

Every hostile file goes through a batch between two good meshes and must end as one line on
stderr naming the file, the problem and what to do: exit status 2, no traceback, no output and
no temporary file for it, every input byte untouched, and the good meshes of the batch
processed. Outputs that would overwrite an input are refused before anything is written.
"""

import hashlib
import os
import re

import numpy as np
import pytest

from gaugeconv import MeshError, load_mesh, make_mesh, preprocess, shapes
from gaugeconv.cli import main

SQUARE = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 3 4\n"
PLY_HEAD = (
    "ply\nformat ascii 1.0\nelement vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
    "element face {m}\nproperty list uchar int vertex_indices\nend_header\n"
)


def _scaled_square(factor: float) -> str:
    return "".join(f"v {x * factor!r} {y * factor!r} 0\n" for x, y in [(0, 0), (1, 0), (1, 1), (0, 1)]) + (
        "f 1 2 3\nf 1 3 4\n"
    )


def _binary_garbage() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()


def _truncated_stl(tmp_path) -> bytes:
    import trimesh

    mesh = shapes.icosahedron(1)
    data = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).export(file_type="stl")
    return data[: len(data) // 2 + 7]


# (id, file name, content: str, bytes or a function of tmp_path, regex the one line must match,
#  extra CLI flags)
HOSTILE = [
    (
        "all-degenerate-repair",
        "flat.obj",
        "v 0 0 0\nv 1 0 0\nv 2 0 0\nv 3 0 0\nf 1 2 3\nf 2 3 4\n",
        r"no faces left after repair: all 2 faces are degenerate",
        ["--repair"],
    ),
    (
        "all-degenerate",
        "flat.obj",
        "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n",
        r"1 degenerate \(zero-area\) faces.*pass repair=True",
        [],
    ),
    ("too-large", "huge.obj", _scaled_square(1e200), r"outside what float64 can hold; scale the coordinates", []),
    ("too-small", "tiny.obj", _scaled_square(1e-200), r"outside what float64 can hold; scale the coordinates", []),
    ("overflowing-coordinates", "edge.obj", _scaled_square(1.7e308), r"outside what float64 can hold", []),
    ("nan", "nan.obj", SQUARE.replace("v 1 1 0", "v 1 nan 0"), r"NaN or infinite coordinates.*fix or remove", []),
    (
        "not-a-number",
        "word.obj",
        SQUARE.replace("v 1 1 0", "v 1 one 0"),
        r"line 3: coordinate 'one' is not a number; the file is not a valid OBJ",
        [],
    ),
    ("short-vertex", "short.obj", SQUARE.replace("v 1 1 0", "v 1 1"), r"line 3: a vertex needs three coordinates", []),
    ("two-corner-face", "line.obj", SQUARE + "f 1 2\n", r"line 7: a face needs at least three vertices", []),
    ("index-zero", "zero.obj", SQUARE + "f 0 1 2\n", r"line 7: vertex index 0 \(OBJ indices start at 1\)", []),
    (
        "relative-before-start",
        "rel.obj",
        "v 0 0 0\nv 1 0 0\nf -1 -2 -3\nv 0 1 0\n",
        r"line 3: vertex index -3 refers to no vertex",
        [],
    ),
    (
        "huge-index",
        "big.obj",
        SQUARE + "f 1 2 99999999999999999999999\n",
        r"line 7: vertex index .* (range|no vertex)",
        [],
    ),
    ("binary-garbage-obj", "noise.obj", _binary_garbage(), r"(not a number|no triangles|needs|refers to no|OBJ)", []),
    ("binary-garbage-ply", "noise.ply", _binary_garbage(), r"cannot read as a mesh", []),
    (
        "ply-negative-index",
        "neg.ply",
        PLY_HEAD.format(n=3, m=1) + "0 0 0\n1 0 0\n0 1 0\n3 0 1 -2\n",
        r"(out of range|cannot read)",
        [],
    ),
    (
        "ply-lying-header",
        "lie.ply",
        PLY_HEAD.format(n=300, m=1) + "0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n",
        r"(cannot read as a mesh|no triangles found in the file; it may be truncated)",
        [],
    ),
    ("truncated-stl", "cut.stl", _truncated_stl, r"(cannot read as a mesh|no triangles)", []),
    ("empty", "empty.off", b"", r"the file is empty", []),
    ("geometry-as-mesh", "geometry.npz", b"PK\x03\x04", r"unsupported file type \.npz; use one of", []),
]
HOSTILE_IDS = [case[0] for case in HOSTILE]


def _digest(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _write(path, content, tmp_path):
    if callable(content):
        content = content(tmp_path)
    with open(path, "wb") as fh:
        fh.write(content.encode() if isinstance(content, str) else content)


def _listing(root) -> list:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


@pytest.mark.parametrize("case", HOSTILE, ids=HOSTILE_IDS)
def test_hostile_file_in_a_batch(tmp_path, capsys, case):
    _, filename, content, pattern, flags = case
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = [str(inputs / "a_good.obj"), str(inputs / "z_good.obj")]
    for path in good:
        (inputs / path).write_text(SQUARE)
    bad = str(inputs / filename)
    _write(bad, content, tmp_path)
    before = {p: _digest(p) for p in good + [bad]}
    out = tmp_path / "out"

    assert main(["preprocess", *flags, *good, bad, "-o", str(out)]) == 2

    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("gaugeconv: error: ")]
    assert len(errors) == 1, captured.err
    assert errors[0].startswith(f"gaugeconv: error: {bad}: ")  # names the file
    assert re.search(pattern, errors[0]), errors[0]
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert "2 preprocessed, 0 up to date, 1 failed" in captured.err
    assert _listing(out) == ["a_good.npz", "z_good.npz"]  # no output, no temporary file for the bad one
    assert {p: _digest(p) for p in before} == before  # inputs untouched
    assert _listing(inputs) == sorted(os.path.basename(p) for p in before)


@pytest.mark.parametrize("case", HOSTILE, ids=HOSTILE_IDS)
def test_hostile_file_from_python_is_one_mesh_error(tmp_path, case):
    _, filename, content, pattern, flags = case
    path = str(tmp_path / filename)
    _write(path, content, tmp_path)
    with pytest.raises(MeshError, match=pattern) as info:
        preprocess(load_mesh(path, repair="--repair" in flags))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_hostile_files_do_not_stop_the_batch(tmp_path, capsys, workers):
    """All hostile files at once, serial and with a worker pool: every one reported, every good one done."""
    good = [tmp_path / "a_good.obj", tmp_path / "zz_good.obj"]
    for path in good:
        path.write_text(SQUARE)
    bad = []
    for case_id, filename, content, _, flags in HOSTILE:
        if not flags:
            path = tmp_path / f"{case_id}-{filename}"
            _write(path, content, tmp_path)
            bad.append(str(path))
    out = tmp_path / "out"
    assert main(["preprocess", *map(str, good), *bad, "-o", str(out), "--workers", workers]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("gaugeconv: error: ")]
    assert sorted(line.split(": ")[2] for line in errors) == sorted(bad)
    assert "Traceback" not in err
    assert _listing(out) == ["a_good.npz", "zz_good.npz"]


# --------------------------------------------------------------------------- outputs that are inputs
@pytest.fixture()
def mesh_file(tmp_path):
    path = tmp_path / "m.obj"
    path.write_text(SQUARE)
    return path


def _refused(argv, capsys, mesh_file, pattern):
    before = mesh_file.read_bytes()
    listing = _listing(mesh_file.parent)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(pattern, err), err
    assert mesh_file.read_bytes() == before
    assert _listing(mesh_file.parent) == listing  # nothing written, no temporary file


def test_output_that_is_the_input_is_refused(capsys, mesh_file):
    _refused(["preprocess", str(mesh_file), "-o", str(mesh_file)], capsys, mesh_file, r"is the input .*m\.obj")


def test_output_that_is_the_input_through_dots_is_refused(capsys, mesh_file):
    roundabout = os.path.join(str(mesh_file.parent), ".", "x", "..", "m.obj")
    os.mkdir(mesh_file.parent / "x")
    _refused(["preprocess", str(mesh_file), "-o", roundabout], capsys, mesh_file, r"is the input")


@pytest.mark.parametrize("name", ["out.ply", "out.obj", "noext", "out.npz.tmp"])
def test_geometry_outputs_must_end_in_npz(capsys, mesh_file, name):
    out = str(mesh_file.parent / name)
    _refused(["preprocess", str(mesh_file), "-o", out], capsys, mesh_file, r"a geometry file must end in \.npz")


def test_symlinked_output_to_an_input_is_refused(capsys, mesh_file):
    link = mesh_file.parent / "link.npz"
    link.symlink_to(mesh_file)
    _refused(["preprocess", str(mesh_file), "-o", str(link)], capsys, mesh_file, r"is the input")
    assert link.is_symlink()


def test_hard_linked_output_to_an_input_is_refused(capsys, mesh_file):
    link = mesh_file.parent / "hard.npz"
    os.link(mesh_file, link)
    _refused(["preprocess", str(mesh_file), "-o", str(link)], capsys, mesh_file, r"is the input")


def test_folder_output_colliding_with_an_input_is_refused(capsys, mesh_file):
    other = mesh_file.parent / "n.obj"
    other.write_text(SQUARE)
    folder = mesh_file.parent / "out"
    folder.mkdir()
    (folder / "m.npz").symlink_to(mesh_file)  # the output m.npz of m.obj would land on the input
    _refused(["preprocess", str(mesh_file), str(other), "-o", str(folder)], capsys, mesh_file, r"would overwrite")


def test_output_folder_that_is_an_input_file_is_refused(capsys, mesh_file):
    other = mesh_file.parent / "n.obj"
    other.write_text(SQUARE)
    _refused(["preprocess", str(mesh_file), str(other), "-o", str(other)], capsys, mesh_file, r"is the input")


def test_render_output_that_is_an_input_is_refused(tmp_path, capsys):
    picture = tmp_path / "m.png"
    picture.write_bytes(b"\x89PNG not really")
    mesh = tmp_path / "m.obj"
    mesh.write_text(SQUARE)
    link = tmp_path / "link.obj"
    link.symlink_to(picture)  # an input (the mesh argument) that is the output picture
    before = picture.read_bytes()
    assert main(["render", str(link), "-o", str(picture)]) == 2
    assert "is the input" in capsys.readouterr().err
    assert picture.read_bytes() == before


# --------------------------------------------------------------------------- the smaller ones
@pytest.mark.parametrize(
    "argv, message",
    [
        (["disc", "--n-rings", "0"], "disc: --n-rings must be an integer >= 1, got 0"),
        (["disc", "--radius", "0"], "disc: --radius must be a finite number > 0, got 0.0"),
        (["plane", "--nx", "1"], "plane: --nx must be an integer >= 2, got 1"),
        (["torus", "--n-major", "2"], "torus: --n-major must be an integer >= 3, got 2"),
        (["torus", "--minor-radius", "1"], "torus: --minor-radius must be < --major-radius, got 1.0 >= 1.0"),
        (["cylinder", "--n-height", "1"], "cylinder: --n-height must be an integer >= 2, got 1"),
        (["mobius", "--width", "inf"], "mobius: --width must be a finite number > 0, got inf"),
        (["icosahedron", "--radius", "nan"], "icosahedron: --radius must be a finite number > 0, got nan"),
    ],
)
def test_shape_arguments_are_checked(tmp_path, capsys, argv, message):
    out = tmp_path / "s.obj"
    assert main(["shape", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"gaugeconv: error: {message}\n"  # one line, one prefix, no advice about --repair
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["disc", "plane", "torus", "cylinder", "mobius", "icosahedron"])
def test_shape_generators_reject_bad_arguments_in_python(name):
    counts = {"disc": "n_rings", "plane": "nx", "torus": "n_major", "cylinder": "n_around", "mobius": "n_length"}
    count = counts.get(name, "level")
    with pytest.raises(ValueError, match=rf"^{name}: {count} must be an integer"):
        shapes.SHAPES[name](**{count: -1})
    with pytest.raises(ValueError, match=rf"^{name}: radius|^{name}: width|^{name}: major_radius"):
        size = {"plane": "width", "mobius": "width", "torus": "major_radius"}.get(name, "radius")
        shapes.SHAPES[name](**{size: 0.0})


def test_preprocess_of_a_path_says_to_load_the_mesh(tmp_path):
    path = tmp_path / "m.obj"
    path.write_text(SQUARE)
    for given in (str(path), path):
        with pytest.raises(MeshError, match=r"preprocess takes a Mesh, got the path .*gaugeconv.load_mesh\(path\)"):
            preprocess(given)
    with pytest.raises(MeshError, match=r"preprocess takes a Mesh, got ndarray"):
        preprocess(np.zeros((3, 3)))


def test_render_with_a_zero_view_direction_is_refused(tmp_path, capsys):
    mesh = tmp_path / "m.obj"
    mesh.write_text(SQUARE)
    for view in (["0", "0", "0"], ["nan", "0", "1"]):
        assert main(["render", str(mesh), "--view", *view, "-o", str(tmp_path / "v.png")]) == 2
        assert "view must be a non-zero direction" in capsys.readouterr().err
    assert main(["render", str(mesh), "--zoom", "0", "-o", str(tmp_path / "v.png")]) == 2
    assert "zoom must be a finite number > 0" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["m.obj"]


UNREFERENCED = SQUARE + "v 7 7 7\n"


@pytest.mark.parametrize("command", [["info"], ["render", "--frames", "--size", "64x64", "-o", "{dir}/p.png"]])
def test_warnings_are_one_line_in_the_one_style(tmp_path, capsys, command):
    path = tmp_path / "extra.obj"
    path.write_text(UNREFERENCED)
    argv = [command[0], str(path), *(c.format(dir=tmp_path) for c in command[1:])]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"gaugeconv: warning: {path}: dropped 1 unreferenced vertices"]


def test_preprocess_warnings_in_the_same_style(tmp_path, capsys):
    path = tmp_path / "extra.obj"
    path.write_text(UNREFERENCED)
    assert main(["preprocess", str(path), "-o", str(tmp_path / "extra.npz")]) == 0
    assert capsys.readouterr().err.splitlines() == [f"gaugeconv: warning: {path}: dropped 1 unreferenced vertices"]


def test_layers_reject_half_precision_and_empty_batches(icosphere_geometry):
    import torch

    from gaugeconv import FieldType
    from gaugeconv.nn import GaugeConv

    conv = GaugeConv(FieldType("1x0 + 1x1"), FieldType("1x0"))
    g = icosphere_geometry.to_torch()
    with pytest.raises(ValueError, match=r"x must be float32 or float64, got torch.float16; convert it with x.float"):
        conv(torch.zeros(g.n_vertices, 3, dtype=torch.float16), g)
    with pytest.raises(ValueError, match=r"x is empty \(shape \(0, 162, 3\)\)"):
        conv(torch.zeros(0, g.n_vertices, 3), g)
    assert conv(torch.zeros(g.n_vertices, 3), g).shape == (g.n_vertices, 1)  # control


def test_degenerate_faces_are_judged_on_each_face_s_own_scale():
    """A well-shaped face is never degenerate, at any scale; a sliver is, at any scale."""
    for factor in (1e-300, 1e-100, 1.0, 1e100, 1e300):
        make_mesh(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]) * factor, [[0, 1, 2]])
        with pytest.raises(MeshError, match="degenerate"):
            make_mesh(np.array([[0, 0, 0], [1, 0, 0], [0.5, 1e-13, 0]]) * factor, [[0, 1, 2]])
    # a tiny, well-shaped triangle beside a huge one is fine: the judgement is per face
    big, tiny = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]]) * 1e10, np.array([[5, 5, 0], [6, 5, 0], [5, 6, 0]]) * 1e-10
    mesh = make_mesh(np.r_[big, tiny], [[0, 1, 2], [3, 4, 5]])
    assert (mesh.n_faces, mesh.n_components) == (2, 2)
