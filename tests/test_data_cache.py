"""The preprocessing cache of gaugeconv.data: keys, reuse, rebuilding of bad entries, concurrency."""

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from meshfiles import write_obj

from gaugeconv import FORMAT_VERSION, PreprocessOptions, load_geometry, load_mesh, preprocess, shapes
from gaugeconv.data import MeshDataset, cache_key, cache_path, load_or_build, preprocess_to_cache


@pytest.fixture
def mesh_file(tmp_path):
    return write_obj(tmp_path / "sphere.obj", shapes.icosahedron(2))


def assert_same_geometry(a, b):
    assert a.n_vertices == b.n_vertices and len(a.levels) == len(b.levels)
    for name in ("edge_index", "log_r", "log_theta", "transport_angle", "vertex_area"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_force_rebuilds_a_valid_entry(tmp_path, mesh_file):
    path, built = preprocess_to_cache(mesh_file, tmp_path, PreprocessOptions(levels=1))
    assert built and not preprocess_to_cache(mesh_file, tmp_path, PreprocessOptions(levels=1))[1]
    before = path.stat().st_mtime_ns
    again, built = preprocess_to_cache(mesh_file, tmp_path, PreprocessOptions(levels=1), force=True)
    assert again == path and built and path.stat().st_mtime_ns >= before
    assert_same_geometry(load_geometry(path), preprocess(load_mesh(mesh_file), levels=1))


def test_key_depends_on_content_and_options_not_on_the_name(tmp_path, mesh_file):
    copy = tmp_path / "renamed.obj"
    copy.write_bytes(mesh_file.read_bytes())
    base = cache_key(mesh_file)
    assert cache_key(copy) == base
    assert cache_key(mesh_file, PreprocessOptions(levels=1)) != base
    assert cache_key(mesh_file, PreprocessOptions(ratio=3.0)) != base
    assert cache_key(mesh_file, PreprocessOptions(repair=True)) != base
    write_obj(copy, shapes.icosahedron(1))
    assert cache_key(copy) != base
    mesh = load_mesh(mesh_file)
    assert cache_key(mesh) != base and cache_key(mesh) == cache_key(load_mesh(mesh_file))


def test_entry_is_built_once_and_equals_fresh_preprocessing(tmp_path, mesh_file):
    cache = tmp_path / "cache"
    options = PreprocessOptions(levels=1)
    first, built = load_or_build(mesh_file, cache, options)
    assert built and cache_path(mesh_file, cache, options).is_file()
    second, built = load_or_build(mesh_file, cache, options)
    assert not built
    assert_same_geometry(second, preprocess(load_mesh(mesh_file), levels=1))
    assert_same_geometry(first, second)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped byte", "wrong levels", "other format version"])
def test_bad_entries_are_rebuilt(tmp_path, mesh_file, damage):
    cache = tmp_path / "cache"
    options = PreprocessOptions(levels=1)
    good, _ = load_or_build(mesh_file, cache, options)
    path = cache_path(mesh_file, cache, options)
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a zip file")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":  # inside the stored arrays: the zip CRC catches it
        i = len(data) // 3
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif damage == "wrong levels":
        from gaugeconv import save_geometry

        save_geometry(preprocess(load_mesh(mesh_file)), path)
    else:
        text = data.replace(f'"version": {FORMAT_VERSION}'.encode(), b'"version": 999')
        assert text != data
        path.write_bytes(text)
    geometry, built = load_or_build(mesh_file, cache, options)
    assert built
    assert_same_geometry(geometry, good)
    assert_same_geometry(load_geometry(path), good)  # the entry on disk is whole again


def test_an_entry_of_another_mesh_is_not_trusted_for_a_mesh_object(tmp_path):
    a, b = shapes.icosahedron(1), shapes.icosahedron(2)
    cache = tmp_path / "cache"
    load_or_build(b, cache)
    os.replace(cache_path(b, cache), cache_path(a, cache))  # a foreign file under a's key
    geometry, built = load_or_build(a, cache)
    assert built and geometry.n_vertices == a.n_vertices


def test_invalid_mesh_writes_nothing(tmp_path):
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n")  # a degenerate face
    from gaugeconv import MeshError

    with pytest.raises(MeshError, match="degenerate"):
        load_or_build(bad, tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*.npz")) if (tmp_path / "cache").exists() else True


def _build_entry(args):
    path, cache = args
    return preprocess_to_cache(path, cache, PreprocessOptions(levels=1))[1]


def test_concurrent_builders_leave_one_valid_entry(tmp_path, mesh_file):
    cache = tmp_path / "cache"
    with ProcessPoolExecutor(max_workers=2) as pool:
        built = list(pool.map(_build_entry, [(mesh_file, cache)] * 4))
    assert built[0] or any(built)
    entries = sorted(p.name for p in cache.iterdir())
    assert entries == [cache_path(mesh_file, cache, PreprocessOptions(levels=1)).name]  # no temporary left
    assert_same_geometry(load_geometry(cache / entries[0]), preprocess(load_mesh(mesh_file), levels=1))


def test_dataset_uses_the_cache_across_instances(tmp_path, mesh_file):
    cache = tmp_path / "cache"
    first = MeshDataset([mesh_file], levels=1, cache_dir=cache, inputs=("constant", "hks"))
    x = first[0].x
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2  # the geometry and its inputs
    stamps = {p: p.stat().st_mtime_ns for p in cache.iterdir()}
    second = MeshDataset([mesh_file], levels=1, cache_dir=cache, inputs=("constant", "hks"))
    np.testing.assert_array_equal(second[0].x, x)
    assert {p: p.stat().st_mtime_ns for p in cache.iterdir()} == stamps  # nothing rewritten
    inputs = next(p for p in cache.iterdir() if ".inputs-" in p.name)
    inputs.write_bytes(b"corrupt")
    np.testing.assert_array_equal(
        MeshDataset([mesh_file], levels=1, cache_dir=cache, inputs=("constant", "hks"))[0].x, x
    )


def test_prepare_with_a_process_pool_fills_the_cache(tmp_path):
    files = [write_obj(tmp_path / f"m{i}.obj", shapes.icosahedron(i)) for i in (1, 2)]
    cache = tmp_path / "cache"
    data = MeshDataset(files, levels=1, cache_dir=cache, inputs=("constant", "curvature"))
    assert data.prepare(workers=2) == 2
    for f in files:
        entry = cache_path(f, cache, PreprocessOptions(levels=1))
        assert_same_geometry(load_geometry(entry), preprocess(load_mesh(f), levels=1))
    assert len(list(cache.glob("*.inputs-*.npz"))) == 2
