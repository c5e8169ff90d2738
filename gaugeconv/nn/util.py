"""Input checks and small helpers shared by the layers."""

from __future__ import annotations

import numpy as np
import torch

from ..groups import FieldType

__all__ = ["along", "as_tensor", "check_channels", "check_input", "graph_index", "require_torch_geometry"]


def require_torch_geometry(geometry, where: str) -> None:
    """Raise ValueError unless ``geometry`` is a Geometry holding torch tensors."""
    if not hasattr(geometry, "edge_index") or not hasattr(geometry, "log_r"):
        raise ValueError(f"{where}: expected a gaugeconv.Geometry, got {type(geometry).__name__}")
    if not isinstance(geometry.log_r, torch.Tensor):
        raise ValueError(f"{where}: the geometry holds numpy arrays; pass geometry.to_torch(dtype) instead")


def check_input(x, geometry, channels: int, where: str):
    """Validate mesh features ``x`` (V, C) or (B, V, C); return ``(x as (B, V, C), squeezed)``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{where}: x must be a torch tensor, got {type(x).__name__}")
    if x.dim() not in (2, 3):
        raise ValueError(f"{where}: x must have shape (V, C) or (B, V, C), got {tuple(x.shape)}")
    V = geometry.n_vertices if geometry is not None else x.shape[-2]
    if x.shape[-2] != V or x.shape[-1] != channels:
        raise ValueError(
            f"{where}: x has shape {tuple(x.shape)}, expected (..., {V}, {channels}) for this geometry and field type"
        )
    if not x.is_floating_point():
        raise ValueError(f"{where}: x must be a floating point tensor, got {x.dtype}")
    return (x.unsqueeze(0), True) if x.dim() == 2 else (x, False)


def check_channels(x, field_type: FieldType, dim: int, where: str) -> int:
    """Raise ValueError unless ``x`` is a tensor with ``field_type.dim`` channels on axis ``dim``;
    return ``dim`` as a non-negative axis."""
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or not -x.dim() <= dim < x.dim():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{where}: expected a tensor with channels on axis {dim}, got {shape}")
    if x.shape[dim] != field_type.dim:
        raise ValueError(
            f"{where}: x has {x.shape[dim]} channels on axis {dim}, expected {field_type.dim} for {field_type}"
        )
    return dim % x.dim()


def along(t: torch.Tensor, dim: int, ndim: int) -> torch.Tensor:
    """View a per-channel tensor ``(C,)`` so that it broadcasts along axis ``dim`` of an ``ndim``-d tensor."""
    shape = [1] * ndim
    shape[dim] = -1
    return t.view(shape)


def as_tensor(array, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A torch copy of a numpy array (read-only arrays of FieldType and the atlases included)."""
    return torch.tensor(np.asarray(array), dtype=dtype)


def graph_index(geometry) -> torch.Tensor:
    """(V,) int64: which mesh of a batched geometry (:meth:`Geometry.batch`) every vertex belongs to."""
    sizes = tuple(getattr(geometry, "graph_sizes", ()) or ())
    device = geometry.edge_index.device if isinstance(geometry.edge_index, torch.Tensor) else None
    if not sizes:
        return torch.zeros(geometry.n_vertices, dtype=torch.int64, device=device)
    counts = torch.as_tensor(sizes, dtype=torch.int64, device=device)
    return torch.repeat_interleave(torch.arange(len(sizes), device=device), counts)
