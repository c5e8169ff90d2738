"""Invariant readout and global pooling over the vertices of one or several meshes."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..buffers import Geometry
from ..groups import FieldType
from .util import as_tensor, check_channels, graph_index, require_torch_geometry

__all__ = ["GlobalPool", "InvariantReadout", "global_pool"]


_REDUCTIONS = ("max", "mean")


class InvariantReadout(nn.Module):
    """Gauge-invariant features: ``[trivial channels, norms, regular reductions]`` on the channel axis.

    Trivial fields (``0``) pass unchanged; sign fields (``0-``) and irreps of order >= 1 give their
    norm; every regular field gives, for each entry of ``reduce``, that reduction over its channels
    (orientations): the max and the mean by default.

    Parameters
    ----------
    in_type : FieldType of the input
    reduce : "max", "mean" or a sequence of them: what every regular field gives
    eps : added under the square root of norms (smooth gradients at zero)
    dim : the channel axis of the input (-1 for mesh features, 1 for atlas tensors and strip maps)

    Attributes
    ----------
    out_type : ``FieldType("Dx0")`` of the input's group, D = ``out_dim``
    out_dim : ``#0 + #(other irreps) + len(reduce) #reg``

    Shapes
    ------
    x : ``C`` channels on axis ``dim`` -> ``out_dim`` channels there, other axes unchanged
    """

    def __init__(self, in_type: FieldType, reduce="max+mean", eps: float = 1e-12, dim: int = -1):
        super().__init__()
        reduce = tuple(reduce.split("+")) if isinstance(reduce, str) else tuple(reduce)
        if not reduce or any(r not in _REDUCTIONS for r in reduce):
            raise ValueError(f"reduce must be 'max', 'mean' or 'max+mean', got {reduce!r}")
        self.in_type, self.reduce, self.eps, self.dim = in_type, reduce, eps, int(dim)
        norm = in_type.mask("0-", "irrep")
        regular = in_type.channels("reg") if in_type.order else np.zeros((0, 0), np.int64)
        _, norm_field = np.unique(in_type.field_of_channel[norm], return_inverse=True)
        self.n_norm, self.n_reg = int(norm_field.max(initial=-1)) + 1, len(regular)
        self.reg_width = regular.shape[1]
        self.register_buffer("trivial", as_tensor(np.flatnonzero(in_type.mask("0"))), persistent=False)
        self.register_buffer("norm_channels", as_tensor(np.flatnonzero(norm)), persistent=False)
        self.register_buffer("norm_field", as_tensor(norm_field.reshape(-1)), persistent=False)
        self.register_buffer("reg_channels", as_tensor(regular.reshape(-1)), persistent=False)
        self.out_dim = len(self.trivial) + self.n_norm + len(reduce) * self.n_reg
        self.out_type = FieldType(f"{self.out_dim}x0", group=in_type.group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = check_channels(x, self.in_type, self.dim, type(self).__name__)
        parts = [x.index_select(dim, self.trivial)]
        if self.n_norm:
            sq = x.index_select(dim, self.norm_channels) ** 2
            shape = list(x.shape)
            shape[dim] = self.n_norm
            parts.append(torch.sqrt(x.new_zeros(shape).index_add_(dim, self.norm_field, sq) + self.eps))
        if self.n_reg:
            regs = x.index_select(dim, self.reg_channels).unflatten(dim, (self.n_reg, self.reg_width))
            parts += [regs.amax(dim + 1) if r == "max" else regs.mean(dim + 1) for r in self.reduce]
        return torch.cat(parts, dim=dim)

    def extra_repr(self) -> str:
        reduce = "+".join(self.reduce)
        group = self.in_type.group
        return f"{self.in_type} -> {self.out_dim} invariants, group={group}, reduce={reduce}, dim={self.dim}"


def global_pool(
    x: torch.Tensor, geometry: Geometry | None = None, reduce: str = "mean", batch: torch.Tensor | None = None
) -> torch.Tensor:
    """Pool features over the vertices of every mesh of a (batched) geometry.

    Parameters
    ----------
    x : (V, C) or (B, V, C)
    geometry : torch Geometry; a batch from :meth:`Geometry.batch` gives one row per mesh.
        May be None when ``batch`` is given and ``reduce != "area"``.
    reduce : "mean", "max", "sum", or "area" (mean weighted by ``geometry.vertex_area``)
    batch : optional (V,) int64 mesh id of every vertex (ids 0..G-1), overriding the geometry's

    Returns
    -------
    (G, C) or (B, G, C), G = number of meshes
    """
    if reduce not in ("mean", "max", "sum", "area"):
        raise ValueError(f"reduce must be 'mean', 'max', 'sum' or 'area', got {reduce!r}")
    if geometry is not None:
        require_torch_geometry(geometry, "global_pool")
    elif batch is None or reduce == "area":
        raise ValueError("global_pool needs a geometry (or a batch vector, except for reduce='area')")
    if batch is None:
        graph, n_graphs = graph_index(geometry).to(x.device), geometry.n_graphs
    else:
        graph = torch.as_tensor(batch, dtype=torch.int64, device=x.device)
        n_graphs = int(graph.max()) + 1 if graph.numel() else 0
    if x.dim() not in (2, 3) or x.shape[-2] != graph.shape[0]:
        raise ValueError(f"x must have shape (V, C) or (B, V, C) with V = {graph.shape[0]}, got {tuple(x.shape)}")
    shape = (*x.shape[:-2], n_graphs, x.shape[-1])
    dim = x.dim() - 2
    if reduce == "max":
        index = graph.view(*([1] * dim), -1, 1).expand_as(x)
        return x.new_full(shape, -torch.inf).scatter_reduce(dim, index, x, reduce="amax", include_self=True)
    weight = torch.ones_like(graph, dtype=x.dtype)
    if reduce == "area":
        weight = geometry.vertex_area.to(x.device, x.dtype)
    total = x.new_zeros(shape).index_add_(dim, graph, x * weight[:, None])
    if reduce == "sum":
        return total
    norm = x.new_zeros(n_graphs).index_add_(0, graph, weight)
    return total / norm[:, None]


class GlobalPool(nn.Module):
    """Module form of :func:`global_pool`: ``forward(x, geometry)``, x (V, C) or (B, V, C) -> (G, C) or (B, G, C)."""

    def __init__(self, reduce: str = "mean"):
        super().__init__()
        if reduce not in ("mean", "max", "sum", "area"):
            raise ValueError(f"reduce must be 'mean', 'max', 'sum' or 'area', got {reduce!r}")
        self.reduce = reduce

    def forward(
        self, x: torch.Tensor, geometry: Geometry | None = None, batch: torch.Tensor | None = None
    ) -> torch.Tensor:
        return global_pool(x, geometry, self.reduce, batch=batch)

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}"
