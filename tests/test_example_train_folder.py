"""The README's path for a user's own folder of meshes: preprocess into the cache (what
``gaugeconv preprocess --cache`` does), then examples/train_folder.py for a few steps."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from meshfiles import write_obj

from gaugeconv import PreprocessOptions, shapes
from gaugeconv.cli import main as gaugeconv
from gaugeconv.data import cache_path

ROOT = Path(__file__).resolve().parents[1]


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def user_folder(tmp_path):
    """Five meshes of varied size and shape; per-vertex labels: upper or lower half."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "my_meshes"
    meshes = [shapes.icosahedron(2), shapes.icosahedron(1), shapes.torus(n_major=12, n_minor=6)]
    meshes += [shapes.cylinder(n_around=10, n_height=5), shapes.icosahedron(2)]
    labels = {}
    for i, mesh in enumerate(meshes):
        vertices = mesh.vertices * rng.uniform(0.8, 1.2, 3)
        write_obj(folder / f"shape_{i}.obj", mesh, vertices)
        labels[f"shape_{i}"] = (vertices[:, 2] > 0).astype(np.int64)
    np.savez(folder / "labels.npz", __kind__="vertex", **labels)
    return folder


def test_preprocess_into_cache_then_train(user_folder, tmp_path, capsys):
    cache = tmp_path / "cache"
    files = sorted(user_folder.glob("*.obj"))
    command = ["preprocess", *map(str, files), "--cache", str(cache), "--levels", "1", "--workers", "2"]
    assert gaugeconv(command) == 0
    assert "5 preprocessed, 0 up to date, 0 failed" in capsys.readouterr().err
    assert gaugeconv(command) == 0  # the second time every entry is up to date
    assert "0 preprocessed, 5 up to date, 0 failed" in capsys.readouterr().err
    entries = {f: cache_path(f, cache, PreprocessOptions(levels=1)) for f in files}
    stamps = {f: p.stat().st_mtime_ns for f, p in entries.items()}
    example = load_example("train_folder")
    argv = [str(user_folder), "--labels", str(user_folder / "labels.npz"), "--cache", str(cache), "--levels", "1"]
    assert example.main(argv + ["--steps", "3", "--batch-size", "2", "--test-share", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "5 meshes (3 train, 2 test), per-vertex labels, 2 classes" in out
    assert re.search(r"\| train \| 3 \| [01]\.\d{3} \|", out) and re.search(r"\| test \| 2 \| [01]\.\d{3} \|", out)
    assert {f: p.stat().st_mtime_ns for f, p in entries.items()} == stamps  # the cached geometries were used


def test_bad_labels_file_is_one_line_exit_2(user_folder, capsys):
    (user_folder / "labels.csv").write_text("shape_0,1\n")
    example = load_example("train_folder")
    assert example.main([str(user_folder), "--labels", str(user_folder / "labels.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no labels for 4 meshes" in err
