"""The `gaugeconv` command line, run in-process through ``main([...])`` (plus two subprocesses)."""

import inspect
import io
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from gaugeconv import (
    FORMAT_VERSION,
    PreprocessOptions,
    load_geometry,
    load_mesh,
    preprocess,
    save_geometry,
    save_mesh,
    shapes,
)
from gaugeconv.buffers import geometry_fields
from gaugeconv.cli import main
from gaugeconv.cli.preprocess import is_up_to_date, parse_shard
from gaugeconv.cli.shape import shape_options

SUMMARY = re.compile(r"^(?P<src>\S+): (?P<V>\d+) vertices, (?P<E>\d+) directed edges, (SO2|O2), \d+\.\d\d s -> (\S+)$")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Five small meshes: icospheres of levels 0-2, a torus and a Möbius strip."""
    directory = tmp_path_factory.mktemp("corpus")
    paths = []
    for args, name in [
        (["icosahedron", "--level", "0"], "ico0.obj"),
        (["icosahedron", "--level", "1"], "ico1.obj"),
        (["icosahedron", "--level", "2"], "ico2.ply"),
        (["torus", "--n-major", "12", "--n-minor", "6"], "torus.off"),
        (["mobius", "--n-length", "12", "--n-width", "4"], "mobius.obj"),
    ]:
        path = str(directory / name)
        assert main(["shape", *args, "-o", path]) == 0
        paths.append(path)
    return sorted(paths)


def _assert_same_geometry(a, b):
    for name in geometry_fields():
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_preprocess_single_file(tmp_path, capsys, corpus):
    src = corpus[1]  # ico1.obj
    out = tmp_path / "sub" / "ico1.npz"
    assert main(["preprocess", src, "-o", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    match = SUMMARY.match(lines[0])
    assert match and match["src"] == src and (match["V"], match["E"]) == ("42", "240")
    assert lines[0].endswith(f"-> {out}")
    _assert_same_geometry(load_geometry(out), preprocess(load_mesh(src)))


def test_preprocess_single_file_into_existing_folder(tmp_path, capsys, corpus):
    assert main(["preprocess", corpus[0], "-o", str(tmp_path)]) == 0
    assert os.listdir(tmp_path) == ["ico0.npz"]


def test_preprocess_batch_into_folder(tmp_path, capsys, corpus):
    out = tmp_path / "out"
    assert main(["preprocess", *corpus, "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert sorted(os.listdir(out)) == ["ico0.npz", "ico1.npz", "ico2.npz", "mobius.npz", "torus.npz"]
    lines = captured.out.strip().splitlines()
    assert [SUMMARY.match(line)["src"] for line in lines] == corpus  # one line per mesh, sorted order
    assert "5 preprocessed, 0 up to date, 0 failed" in captured.err
    assert "mesh/s" not in captured.err  # no progress bar when stderr is not a terminal
    assert load_geometry(out / "mobius.npz").structure_group == "O2"


def test_preprocess_workers_match_serial(tmp_path, capsys, corpus):
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert main(["preprocess", *corpus, "-o", str(serial)]) == 0
    assert main(["preprocess", *corpus, "-o", str(parallel), "--workers", "2"]) == 0
    for name in os.listdir(serial):
        _assert_same_geometry(load_geometry(serial / name), load_geometry(parallel / name))
    assert sorted(os.listdir(parallel)) == sorted(os.listdir(serial))


def test_shards_partition_the_sorted_inputs(tmp_path, capsys, corpus):
    produced = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        # inputs given in reverse: the shard is taken over the sorted list
        assert main(["preprocess", *corpus[::-1], "-o", str(out), "--shard", f"{k}/3"]) == 0
        names = sorted(os.listdir(out)) if out.exists() else []
        expected = sorted(os.path.splitext(os.path.basename(p))[0] + ".npz" for p in corpus[k - 1 :: 3])
        assert names == expected
        produced += names
    assert sorted(produced) == sorted(os.path.splitext(os.path.basename(p))[0] + ".npz" for p in corpus)


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0"])
def test_bad_shard_is_a_usage_error(capsys, corpus, text):
    assert main(["preprocess", corpus[0], "-o", "never.npz", "--shard", text]) == 2
    assert "--shard" in capsys.readouterr().err
    assert not os.path.exists("never.npz")


def test_parse_shard():
    assert parse_shard("2/5") == (2, 5)


def test_skip_up_to_date_and_force(tmp_path, capsys, corpus):
    out = tmp_path / "out"
    assert main(["preprocess", *corpus[:2], "-o", str(out)]) == 0
    target = out / "ico0.npz"
    old = 1_000_000_000_000_000_000  # 2001, in ns: older than any source file touched later
    stamp = target.stat().st_mtime_ns
    capsys.readouterr()

    assert main(["preprocess", *corpus[:2], "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("up to date, skipped") == 2
    assert "0 preprocessed, 2 up to date" in captured.err
    assert target.stat().st_mtime_ns == stamp  # not rewritten

    assert main(["preprocess", *corpus[:2], "-o", str(out), "--force"]) == 0
    assert "2 preprocessed, 0 up to date" in capsys.readouterr().err

    os.utime(target, ns=(old, old))  # output older than its input: stale
    assert not is_up_to_date(corpus[0], target)
    assert main(["preprocess", *corpus[:2], "-o", str(out)]) == 0
    assert "1 preprocessed, 1 up to date" in capsys.readouterr().err
    assert target.stat().st_mtime_ns > old


def test_up_to_date_requires_a_current_file_for_this_source(tmp_path, corpus):
    src = corpus[0]
    target = tmp_path / "ico0.npz"
    assert not is_up_to_date(src, target)  # missing
    target.write_bytes(b"garbage")
    assert not is_up_to_date(src, target)  # not a geometry file
    save_geometry(PreprocessOptions().build(corpus[1]), target)
    assert not is_up_to_date(src, target)  # another source (ico1.obj)
    save_geometry(PreprocessOptions().build(src), target)
    assert is_up_to_date(src, target)
    for other in (dict(levels=1), dict(radius=1.5), dict(orientation="outward"), dict(repair=True)):
        assert not is_up_to_date(src, target, PreprocessOptions(**other)), other  # made with other options
    with np.load(target) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["__header__"] = np.frombuffer(
        bytes(arrays["__header__"]).replace(f'"version": {FORMAT_VERSION}'.encode(), b'"version": 0'), dtype=np.uint8
    )
    with open(target, "wb") as fh:
        np.savez(fh, **arrays)
    assert not is_up_to_date(src, target)  # another format version


def test_colliding_outputs_rejected_before_work(tmp_path, capsys, corpus):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for d in (a, b):
        (d / "m.obj").write_bytes(pathlib.Path(corpus[0]).read_bytes())
    out = tmp_path / "out"
    assert main(["preprocess", str(a / "m.obj"), str(b / "m.obj"), "-o", str(out)]) == 2
    assert "would both be written to" in capsys.readouterr().err
    assert not out.exists()


def test_quiet(tmp_path, capsys, corpus):
    assert main(["preprocess", *corpus[:2], "-o", str(tmp_path), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def _defect_line(text):
    match = re.search(r"total angle defect (\S+) = 2\*pi\*chi (\S+) \(error (\S+)\)", text)
    return float(match[1]), float(match[2]), float(match[3])


def test_info_on_mesh_file(capsys, corpus):
    torus = next(p for p in corpus if p.endswith("torus.off"))
    assert main(["info", torus]) == 0
    out = capsys.readouterr().out
    assert "torus.off: 72 vertices, 144 faces, 216 edges (432 directed)" in out
    assert "components 1, boundary loops 0, Euler characteristic 0" in out
    assert "orientable yes, structure group SO2, flipped transporters 0" in out
    defect, target, error = _defect_line(out)
    assert target == 0.0 and abs(defect) < 1e-9 and error < 1e-9
    assert f"mesh sha256 {load_mesh(torus).hash}" in out


def test_info_on_geometry_file(tmp_path, capsys, corpus):
    mobius = next(p for p in corpus if p.endswith("mobius.obj"))
    out_file = tmp_path / "m.npz"
    assert main(["preprocess", mobius, "-o", str(out_file)]) == 0
    capsys.readouterr()
    assert main(["info", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "components 1, boundary loops 1, Euler characteristic 0" in out
    assert "orientable no, structure group O2" in out
    assert f"file: gaugeconv.geometry version {FORMAT_VERSION}" in out
    assert _defect_line(out)[2] < 1e-9


def test_info_on_bad_geometry_file(tmp_path, capsys):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


SHAPE_FUNCTIONS = dict(shapes.SHAPES)


@pytest.mark.parametrize("name", sorted(SHAPE_FUNCTIONS))
def test_shape_defaults_match_the_library(name):
    signature = inspect.signature(SHAPE_FUNCTIONS[name])
    for flag, _, default, _ in shape_options()[name][1]:
        assert signature.parameters[flag[2:].replace("-", "_")].default == default, flag


SHAPE_ARGS = {
    "icosahedron": (["--level", "2"], {"level": 2}),
    "mobius": (["--n-length", "10", "--n-width", "3", "--embedded"], {"n_length": 10, "n_width": 3, "flat": False}),
    "torus": (["--n-major", "9", "--n-minor", "5"], {"n_major": 9, "n_minor": 5}),
    "plane": (["--nx", "4", "--ny", "3", "--width", "2"], {"nx": 4, "ny": 3, "width": 2.0}),
    "disc": (["--n-rings", "3"], {"n_rings": 3}),
    "cylinder": (["--n-around", "7", "--n-height", "3"], {"n_around": 7, "n_height": 3}),
}


@pytest.mark.parametrize("name", sorted(SHAPE_ARGS))
def test_shape_writes_the_generated_mesh(tmp_path, capsys, name):
    flags, kwargs = SHAPE_ARGS[name]
    out = tmp_path / f"{name}.obj"
    assert main(["shape", name, *flags, "-o", str(out)]) == 0
    expected = SHAPE_FUNCTIONS[name](**kwargs)
    loaded = load_mesh(out)
    np.testing.assert_array_equal(loaded.faces, expected.faces)
    np.testing.assert_allclose(loaded.vertices, expected.vertices, rtol=0, atol=1e-13)
    assert f"{expected.n_vertices} vertices, {expected.n_faces} faces" in capsys.readouterr().out
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    assert os.listdir(tmp_path) == [out.name]


@pytest.mark.parametrize("suffix", ["ply", "off", "stl", "glb"])
def test_shape_other_formats(tmp_path, capsys, suffix):
    out = tmp_path / f"ico.{suffix}"
    assert main(["shape", "icosahedron", "--level", "1", "--flat", "-o", str(out)]) == 0
    mesh = load_mesh(out)
    assert (mesh.n_vertices, mesh.n_faces) == (42, 80)
    # flat icosahedron: all curvature at the 12 corners, pi/3 each
    defect = preprocess(mesh).angle_defect
    assert np.sum(np.abs(defect) > 1e-6) == 12
    np.testing.assert_allclose(np.sort(defect)[-12:], np.pi / 3, atol=1e-5)


def test_shape_mobius_npz_keeps_the_flat_metric(tmp_path, capsys):
    obj, npz = tmp_path / "m.obj", tmp_path / "m.npz"
    assert main(["shape", "mobius", "-o", str(obj)]) == 0
    assert "embedded (curved) metric" in capsys.readouterr().err
    assert main(["shape", "mobius", "-o", str(npz)]) == 0
    flat = load_geometry(npz)
    curved = preprocess(load_mesh(obj))
    assert flat.structure_group == curved.structure_group == "O2"
    assert np.max(np.abs(flat.angle_defect)) < 1e-9  # intrinsically flat
    assert np.max(np.abs(curved.angle_defect)) > 1e-3  # the embedding bends it


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["shape", "torus", "-o", "t.xyz"], r"unsupported output type \.xyz"),
        (["shape", "mobius", "--n-length", "2", "-o", "m.obj"], r"error: mobius: --n-length must be an integer >= 3,"),
        (
            ["shape", "icosahedron", "--level", "-1", "-o", "i.obj"],
            r"error: icosahedron: --level must be an integer >= 0, got -1",
        ),
        (["shape", "cube", "-o", "c.obj"], r"invalid choice: 'cube'"),
        (["preprocess", "x.obj"], r"one of the arguments -o/--output --cache is required"),
        (["preprocess", "x.obj", "-o", "y.npz", "--workers", "0"], r"expected a positive integer"),
        (["frobnicate"], r"invalid choice"),
        ([], r"required: COMMAND"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, monkeypatch, argv, pattern):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(pattern, err) and "Traceback" not in err
    assert os.listdir(tmp_path) == []


def test_help_and_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("gaugeconv ")
    assert main(["preprocess", "--help"]) == 0
    assert "--shard K/N" in capsys.readouterr().out


def test_console_script_and_module_subprocess(tmp_path):
    """The installed entry point and ``python -m gaugeconv`` run end to end."""
    script = os.path.join(os.path.dirname(sys.executable), "gaugeconv")
    out = tmp_path / "ico.obj"
    made = subprocess.run(
        [script, "shape", "icosahedron", "--level", "1", "-o", str(out)], capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    result = subprocess.run(
        [sys.executable, "-m", "gaugeconv", "preprocess", str(out), "-o", str(tmp_path / "ico.npz")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert SUMMARY.match(result.stdout.strip())
    assert load_geometry(tmp_path / "ico.npz").n_vertices == 42


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_on_a_terminal(tmp_path, monkeypatch, capsys, corpus):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["preprocess", *corpus[:2], "-o", str(tmp_path / "a")]) == 0
    assert "2/2 [" in terminal.getvalue()  # tqdm's counter
    quiet = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert main(["preprocess", *corpus[:2], "-o", str(tmp_path / "b"), "--quiet"]) == 0
    assert quiet.getvalue() == ""


def test_levels_count_is_part_of_up_to_date(tmp_path, capsys, corpus):
    src, out = corpus[2], tmp_path / "ico2.npz"  # ico2.ply, 162 vertices
    assert main(["preprocess", src, "-o", str(out)]) == 0
    assert is_up_to_date(src, out) and not is_up_to_date(src, out, PreprocessOptions(levels=1))
    capsys.readouterr()
    assert main(["preprocess", src, "-o", str(out), "--levels", "1"]) == 0
    assert "up to date" not in capsys.readouterr().out
    loaded = load_geometry(out)
    assert len(loaded.levels) == 1 and 0 < loaded.levels[0].n_vertices < loaded.n_vertices
    assert is_up_to_date(src, out, PreprocessOptions(levels=1))


def test_radius_and_coarsening_flags_and_their_up_to_date_check(tmp_path, capsys):
    src, out = tmp_path / "ico2.obj", tmp_path / "ico2.npz"
    save_mesh(shapes.icosahedron(2), src)
    argv = ["preprocess", str(src), "-o", str(out), "--levels", "1", "--coarsening", "subdivision"]
    assert main([*argv, "--radius", "1.5"]) == 0
    g = load_geometry(out)
    assert g.radius > 0 and g.levels[0].coarsening == "subdivision" and g.levels[0].n_vertices == 42
    assert g.options["radius"] == 1.5 and g.options["coarsening"] == "subdivision"
    assert main([*argv, "--radius", "1.5"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert main(argv) == 0  # one-ring edges asked for now: recomputed
    assert "up to date" not in capsys.readouterr().out and load_geometry(out).radius == 0.0
    assert main([*argv, "--radius", "0"]) == 2
    assert "radius must be None or a positive number" in capsys.readouterr().err
