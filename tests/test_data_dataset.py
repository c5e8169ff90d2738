"""MeshDataset, targets, the labels file, collate and DataLoader use (workers, DistributedSampler)."""

import functools

import numpy as np
import pytest
import torch
from meshfiles import write_obj
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from gaugeconv import Geometry, load_mesh, preprocess, shapes
from gaugeconv.data import MeshBatch, MeshDataset, collate, read_labels
from gaugeconv.data.features import INPUTS, compute_inputs


@pytest.fixture
def folder(tmp_path):
    """Three meshes of different sizes with per-vertex labels (z > 0) in a labels.npz."""
    meshes = {"a": shapes.icosahedron(1), "b": shapes.icosahedron(2), "c": shapes.torus(n_major=8, n_minor=5)}
    for name, mesh in meshes.items():
        write_obj(tmp_path / f"{name}.obj", mesh)
    labels = {name: (mesh.vertices[:, 2] > 0).astype(np.int64) for name, mesh in meshes.items()}
    np.savez(tmp_path / "labels.npz", __kind__=np.array("vertex"), **labels)
    return tmp_path


def test_from_folder_reads_meshes_and_aligned_labels(folder):
    data = MeshDataset.from_folder(folder, labels=folder / "labels.npz", levels=1)
    assert len(data) == 3 and data.target_kind == "vertex"
    for i, name in enumerate("abc"):
        sample = data[i]
        mesh = load_mesh(folder / f"{name}.obj")
        assert sample.name == f"{name}.obj"
        np.testing.assert_array_equal(sample.y, mesh.vertices[:, 2] > 0)
        assert sample.x.shape == (mesh.n_vertices, 1) and len(sample.geometry.levels) == 1


def test_labels_file_errors(folder, tmp_path):
    np.savez(tmp_path / "few.npz", a=np.zeros(12, np.int64))
    with pytest.raises(ValueError, match="no labels for 2 meshes"):
        MeshDataset.from_folder(folder, labels=tmp_path / "few.npz")
    with pytest.raises(ValueError, match="no such labels file"):
        read_labels(tmp_path / "missing.npz")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,1,2\n")
    with pytest.raises(ValueError, match="expected 'name,label'"):
        read_labels(bad)


def test_csv_class_names(folder):
    (folder / "classes.csv").write_text("name,label\na,sphere\nb,sphere\nc,torus\n")
    data = MeshDataset.from_folder(folder, labels=folder / "classes.csv")
    assert data.classes == ("sphere", "torus") and data.target_kind == "mesh"
    assert [int(data[i].y) for i in range(3)] == [0, 0, 1]


def test_wrong_number_of_vertex_targets_is_one_clear_error(folder):
    data = MeshDataset([folder / "a.obj"], [np.zeros(5)], target_kind="vertex")
    # (worded for the loaded mesh, or for the file once geometries record their source index)
    with pytest.raises(ValueError, match=r"5 per-vertex targets but the .*\b42 vertices"):
        data[0]
    with pytest.raises(ValueError, match="target_kind"):
        MeshDataset([folder / "a.obj"], [np.zeros(42)])
    with pytest.raises(ValueError, match="unknown input"):
        MeshDataset([folder / "a.obj"], inputs=("colour",))


def test_per_face_targets_follow_the_faces(folder):
    mesh = load_mesh(folder / "b.obj")
    face_labels = np.arange(mesh.n_faces)
    sample = MeshDataset([folder / "b.obj"], [face_labels], target_kind="face")[0]
    # geometry.faces may be reoriented, never reordered: row f is still file face f
    np.testing.assert_array_equal(np.sort(sample.geometry.faces, 1), np.sort(mesh.faces, 1))
    np.testing.assert_array_equal(sample.y, face_labels)


def test_source_index_maps_file_vertices(folder):
    """Per-vertex targets are indexed like the file; a geometry recording its source index (after
    repair or dropped vertices) gets them through that map."""
    from dataclasses import replace

    from gaugeconv.data import align_targets

    geometry = preprocess(load_mesh(folder / "a.obj"))
    shuffled = replace(geometry, vertices=geometry.vertices)
    object.__setattr__(shuffled, "source_index", np.arange(geometry.n_vertices)[::-1] + 3)
    y = np.arange(geometry.n_vertices + 3)
    np.testing.assert_array_equal(align_targets(y, "vertex", shuffled), y[3:][::-1])
    with pytest.raises(ValueError, match="at least"):
        align_targets(np.arange(5), "vertex", shuffled)


def test_inputs_and_transform(folder):
    def double_x(sample):
        from dataclasses import replace

        return replace(sample, x=2 * sample.x)

    data = MeshDataset([folder / "b.obj"], inputs=("constant", "curvature", "hks", "xyz"), transform=double_x)
    sample = data[0]
    assert sample.x.shape == (162, sum(INPUTS.values()))
    np.testing.assert_allclose(sample.x, 2 * compute_inputs(data.geometry(0), data.inputs))
    np.testing.assert_allclose(sample.x[:, -3:], 2 * data.geometry(0).vertices)


