"""The command line as a process: Ctrl-C, a reader that goes away (``| head``), file names that
are not UTF-8. Each test runs ``python -m gaugeconv`` in its own process group."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from gaugeconv import load_geometry, load_mesh, save_mesh, shapes

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")


def _default_sigint() -> None:
    """In the child before exec: SIGINT at its default, as in a terminal. A test run started in the
    background by a shell without job control (``pytest &`` in a script) inherits SIGINT ignored,
    and so would every child, which then never sees the Ctrl-C these tests send."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _gaugeconv(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "gaugeconv", *args],
        env=ENV, start_new_session=True, preexec_fn=_default_sigint, **kwargs,
    )  # fmt: skip


def _group_is_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Twelve meshes of 2562 vertices: long enough a batch to interrupt in the middle."""
    root = tmp_path_factory.mktemp("batch")
    mesh = shapes.icosahedron(4)
    paths = []
    for i in range(12):
        path = root / f"m{i:02d}.ply"
        save_mesh(mesh, path)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_is_one_line_exit_130_no_partial_file_no_workers_left(tmp_path, batch, workers):
    out = tmp_path / "out"
    process = _gaugeconv(
        "preprocess", *batch, "-o", str(out), "--levels", "2", "--workers", workers,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = process.stdout.readline()  # one mesh is done: the batch is under way
    assert first.startswith(batch[0]), first
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    out_text, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == "gaugeconv: interrupted"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert _group_is_gone(process.pid)  # no worker process outlives the command
    written = sorted(os.listdir(out))
    assert not [name for name in written if not name.endswith(".npz") or name.startswith(".tmp")]
    assert 1 <= len(written) < len(batch)  # stopped in the middle
    for name in written:  # every file that exists is complete
        assert load_geometry(out / name).n_vertices == 2562


def test_reader_going_away_does_not_stop_the_batch(tmp_path, batch):
    out = tmp_path / "out"
    process = _gaugeconv("preprocess", *batch[:6], "-o", str(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()  # like `| head -1`: read one line, then close the pipe
    process.stdout.close()
    _, err = process.communicate(timeout=120)  # reads stderr to the end and closes it
    err = err.decode()
    assert process.returncode == 0, err
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err
    assert len(os.listdir(out)) == 6


def test_file_names_that_are_not_utf8(tmp_path):
    """A name with the byte 0xe9 (latin-1 e-acute): read, reported and written, in Python and the CLI."""
    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9.obj"
    name = os.fsdecode(raw)
    save_mesh(shapes.icosahedron(1), name)
    assert os.path.exists(raw)
    for given in (name, raw):
        mesh = load_mesh(given)
        assert mesh.n_vertices == 42 and mesh.name == os.path.basename(name)
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9.npz")
    result = subprocess.run(
        [sys.executable, "-m", "gaugeconv", "preprocess", raw, "-o", os.fsencode(out)],
        env=dict(ENV, PYTHONIOENCODING="utf-8"), capture_output=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert b"caf\\udce9.obj: 42 vertices" in result.stdout  # the undecodable byte shown as an escape
    np.testing.assert_array_equal(load_geometry(out).vertices, load_mesh(name).vertices)
    missing = os.fsencode(str(tmp_path)) + b"/\xff\xfe.obj"
    result = subprocess.run(
        [sys.executable, "-m", "gaugeconv", "info", missing], env=ENV, capture_output=True, check=False
    )
    assert result.returncode == 2 and result.stderr.count(b"\n") == 1 and b"no such file" in result.stderr
