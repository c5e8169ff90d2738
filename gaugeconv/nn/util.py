"""Input checks and small helpers shared by the layers."""

from __future__ import annotations

import torch


def require_torch_geometry(geometry, where: str) -> None:
    """Raise ValueError unless ``geometry`` is a Geometry holding torch tensors."""
    if not hasattr(geometry, "edge_index") or not hasattr(geometry, "log_r"):
        raise ValueError(f"{where}: expected a gaugeconv.Geometry, got {type(geometry).__name__}")
    if not isinstance(geometry.log_r, torch.Tensor):
        raise ValueError(f"{where}: the geometry holds numpy arrays; pass geometry.to_torch(dtype) instead")


def check_input(x, geometry, channels: int, where: str):
    """Validate features ``x`` (V, C) or (B, V, C); return ``(x as (B, V, C), squeezed)``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{where}: x must be a torch tensor, got {type(x).__name__}")
    if x.dim() not in (2, 3):
        raise ValueError(f"{where}: x must have shape (V, C) or (B, V, C), got {tuple(x.shape)}")
    V = geometry.n_vertices if geometry is not None else x.shape[-2]
    if x.shape[-2] != V or x.shape[-1] != channels:
        raise ValueError(
            f"{where}: x has shape {tuple(x.shape)}, expected (..., {V}, {channels}) for this geometry and field type"
        )
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{where}: x must be float32 or float64, got {x.dtype}; convert it with x.float()")
    if x.numel() == 0:
        raise ValueError(f"{where}: x is empty (shape {tuple(x.shape)}); pass at least one feature set")
    return (x.unsqueeze(0), True) if x.dim() == 2 else (x, False)


def graph_index(geometry) -> torch.Tensor:
    """(V,) int64: which mesh of a batched geometry (:meth:`Geometry.batch`) every vertex belongs to."""
    sizes = tuple(getattr(geometry, "graph_sizes", ()) or ())
    device = geometry.edge_index.device if isinstance(geometry.edge_index, torch.Tensor) else None
    if not sizes:
        return torch.zeros(geometry.n_vertices, dtype=torch.int64, device=device)
    counts = torch.as_tensor(sizes, dtype=torch.int64, device=device)
    return torch.repeat_interleave(torch.arange(len(sizes), device=device), counts)


def field_index(ftype):
    """Per channel: ``(trivial (C,) bool, field (C,) int64 field number, number of fields)``."""
    import numpy as np

    trivial = np.zeros(ftype.dim, dtype=bool)
    field_of = np.zeros(ftype.dim, dtype=np.int64)
    n = 0
    for n, (kind, start, width) in enumerate(ftype):
        trivial[start : start + width] = kind == "0"
        field_of[start : start + width] = n
    return trivial, field_of, n + 1 if ftype.dim else 0
