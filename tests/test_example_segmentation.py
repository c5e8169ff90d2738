"""examples/segmentation.py's data path: remeshed ants with transferred labels as a MeshDataset,
batched by collate."""

import importlib.util
from pathlib import Path

import numpy as np
from pictures import check_in_frame, read_png

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


def test_the_picture_of_predictions_against_the_truth(tmp_path):
    spec = importlib.util.spec_from_file_location("segmentation", ROOT / "examples" / "segmentation.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    base, labels = example.load_ant()
    data = example.make_set(base, labels, 1, np.random.default_rng(1), rotate=True, levels=1)
    example.normalise([data])
    model, key = example.make_models(1)["gauge-flat"]
    picture = tmp_path / "segmentation.png"
    correct = example.write_picture(picture, model, key, "untrained", data)
    assert 0 <= correct <= 1
    pixels = read_png(picture)
    width = pixels.shape[1] // 3
    for k in range(3):  # input, prediction, ground truth: each panel shows the ant
        check_in_frame(pixels, (slice(0, int(0.75 * pixels.shape[0])), slice(k * width + 1, (k + 1) * width - 1)))
    prediction, truth = pixels[:, width : 2 * width], pixels[:, 2 * width :]
    assert np.mean(np.any(prediction != truth, axis=2)) > 0.01  # an untrained model's labels differ
