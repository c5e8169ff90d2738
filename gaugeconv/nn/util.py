"""Input checks and small helpers shared by the layers."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType

__all__ = [
    "SparseRead",
    "along",
    "as_tensor",
    "check_channels",
    "check_gain",
    "check_input",
    "graph_index",
    "require_torch_geometry",
]


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
    if x.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{where}: x must be float32 or float64, got {x.dtype}; convert it with x.float()")
    if x.numel() == 0:
        raise ValueError(f"{where}: x is empty (shape {tuple(x.shape)}); pass at least one feature set")
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


def check_gain(gain: float) -> None:
    """Raise ValueError unless a convolution's initial-variance ``gain`` is positive (NaN is not)."""
    if not gain > 0:
        raise ValueError(f"gain must be positive, got {gain}")


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
    return torch.repeat_interleave(torch.arange(len(sizes), device=device), counts, output_size=sum(sizes))


class SparseRead(nn.Module):
    """A fixed sparse linear map on flattened features, ``(B, N) -> (B, R)``:
    ``out[:, r] = sum_k coef[r, k] x[:, index[r, k]]``, with its adjoint for custom backward passes.

    Parameters
    ----------
    index : (R, K) int, coef : (R, K) float (coefficients exactly 1 with K = 1 skip the product)
    """

    def __init__(self, index, coef):
        super().__init__()
        index, coef = np.asarray(index, dtype=np.int64), np.asarray(coef, dtype=np.float64)
        self.rows, self.width = index.shape
        # a plain gather when every row reads one entry with coefficient 1 (or is empty)
        self.plain = self.width == 1 and bool(np.all((coef == 1.0) | (coef == 0.0)))
        empty = np.flatnonzero(coef[:, 0] == 0.0) if self.plain else np.zeros(0, np.int64)
        self.register_buffer("empty", as_tensor(empty), persistent=False)
        # k-major: the K terms of a row are K planes, summed over a middle axis
        self.register_buffer("index", as_tensor(index.T.reshape(-1)), persistent=False)
        self.register_buffer("coef", as_tensor(coef.T), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.index_select(1, self.index)
        if self.plain:
            return out.index_fill_(1, self.empty, 0) if self.empty.numel() else out
        return (out.view(x.shape[0], self.width, self.rows) * self.coef.to(x.dtype)).sum(1)

    def adjoint_(self, grad: torch.Tensor, grad_x: torch.Tensor) -> torch.Tensor:
        """``grad_x[:, index[r, k]] += coef[r, k] grad[:, r]``; ``grad (B, R)``, ``grad_x (B, N)`` in place."""
        if not self.plain:
            grad = (grad.unsqueeze(1) * self.coef.to(grad.dtype)).reshape(grad.shape[0], -1)
        elif self.empty.numel():
            grad = grad.index_fill(1, self.empty, 0)
        return grad_x.index_add_(1, self.index, grad)

    def extra_repr(self) -> str:
        kind = "gather" if self.plain else f"{self.width} terms per row"
        return f"{self.rows} rows, {kind}"
