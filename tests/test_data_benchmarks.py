"""Benchmark readers on tiny fixture folders in each benchmark's own layout, built at run time."""

import numpy as np
import pytest
import trimesh
from meshfiles import write_obj, write_off

from gaugeconv import load_mesh, shapes
from gaugeconv.data import FAUST, SHREC11, DatasetNotFoundError, HumanSegmentation

BASE = shapes.icosahedron(1)  # 42 vertices, 80 faces


def write_ply(path, vertices, faces):
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.Trimesh(vertices, faces, process=False).export(path)
    return path


@pytest.fixture
def faust_root(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(100):
        vertices = BASE.vertices * rng.uniform(0.8, 1.2, 3)
        write_ply(tmp_path / f"MPI-FAUST/training/registrations/tr_reg_{i:03d}.ply", vertices, BASE.faces)
    return tmp_path


def test_faust_split_and_targets(faust_root):
    train = FAUST(faust_root, "train")
    test = FAUST(faust_root / "MPI-FAUST", "test")
    assert len(train) == 80 and len(test) == 20
    assert train.name(0) == "tr_reg_000.ply" and test.name(0) == "tr_reg_080.ply"
    sample = test[3]
    np.testing.assert_array_equal(sample.y, np.arange(42))
    assert sample.target_kind == "vertex" and sample.x.shape == (42, 3)  # xyz by default
    np.testing.assert_allclose(
        sample.x, load_mesh(faust_root / "MPI-FAUST/training/registrations/tr_reg_083.ply").vertices
    )
    assert len(FAUST(faust_root, "all")) == 100


def test_faust_missing_data_says_where_to_get_it(faust_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"FAUST not found under .*faust\.is\.tue\.mpg\.de.*licence"):
        FAUST(tmp_path / "nothing", "train")
    (faust_root / "MPI-FAUST/training/registrations/tr_reg_042.ply").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"tr_reg_042\.ply \(1 of 100 missing\)"):
        FAUST(faust_root, "test")
    with pytest.raises(ValueError, match="split must be one of"):
        FAUST(faust_root, "validation")


def write_cla(path, classes):
    lines = ["PSB 1", f"{len(classes)} {sum(len(m) for _, m in classes)}", ""]
    for name, models in classes:
        lines += [f"{name} 0 {len(models)}", *map(str, models), ""]
    path.write_text("\n".join(lines))


def test_shrec11_original_layout_split(tmp_path):
    classes = [("alien", [0, 1, 2, 3]), ("ants", [4, 5, 6, 7]), ("armadillo", [8, 9, 10, 11])]
    write_cla(tmp_path / "test.cla", classes)
    for model in range(12):
        write_off(tmp_path / f"T{model}.off", BASE.vertices * (1 + model / 10), BASE.faces)
    train = SHREC11(tmp_path, "train", train_per_class=3, seed=5)
    test = SHREC11(tmp_path, "test", train_per_class=3, seed=5)
    assert train.classes == ("alien", "ants", "armadillo")
    assert len(train) == 9 and len(test) == 3
    names = [train.name(i) for i in range(9)] + [test.name(i) for i in range(3)]
    assert sorted(names) == sorted(f"T{m}.off" for m in range(12))  # disjoint and complete
    labels = {train.name(i): int(train[i].y) for i in range(9)}
    assert all(labels[f"T{m}.off"] == m // 4 for m in range(12) if f"T{m}.off" in labels)
    again = SHREC11(tmp_path, "test", train_per_class=3, seed=5)
    assert [again.name(i) for i in range(3)] == [test.name(i) for i in range(3)]  # deterministic
    with pytest.raises(ValueError, match="train_per_class must be in 1..3"):
        SHREC11(tmp_path, "train", train_per_class=4)


def test_shrec11_meshcnn_layout(tmp_path):
    for name in ("gorilla", "alien"):
        for split, count in (("train", 3), ("test", 1)):
            (tmp_path / name / split).mkdir(parents=True)
            for i in range(count):
                write_obj(tmp_path / name / split / f"T{i}.obj", BASE)
    train = SHREC11(tmp_path, "train")
    assert train.classes == ("alien", "gorilla") and len(train) == 6
    assert [int(train[i].y) for i in range(6)] == [0, 0, 0, 1, 1, 1]
    assert len(SHREC11(tmp_path, "test")) == 2
    with pytest.raises(ValueError, match="not to MeshCNN's copy"):
        SHREC11(tmp_path, "train", train_per_class=10)
    with pytest.raises(DatasetNotFoundError, match="SHREC'11 not found"):
        SHREC11(tmp_path / "gorilla" / "train", "train")


@pytest.fixture
def human_root(tmp_path):
    root = tmp_path / "sig17_seg_benchmark"
    faces = BASE.faces
    labels = 1 + np.arange(len(faces)) % 8  # 1..8 in the files
    write_ply(root / "meshes/train/faust/tr_reg_000.ply", BASE.vertices, faces)
    write_ply(root / "meshes/train/faust/tr_reg_001.ply", BASE.vertices * 1.1, faces)
    (root / "segs/train/faust").mkdir(parents=True)
    np.savetxt(root / "segs/train/faust/faust_corrected.txt", labels, fmt="%d")
    write_off(root / "meshes/train/adobe/Armadillo.off", BASE.vertices, faces)
    (root / "segs/train/adobe").mkdir(parents=True)
    np.savetxt(root / "segs/train/adobe/Armadillo.txt", labels[::-1], fmt="%d")
    mit = root / "meshes/train/MIT_animation/meshes_crane/meshes"
    mit.mkdir(parents=True)
    write_obj(mit / "mesh_0000.obj", BASE)
    (root / "segs/train/mit").mkdir(parents=True)
    np.savetxt(root / "segs/train/mit/mit_crane_corrected.txt", np.roll(labels, 1), fmt="%d")
    write_off(root / "meshes/test/shrec/shrec_1.off", BASE.vertices, faces)
    (root / "segs/test/shrec").mkdir(parents=True)
    np.savetxt(root / "segs/test/shrec/shrec_1_full.txt", labels, fmt="%d")
    return root, labels - 1


def test_human_segmentation_layout(human_root):
    root, labels = human_root
    train = HumanSegmentation(root, "train")
    names = [str(p.relative_to(root)) for p in map(__import__("pathlib").Path, train.sources)]
    assert names == [
        "meshes/train/MIT_animation/meshes_crane/meshes/mesh_0000.obj",
        "meshes/train/adobe/Armadillo.off",
        "meshes/train/faust/tr_reg_000.ply",
        "meshes/train/faust/tr_reg_001.ply",
    ]
    expected = [np.roll(labels, 1), labels[::-1], labels, labels]
    for i, y in enumerate(expected):
        sample = train[i]
        assert sample.target_kind == "face" and sample.y.shape == (80,)
        np.testing.assert_array_equal(sample.y, y)
    test = HumanSegmentation(root, "test")
    assert len(test) == 1 and test.label_files[0].name == "shrec_1_full.txt"
    np.testing.assert_array_equal(test[0].y, labels)


def test_human_segmentation_errors(human_root, tmp_path):
    root, _ = human_root
    with pytest.raises(DatasetNotFoundError, match="Maron et al. 2017"):
        HumanSegmentation(tmp_path / "elsewhere", "train")
    (root / "segs/train/adobe/Armadillo.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="no labels for .*Armadillo.off"):
        HumanSegmentation(root, "train")
    np.savetxt(root / "segs/test/shrec/shrec_1_full.txt", np.full(80, 12), fmt="%d")
    with pytest.raises(ValueError, match="labels must be 1..8"):
        HumanSegmentation(root, "test")[0]
