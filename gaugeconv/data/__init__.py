"""From a folder of meshes to a trained model: datasets, the preprocessing cache, batching,
label transfer, metrics, and readers for FAUST, SHREC'11 and the human segmentation benchmark.

Typical use::

    from torch.utils.data import DataLoader
    from gaugeconv.data import MeshDataset, collate

    data = MeshDataset.from_folder("meshes/", labels="meshes/labels.npz", levels=2,
                                   cache_dir="cache/", inputs=("constant", "curvature"), in_memory=True)
    loader = DataLoader(data, batch_size=4, shuffle=True, collate_fn=collate)  # operators built once per mesh
    for batch in loader:
        out = model(batch.x, batch.geometry)   # batch.y: targets aligned with the rows of out

See docs/data.md.
"""

from .benchmarks import FAUST, SHREC11, DatasetNotFoundError, HumanSegmentation
from .cache import cache_key, cache_path, load_or_build, preprocess_to_cache
from .collate import MeshBatch, collate
from .dataset import MeshDataset, MeshSample
from .features import INPUTS, compute_inputs, heat_kernel_signature, mean_curvature
from .labels import align_targets, read_labels
from .metrics import (
    GeodesicDistance,
    correspondence_accuracy,
    correspondence_errors,
    error_curve,
    mean_iou,
    segmentation_accuracy,
)
from .transfer import (
    face_to_vertex_labels,
    from_source_vertices,
    nearest_surface_points,
    to_source_vertices,
    transfer_labels,
    vertex_to_face_labels,
)

__all__ = [
    "FAUST",
    "INPUTS",
    "SHREC11",
    "DatasetNotFoundError",
    "GeodesicDistance",
    "HumanSegmentation",
    "MeshBatch",
    "MeshDataset",
    "MeshSample",
    "align_targets",
    "cache_key",
    "cache_path",
    "collate",
    "compute_inputs",
    "correspondence_accuracy",
    "correspondence_errors",
    "error_curve",
    "face_to_vertex_labels",
    "from_source_vertices",
    "heat_kernel_signature",
    "load_or_build",
    "mean_curvature",
    "mean_iou",
    "nearest_surface_points",
    "preprocess_to_cache",
    "read_labels",
    "segmentation_accuracy",
    "to_source_vertices",
    "transfer_labels",
    "vertex_to_face_labels",
]