def test_collate_offsets_and_alignment(folder):
    data = MeshDataset.from_folder(folder, labels=folder / "labels.npz", levels=1, inputs=("constant", "xyz"))
    samples = [data[i] for i in (2, 0, 1)]
    batch = collate(samples)
    sizes = [s.geometry.n_vertices for s in samples]
    assert isinstance(batch, MeshBatch) and batch.geometry.graph_sizes == tuple(sizes)
    reference = Geometry.batch([s.geometry for s in samples]).to_torch(torch.float32)
    assert torch.equal(batch.geometry.edge_index, reference.edge_index)
    assert len(batch.geometry.levels) == 1 and len(batch.geometry.pools) == 1
    offsets = np.cumsum([0] + sizes)
    for k, s in enumerate(samples):
        rows = slice(offsets[k], offsets[k + 1])
        np.testing.assert_allclose(batch.x[rows].numpy(), s.x, rtol=1e-6)
        np.testing.assert_array_equal(batch.y[rows].numpy(), s.y)
        assert (batch.vertex_batch[rows] == k).all()
        # a feature that is a function of position lines up with the batched vertices
        np.testing.assert_allclose(batch.x[rows, 1:].numpy(), batch.geometry.vertices[rows].numpy(), rtol=1e-6)
    assert batch.indices.tolist() == [2, 0, 1]
    moved = batch.to("cpu")
    assert torch.equal(moved.geometry.levels[0].edge_index, batch.geometry.levels[0].edge_index)
    assert torch.equal(moved.geometry.pools[0].index, batch.geometry.pools[0].index)
    batch64 = functools.partial(collate, dtype=torch.float64)(samples)
    assert batch64.x.dtype == torch.float64 and batch64.geometry.log_r.dtype == torch.float64


def test_collate_mesh_targets_are_stacked(folder):
    (folder / "classes.csv").write_text("a,3\nb,1\nc,2\n")
    data = MeshDataset.from_folder(folder, labels=folder / "classes.csv")
    batch = collate([data[0], data[2]])
    assert batch.y.tolist() == [3, 2]
    assert batch.face_batch.shape == (batch.geometry.n_faces,)


def test_a_model_runs_on_a_batch(folder):
    from gaugeconv import FieldType
    from gaugeconv.models import GaugeUNet

    data = MeshDataset.from_folder(folder, labels=folder / "labels.npz", levels=1, inputs=("constant", "curvature"))
    batch = collate([data[i] for i in range(3)])
    model = GaugeUNet(FieldType("3x0"), FieldType("2x0"), [FieldType("4x0 + 2x1"), FieldType("4x0 + 2x1")])
    out = model(batch.x, batch.geometry)
    assert out.shape == (batch.geometry.n_vertices, 2)
    torch.nn.functional.cross_entropy(out, batch.y).backward()


def test_dataloader_with_workers_and_distributed_sampler(folder, tmp_path):
    data = MeshDataset.from_folder(folder, labels=folder / "labels.npz", levels=1, cache_dir=tmp_path / "cache")
    data.prepare()
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(data, num_replicas=2, rank=rank, shuffle=True, seed=1)
        loader = DataLoader(data, batch_size=2, sampler=sampler, collate_fn=collate, num_workers=2)
        for batch in loader:
            assert batch.x.shape[0] == batch.y.shape[0] == batch.geometry.n_vertices
            for name, size in zip(batch.names, batch.geometry.graph_sizes):
                assert size == load_mesh(folder / name).n_vertices
            seen += batch.indices.tolist()
    assert sorted(set(seen)) == [0, 1, 2]  # the ranks cover the dataset (one index padded twice)


def test_vertex_targets_follow_the_file_past_an_unreferenced_vertex(tmp_path):
    """A file whose vertex 1 no face uses: the loaded mesh drops it, and the per-vertex targets
    given for the file's 5 vertices still land on the right vertices (through source_index)."""
    path = tmp_path / "gap.obj"
    path.write_text("v 0 0 0\nv 9 9 9\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 4\nf 1 4 5\nf 1 5 3\nf 3 5 4\n")
    targets = np.array([10, 11, 12, 13, 14])
    with pytest.warns(UserWarning, match="unreferenced"):
        sample = MeshDataset([path], [targets], target_kind="vertex")[0]
    assert sample.geometry.n_vertices == 4
    assert np.array_equal(np.asarray(sample.geometry.source_index), [0, 2, 3, 4])
    assert np.array_equal(np.asarray(sample.y), [10, 12, 13, 14])
