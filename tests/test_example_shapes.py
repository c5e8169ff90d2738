"""Smoke checks of examples/shape_classification.py: the dataset generator, the models, a tiny run."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gaugeconv import Geometry, preprocess
from gaugeconv.testing import check_gauge_equivariance, identity_transporters

ROOT = Path(__file__).resolve().parents[1]

# class -> (Euler characteristic, boundary loops, orientable)
TOPOLOGY = {
    "sphere": (2, 0, True),
    "torus": (0, 0, True),
    "cylinder": (0, 2, True),
    "disc": (1, 1, True),
    "mobius": (0, 1, False),
    "box": (2, 0, True),
    "capsule": (2, 0, True),
    "cone": (2, 0, True),
}


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("shape_classification", ROOT / "examples" / "shape_classification.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_topology_table_covers_the_classes(example):
    assert set(TOPOLOGY) == set(example.CLASSES)


@pytest.mark.parametrize("name", sorted(TOPOLOGY))
def test_samples_are_valid_meshes_of_their_topology(example, name):
    rng = np.random.default_rng(3)
    sizes = []
    for _ in range(2):
        geometry = preprocess(example.make_sample(name, rng, rotate=True))
        chi, loops, orientable = TOPOLOGY[name]
        assert (geometry.euler_characteristic, geometry.n_boundary_loops, geometry.orientable) == (
            chi,
            loops,
            orientable,
        )
        assert geometry.n_components == 1
        assert np.isclose(geometry.angle_defect.sum(), 2 * np.pi * chi, atol=1e-8)
        sizes.append(geometry.n_vertices)
    assert all(100 <= n <= 600 for n in sizes), sizes


def test_dataset_is_deterministic_and_varied(example):
    a, labels_a = example.make_dataset(2, seed=5, rotate=True)
    b, labels_b = example.make_dataset(2, seed=5, rotate=True)
    assert np.array_equal(labels_a, labels_b) and np.array_equal(labels_a, np.repeat(np.arange(8), 2))
    for m, n in zip(a, b):
        assert np.array_equal(m.vertices, n.vertices) and np.array_equal(m.faces, n.faces)
    # remeshing varies the connectivity: two samples of a class differ in size or faces
    for i in range(0, len(a), 2):
        assert len(a[i].vertices) != len(a[i + 1].vertices) or not np.array_equal(a[i].faces, a[i + 1].faces)


@pytest.mark.parametrize("name", ["torus", "mobius"])
def test_inputs_are_rotation_invariant_and_xyz_is_not(example, name):
    plain = preprocess(example.make_sample(name, np.random.default_rng(7), rotate=False))
    rotated = preprocess(example.make_sample(name, np.random.default_rng(7), rotate=True))
    assert not np.allclose(plain.vertices, rotated.vertices)
    assert np.abs(example.intrinsic_features(plain) - example.intrinsic_features(rotated)).max() < 1e-10
    assert np.abs(example.xyz_features(plain) - example.xyz_features(rotated)).max() > 0.1
    assert np.isfinite(example.intrinsic_features(plain)).all()


def test_isotropic_conv_is_the_mean_over_neighbours(example):
    geometry = preprocess(example.make_sample("disc", np.random.default_rng(0), rotate=False))
    g = geometry.to_torch(torch.float64)
    conv = example.IsotropicConv(3, 2).double()
    x = torch.randn(geometry.n_vertices, 3, dtype=torch.float64)
    adjacency = np.zeros((geometry.n_vertices, geometry.n_vertices))
    adjacency[geometry.edge_index[1], geometry.edge_index[0]] = 1.0
    mean = torch.as_tensor(adjacency / adjacency.sum(1, keepdims=True)) @ x
    expected = conv.self_lin(x) + conv.nb_lin(mean)
    assert torch.allclose(conv(x, g), expected, atol=1e-12)


def test_gauge_network_is_gauge_invariant_on_a_batch(example):
    from gaugeconv import FieldType

    rng = np.random.default_rng(1)
    batch = Geometry.batch([preprocess(example.make_sample(n, rng, rotate=True)) for n in ("mobius", "disc")])
    hidden = FieldType("2x0 + 2x1 + 2x2", group="O2")
    torch.manual_seed(0)
    model = example.gauge_network(4, hidden, depth=1, n_classes=8, head_width=8).double().eval()
    for p in model.parameters():  # random non-zero biases and batch-norm statistics too
        torch.nn.init.normal_(p, std=0.5)
    in_type = FieldType("4x0", group="O2")
    with torch.no_grad():
        logits = model(torch.randn(batch.n_vertices, 4, dtype=torch.float64), batch.to_torch(torch.float64))
    assert logits.shape == (2, 8)
    assert check_gauge_equivariance(model, batch, in_type, None, trials=1) < 1e-10
    broken = check_gauge_equivariance(model, batch, in_type, None, trials=1, corrupt=identity_transporters)
    assert broken > 1e-4  # negative control: with identity transporters the same check fails


@pytest.fixture
def torch_globals():
    """main() sets torch's thread count and deterministic mode: restore them for the other tests."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def test_tiny_run_prints_the_table(example, capsys, torch_globals):
    example.main(
        ["--per-class", "2", "--test-per-class", "1", "--epochs", "1", "--multiplicity", "2", "--check-meshes", "2"]
    )
    out = capsys.readouterr().out
    assert "| model | inputs | params | train acc | test acc (rotated) |" in out
    rows = re.findall(r"^\| (gauge|isotropic) \| (\w+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|", out, re.M)
    assert [(r[0], r[1]) for r in rows] == [
        ("gauge", "intrinsic"),
        ("isotropic", "intrinsic"),
        ("isotropic", "xyz"),
        ("gauge", "constant"),
        ("isotropic", "constant"),
    ]
    params = [int(r[2]) for r in rows]
    assert params[1] <= params[0] and params[4] <= params[3]  # baselines within the gauge network's budget
    assert all(0.0 <= float(r[4]) <= 1.0 for r in rows)
