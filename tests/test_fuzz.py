"""Fuzz: random corruptions of valid .obj, .ply and .npz files, over a fixed list of seeds.

Every corrupted file either loads to a valid result (a mesh that preprocesses into a file that
loads again, everything finite) or is refused with one line naming it: never a traceback, never
another exception type, never NaN in a written file.
"""

import io
import os
import warnings
import zipfile

import numpy as np
import pytest
import trimesh

from gaugeconv import GeometryFileError, MeshError, load_geometry, load_mesh, preprocess, save_geometry, shapes
from gaugeconv.cli import main

SEEDS = range(12)
CORRUPTIONS = ("truncate", "flip", "shuffle")


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Valid files: OBJ (absolute and relative indices), ASCII and binary PLY, a geometry .npz."""
    root = tmp_path_factory.mktemp("originals")
    mesh = shapes.icosahedron(1)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    files = {
        "obj": tm.export(file_type="obj", digits=12, include_normals=False).encode(),
        "ply-ascii": tm.export(file_type="ply", encoding="ascii"),
        "ply": tm.export(file_type="ply"),
    }
    relative = ["v %r %r %r" % tuple(v) for v in mesh.vertices.tolist()]
    n = mesh.n_vertices
    relative += ["f %d/%d %d/%d %d/%d" % (a, a, b, b, c, c) for a, b, c in (mesh.faces - n).tolist()]
    files["obj-relative"] = "\n".join(relative).encode() + b"\n"
    save_geometry(preprocess(mesh, levels=1), root / "g.npz")
    files["npz"] = (root / "g.npz").read_bytes()
    return files


def corrupt(data: bytes, how: str, rng: np.random.Generator) -> bytes:
    if how == "truncate":
        return data[: int(rng.integers(0, len(data)))]
    if how == "flip":
        out = bytearray(data)
        for position in rng.integers(0, len(out), int(rng.integers(1, 6))):
            out[position] = int(rng.integers(0, 256))
        return bytes(out)
    lines = data.split(b"\n")
    head = int(rng.integers(0, len(lines)))  # shuffle the lines after a random point
    tail = lines[head:]
    rng.shuffle(tail)
    return b"\n".join(lines[:head] + tail)


def _suffix(kind: str) -> str:
    return "." + kind.split("-")[0]


def _check_cli(argv, path, out):
    """Run the command line; return True if it succeeded. On failure: one line naming the file."""
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    lines = err.getvalue().strip().splitlines()
    assert "Traceback" not in err.getvalue()
    if status == 0:
        return True
    assert status == 2
    errors = [line for line in lines if line.startswith("gaugeconv: error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"gaugeconv: error: {path}: "), err.getvalue()
    assert out is None or not os.path.exists(out)
    return False


@pytest.mark.parametrize("how", CORRUPTIONS)
@pytest.mark.parametrize("kind", ["obj", "obj-relative", "ply-ascii", "ply"])
def test_corrupted_mesh_files(tmp_path, originals, kind, how):
    outcomes = []
    for seed in SEEDS:
        rng = np.random.default_rng([seed, CORRUPTIONS.index(how), len(kind)])
        path = str(tmp_path / f"{seed}{_suffix(kind)}")
        with open(path, "wb") as fh:
            fh.write(corrupt(originals[kind], how, rng))
        with warnings.catch_warnings(record=True) as caught:  # repairs are reported as warnings
            warnings.simplefilter("always")
            try:  # the Python API: a Mesh or one MeshError line, nothing else
                load_mesh(path, repair=True)
            except MeshError as exc:
                assert "\n" not in str(exc)
        assert all("\n" not in str(w.message) for w in caught)
        out = str(tmp_path / f"{seed}.npz")
        ok = _check_cli(["preprocess", "--repair", "-q", path, "-o", out], path, out)
        if ok:
            g = load_geometry(out)  # the written file passes every value check
            assert all(np.all(np.isfinite(getattr(g, n))) for n in ("log_r", "frames", "vertex_area"))
        outcomes.append(ok)
        assert sorted(f for f in os.listdir(tmp_path) if f.startswith(".tmp")) == []
    if how == "truncate" and kind == "ply":
        assert not any(outcomes)  # a binary file cut short is always refused


def _npz_with_corrupt_member(data: bytes, rng: np.random.Generator) -> bytes:
    """A valid zip whose members are corrupted inside (so the checks past the zip layer run)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        names = source.namelist()
        victims = set(rng.choice(len(names), size=2, replace=False).tolist())
        for i, name in enumerate(names):
            member = source.read(name)
            if i in victims:
                member = corrupt(member, ("flip", "truncate")[int(rng.integers(0, 2))], rng)
            target.writestr(name, member)
    return out.getvalue()


def _npz_with_wild_values(data: bytes, rng: np.random.Generator) -> bytes:
    """A well-formed geometry file whose numbers are not: a few entries of three arrays replaced
    by NaN, inf, negative or huge values."""
    with np.load(io.BytesIO(data)) as npz:
        arrays = {name: npz[name] for name in npz.files}
    names = [name for name in sorted(arrays) if name != "__header__" and arrays[name].dtype != bool]
    for name in rng.choice(names, size=3, replace=False):
        array = np.array(arrays[name])
        wild = [np.nan, np.inf, -np.inf, -1.0, 1e308] if array.dtype.kind == "f" else [-1, 2**40, 2**62]
        flat = array.reshape(-1)
        flat[rng.integers(0, flat.size, 2)] = rng.choice(wild)
        arrays[name] = array
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


@pytest.mark.parametrize("how", CORRUPTIONS + ("member", "values"))
def test_corrupted_geometry_files(tmp_path, originals, how):
    accepted = 0
    for seed in SEEDS:
        rng = np.random.default_rng([seed, 7])
        data = originals["npz"]
        if how == "member":
            data = _npz_with_corrupt_member(data, rng)
        elif how == "values":
            data = _npz_with_wild_values(data, rng)
        else:
            data = corrupt(data, how, rng)
        path = str(tmp_path / f"{seed}.npz")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            g = load_geometry(path)
        except GeometryFileError as exc:
            assert "\n" not in str(exc)
        else:
            accepted += 1
            for name in ("log_r", "log_theta", "frames", "transport_angle", "vertex_area", "angle_defect"):
                assert np.all(np.isfinite(getattr(g, name)))
            assert g.edge_index.min() >= 0 and g.edge_index.max() < g.n_vertices
        _check_cli(["info", path], path, None)
    if how in ("truncate", "member", "values"):
        assert accepted < len(SEEDS)  # the control: corruptions are noticed
