"""examples/correspondence.py: the stand-in figure and its poses, and a quick run of the pipeline."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from pictures import check_in_frame, read_png

from gaugeconv import preprocess

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("correspondence", ROOT / "examples" / "correspondence.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def template(example):
    return example.figure_template()


def test_template_is_one_closed_sphere_with_3000_vertices_or_more(template):
    g = preprocess(template)
    assert g.n_vertices >= 3000
    assert (g.n_components, g.euler_characteristic, g.n_boundary_loops, g.orientable) == (1, 2, 0, True)
    p = template.vertices[template.faces]
    normals = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert np.einsum("fd,fd->f", normals, p.mean(1)).sum() > 0  # faces oriented outwards (positive volume)
    # limbs: the figure spans about 2.3 across the arms and 2.6 from head to feet
    extent = np.ptp(template.vertices, axis=0)
    assert extent[0] > 2.0 and extent[2] > 2.3 and extent[1] < 0.8


def test_poses_are_near_isometric_and_varied(example, template):
    meshes = example.standin_meshes(template, 3, seed=4, rotate=False)
    edges = np.concatenate([template.faces[:, [0, 1]], template.faces[:, [1, 2]], template.faces[:, [2, 0]]])
    length = lambda v: np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)  # noqa: E731
    base = length(template.vertices)
    for mesh in meshes:
        np.testing.assert_array_equal(mesh.faces, template.faces)  # one connectivity: vertex i <-> vertex i
        stretch = np.abs(length(mesh.vertices) / base - 1)
        assert np.median(stretch) < 0.04 and np.percentile(stretch, 95) < 0.2
        assert np.abs(mesh.vertices - template.vertices).max() > 0.2  # the limbs moved
    rotated = example.standin_meshes(template, 3, seed=4, rotate=True)
    for a, b in zip(meshes, rotated):  # the same poses, rotated: all distances kept
        i, j = np.arange(0, a.n_vertices, 97), np.arange(5, a.n_vertices, 97)[: len(np.arange(0, a.n_vertices, 97))]
        i = i[: len(j)]
        np.testing.assert_allclose(
            np.linalg.norm(a.vertices[i] - a.vertices[j], axis=1), np.linalg.norm(b.vertices[i] - b.vertices[j], axis=1)
        )


def test_quick_run_prints_the_table_and_draws_the_matches(example, capsys, tmp_path):
    picture = tmp_path / "matches.png"
    assert example.main(["--quick", "--threads", "1", "--picture", str(picture)]) == 0
    out = capsys.readouterr().out
    pixels = read_png(picture)
    width = pixels.shape[1] // 3
    for k in range(3):  # true match, predicted match, error: each panel shows the shape
        check_in_frame(pixels, (slice(0, int(0.75 * pixels.shape[0])), slice(k * width + 1, (k + 1) * width - 1)))
    rows = re.findall(r"^\| (gauge|isotropic) \| (intrinsic|xyz) \| \d+ \| \d+ \|((?: [01]\.\d{3} \|){6})$", out, re.M)
    assert len(rows) == 4, out
    assert "acc@0 test | acc@0 test rotated" in out


def test_missing_faust_root_is_one_line_exit_2(example, tmp_path, capsys):
    assert example.main(["--root", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "FAUST not found" in out and "faust.is.tue.mpg.de" in out
