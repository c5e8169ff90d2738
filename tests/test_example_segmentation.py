"""examples/segmentation.py's data path: remeshed ants with transferred labels as a MeshDataset,
batched by collate."""

import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def test_remeshed_ants_as_a_dataset_and_a_batch():
    spec = importlib.util.spec_from_file_location("segmentation", ROOT / "examples" / "segmentation.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    base, labels = example.load_ant()
    data = example.make_set(base, labels, 2, np.random.default_rng(0), rotate=False, levels=1)
    example.normalise([data])
    sizes = [data.geometry(i).n_vertices for i in range(2)]
    assert all(1000 < n < 3000 for n in sizes)
    for i in range(2):
        y = data[i].y
        assert y.shape == (sizes[i],) and set(np.unique(y)) == set(range(len(example.CLASSES)))
    batch = example.batch(data)
    assert batch["x_gauge"].shape == (sum(sizes), 6) and batch["x_iso"].shape == (sum(sizes), 4)
    assert batch["y"].shape == (sum(sizes),) and len(batch["geometry"].levels) == 1
    np.testing.assert_allclose(batch["x_gauge"][:, 0].numpy(), 1.0)  # the constant column, scale 1
