"""Geometry files: exact round trip, no pickle, version check, atomic writes, the mesh hash."""

import json
import os
import pathlib
import re
from dataclasses import replace

import numpy as np
import pytest

from gaugeconv import (
    FORMAT_VERSION,
    GeometryFileError,
    load_geometry,
    load_mesh,
    make_mesh,
    preprocess,
    save_geometry,
    shapes,
)
from gaugeconv.buffers import geometry_fields
from gaugeconv.cli import main
from gaugeconv.fileformat import read_header

SCALARS = (
    "orientable",
    "structure_group",
    "n_components",
    "n_boundary_loops",
    "euler_characteristic",
    "mesh_hash",
    "name",
)


@pytest.fixture(scope="module")
def mobius_geometry():
    return preprocess(shapes.mobius(n_length=12, n_width=4))


def _arrays(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _rewrite(path, arrays, header=None, allow_pickle=False):
    if header is not None:
        arrays = dict(arrays, __header__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    with open(path, "wb") as fh:
        if allow_pickle:
            np.savez(fh, allow_pickle=True, **arrays)
        else:
            np.savez(fh, **arrays)


@pytest.mark.parametrize("make", [lambda: shapes.mobius(n_length=12, n_width=4), lambda: shapes.disc(n_rings=3)])
def test_round_trip_every_array_equal(tmp_path, make):
    geometry = preprocess(make())
    path = tmp_path / "g.npz"
    save_geometry(geometry, path)
    loaded = load_geometry(path)
    for name in geometry_fields():
        original, back = getattr(geometry, name), getattr(loaded, name)
        assert back.dtype == original.dtype, name
        np.testing.assert_array_equal(back, original, err_msg=name)
    for name in SCALARS:
        assert getattr(loaded, name) == getattr(geometry, name), name


def test_round_trip_keeps_flips_and_group(tmp_path, mobius_geometry):
    path = tmp_path / "m.npz"
    save_geometry(mobius_geometry, path)
    loaded = load_geometry(path)
    assert loaded.structure_group == "O2" and loaded.orientable is False
    assert loaded.transport_flip.any()


class _Payload:
    """Unpickling this object would create a file: proof that a loader unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_object_array_rejected_without_unpickling(tmp_path, mobius_geometry):
    path = tmp_path / "g.npz"
    save_geometry(mobius_geometry, path)
    arrays = _arrays(path)
    marker = tmp_path / "unpickled"
    payload = np.empty(mobius_geometry.n_edges, dtype=object)
    payload[:] = [_Payload(str(marker))] * mobius_geometry.n_edges
    arrays["log_r"] = payload
    _rewrite(path, arrays, allow_pickle=True)
    with pytest.raises(GeometryFileError, match=r"cannot read"):
        load_geometry(path)
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as data:  # control: the payload is live when unpickled
        data["log_r"]
    assert marker.exists()


def test_version_mismatch_rejected_with_clear_message(tmp_path, mobius_geometry):
    path = tmp_path / "old.npz"
    save_geometry(mobius_geometry, path)
    arrays = _arrays(path)
    header = json.loads(bytes(arrays.pop("__header__")).decode())
    assert header["version"] == FORMAT_VERSION
    header["version"] = FORMAT_VERSION + 998
    _rewrite(path, arrays, header)
    expected = rf"format version {FORMAT_VERSION + 998}, this gaugeconv reads version {FORMAT_VERSION}; preprocess"
    with pytest.raises(GeometryFileError, match=expected):
        load_geometry(path)


@pytest.mark.parametrize(
    "change, pattern",
    [
        (lambda a, h: (a, None), r"no header"),
        (lambda a, h: (a, dict(h, format="something.else")), r"not a gaugeconv geometry file"),
        (lambda a, h: ({k: v for k, v in a.items() if k != "log_theta"}, h), r"missing arrays log_theta"),
        (lambda a, h: (dict(a, log_r=a["log_r"][:-1]), h), r"array log_r has shape"),
        (lambda a, h: (dict(a, edge_index=a["edge_index"] + 10**6), h), r"edge_index out of range"),
    ],
    ids=["no-header", "other-format", "missing-array", "wrong-shape", "bad-index"],
)
def test_malformed_files_rejected(tmp_path, mobius_geometry, change, pattern):
    path = tmp_path / "bad.npz"
    save_geometry(mobius_geometry, path)
    arrays = _arrays(path)
    header = json.loads(bytes(arrays.pop("__header__")).decode())
    arrays, header = change(arrays, header)
    _rewrite(path, arrays, header)
    with pytest.raises(GeometryFileError, match=pattern):
        load_geometry(path)


def test_not_a_zip_rejected(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("not an npz file")
    with pytest.raises(GeometryFileError, match=r"text.npz: cannot read"):
        load_geometry(path)


def test_atomic_write_leaves_only_the_file(tmp_path, mobius_geometry):
    save_geometry(mobius_geometry, tmp_path / "g.npz")
    save_geometry(mobius_geometry, tmp_path / "g.npz")  # overwrite
    assert os.listdir(tmp_path) == ["g.npz"]


def test_failed_write_keeps_old_file_and_no_temp(tmp_path, mobius_geometry, monkeypatch):
    path = tmp_path / "g.npz"
    save_geometry(mobius_geometry, path)
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    other = preprocess(shapes.disc(n_rings=2))
    with pytest.raises(OSError, match="disk full"):
        save_geometry(other, path)
    assert os.listdir(tmp_path) == ["g.npz"]
    assert path.read_bytes() == before


def test_mesh_hash_stored_and_sensitive(tmp_path):
    mesh = shapes.disc(n_rings=3)
    geometry = preprocess(mesh)
    path = tmp_path / "d.npz"
    save_geometry(geometry, path)
    stored = load_geometry(path).mesh_hash
    assert stored == mesh.hash and len(stored) == 64 and int(stored, 16) >= 0
    assert read_header(path)["mesh_hash"] == stored
    moved = np.array(mesh.vertices)
    moved[0, 0] += 1e-12
    assert make_mesh(moved, mesh.faces).hash != stored


def test_cli_output_header_names_its_mesh(tmp_path, capsys):
    src = tmp_path / "ico.obj"
    assert main(["shape", "icosahedron", "--level", "1", "-o", str(src)]) == 0
    out = tmp_path / "ico.npz"
    assert main(["preprocess", str(src), "-o", str(out)]) == 0
    header = read_header(out)
    assert header["format"] == "gaugeconv.geometry" and header["version"] == FORMAT_VERSION
    assert header["mesh_hash"] == load_mesh(src).hash
    assert header["name"] == "ico.obj"


# --------------------------------------------------------------------------- values checked on load
def _with_levels():
    return preprocess(shapes.icosahedron(2), levels=1)


def _poke(name, index, value):
    """A change that writes ``value`` at ``index`` of array ``name`` (as stored)."""

    def change(arrays, header):
        array = np.array(arrays[name])
        array[index] = value
        return dict(arrays, **{name: array}), header

    return change


def _retype(name, dtype):
    return lambda a, h: (dict(a, **{name: a[name].astype(dtype)}), h)


def _header_entry(key, value):
    return lambda a, h: (a, dict(h, **{key: value}))


VALUE_CASES = [
    ("nan-log_r", _poke("log_r", 3, np.nan), r"array log_r holds NaN or infinite values; preprocess the mesh again"),
    ("inf-frames", _poke("frames", (0, 0, 0), np.inf), r"array frames holds NaN or infinite"),
    ("nan-level", _poke("level1/transport_angle", 0, np.nan), r"level 1: array transport_angle holds NaN"),
    ("nan-pool", _poke("pool1/log_theta", 0, np.nan), r"pool 1: array log_theta holds NaN"),
    ("negative-face", _poke("faces", (2, 1), -1), r"faces out of range \[0, 162\)"),
    ("face-too-large", _poke("faces", (0, 0), 162), r"faces out of range"),
    ("negative-log_r", _poke("log_r", 0, -1.0), r"array log_r has negative values"),
    ("negative-area", _poke("vertex_area", 0, -1.0), r"array vertex_area has negative values"),
    ("negative-source", _poke("source_index", 5, -3), r"array source_index has negative values"),
    ("pool-index", _poke("pool1/index", (1, 0), 10**6), r"pool index out of range"),
    ("complex-log_r", _retype("log_r", np.complex128), r"array log_r has dtype complex128, expected float64"),
    ("float-edges", _retype("edge_index", np.float64), r"array edge_index has dtype float64, expected int64"),
    ("int-flips", _retype("transport_flip", np.int64), r"array transport_flip has dtype int64, expected bool"),
    ("text-name", _retype("vertex_area", "U3"), r"array vertex_area has dtype <U3"),
    ("header-list", lambda a, h: (a, [h]), r"not a gaugeconv geometry file"),
    ("header-number", lambda a, h: (a, 3), r"not a gaugeconv geometry file"),
    ("group", _header_entry("structure_group", "SO3"), r"'structure_group' must be 'SO2' or 'O2'"),
    ("orientable", _header_entry("orientable", "yes"), r"header entry 'orientable' must be true or false, got 'yes'"),
    ("count", _header_entry("n_components", True), r"header entry 'n_components' must be an integer, got True"),
    ("graph-sizes", _header_entry("graph_sizes", [100, 100]), r"'graph_sizes' add up to 200, not 162"),
    ("levels", _header_entry("levels", {"a": 1}), r"header entry 'levels' must be a list of objects"),
]


@pytest.mark.parametrize("change, pattern", [c[1:] for c in VALUE_CASES], ids=[c[0] for c in VALUE_CASES])
def test_values_are_checked_on_load(tmp_path, capsys, change, pattern):
    path = tmp_path / "bad.npz"
    save_geometry(_with_levels(), path)
    arrays = _arrays(path)
    header = json.loads(bytes(arrays.pop("__header__")).decode())
    arrays, header = change(arrays, header)
    _rewrite(path, arrays, header)
    with pytest.raises(GeometryFileError, match=pattern) as info:
        load_geometry(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{path}: ")
    for command in (["info", str(path)], ["render", str(path), "-o", str(tmp_path / "p.png")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(pattern, err) and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["bad.npz"]


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe", b'{"format": '])
def test_header_that_is_not_json(tmp_path, raw):
    path = tmp_path / "bad.npz"
    save_geometry(preprocess(shapes.icosahedron(0)), path)
    arrays = dict(_arrays(path), __header__=np.frombuffer(raw, dtype=np.uint8))
    _rewrite(path, arrays)
    with pytest.raises(GeometryFileError, match=r"not a gaugeconv geometry file \(the header is not JSON\)"):
        load_geometry(path)


def test_a_clean_file_passes_every_check(tmp_path):
    geometry = _with_levels()
    save_geometry(geometry, tmp_path / "g.npz")
    loaded = load_geometry(tmp_path / "g.npz")
    assert len(loaded.levels) == 1 and loaded.n_vertices == 162  # the control for the cases above


@pytest.mark.parametrize("name", ["log_r", "vertex_area", "frames"])
def test_nan_is_never_written(tmp_path, name):
    geometry = _with_levels()
    path = tmp_path / "g.npz"
    save_geometry(geometry, path)
    before = path.read_bytes()
    array = np.array(getattr(geometry, name))
    array.reshape(-1)[0] = np.nan
    with pytest.raises(GeometryFileError, match=rf"g.npz: not written: array {name} holds 1 NaN or infinite values"):
        save_geometry(replace(geometry, **{name: array}), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["g.npz"]
    level = replace(geometry.levels[0], log_r=np.full_like(geometry.levels[0].log_r, np.inf))
    with pytest.raises(GeometryFileError, match=r"array level1/log_r holds"):
        save_geometry(replace(geometry, levels=(level,)), tmp_path / "other.npz")
    assert os.listdir(tmp_path) == ["g.npz"]


def test_paths_as_bytes_and_path_objects(tmp_path):
    geometry = preprocess(shapes.icosahedron(0))
    save_geometry(geometry, os.fsencode(str(tmp_path / "b.npz")))
    assert load_geometry(os.fsencode(str(tmp_path / "b.npz"))).n_vertices == 12
    assert load_geometry(tmp_path / "b.npz").n_vertices == 12
    with pytest.raises(GeometryFileError, match="a path must be a str, bytes or os.PathLike, got int"):
        load_geometry(3)
