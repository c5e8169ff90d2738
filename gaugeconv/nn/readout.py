"""Invariant readout and global pooling over the vertices of one or several meshes."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from .util import graph_index, require_torch_geometry


def _as_long(values) -> torch.Tensor:
    return torch.as_tensor(np.array(values, dtype=np.int64).reshape(-1))


class InvariantReadout(nn.Module):
    """Gauge-invariant features per vertex: ``[trivial channels, norms, regular max, regular mean]``.

    Trivial fields (``0``) pass unchanged; sign fields (``0-``) and irreps of order >= 1 give their
    norm; every regular field gives the max and the mean over its channels (orientations).

    Parameters
    ----------
    ftype : FieldType of the input
    eps : added under the square root of norms (smooth gradients at zero)

    Shapes: x (..., C) -> (..., out_dim) with ``out_dim = #0 + #(other irreps) + 2 #reg``.
    """

    def __init__(self, ftype: FieldType, eps: float = 1e-12):
        super().__init__()
        self.in_type, self.eps = ftype, eps
        trivial, norm_ch, norm_field, reg = [], [], [], []
        n_norm = 0
        for kind, start, width in ftype:
            if kind == "0":
                trivial.append(start)
            elif kind == "reg":
                reg.append(list(range(start, start + width)))
            else:
                norm_ch.extend(range(start, start + width))
                norm_field.extend([n_norm] * width)
                n_norm += 1
        self.n_norm, self.n_reg = n_norm, len(reg)
        self.reg_width = len(reg[0]) if reg else 0
        self.register_buffer("trivial", _as_long(trivial), persistent=False)
        self.register_buffer("norm_channels", _as_long(norm_ch), persistent=False)
        self.register_buffer("norm_field", _as_long(norm_field), persistent=False)
        self.register_buffer("reg_channels", _as_long(reg), persistent=False)
        self.out_dim = len(trivial) + n_norm + 2 * self.n_reg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., C) -> (..., out_dim)."""
        if x.shape[-1] != self.in_type.dim:
            raise ValueError(f"InvariantReadout: x has {x.shape[-1]} channels, expected {self.in_type.dim}")
        parts = [x.index_select(-1, self.trivial)]
        if self.n_norm:
            sq = x.index_select(-1, self.norm_channels) ** 2
            sq = x.new_zeros(*x.shape[:-1], self.n_norm).index_add_(-1, self.norm_field, sq)
            parts.append(torch.sqrt(sq + self.eps))
        if self.n_reg:
            regs = x.index_select(-1, self.reg_channels).unflatten(-1, (self.n_reg, self.reg_width))
            parts += [regs.amax(-1), regs.mean(-1)]
        return torch.cat(parts, dim=-1)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_dim} invariants, group={self.in_type.group}"


def global_pool(
    x: torch.Tensor, geometry=None, reduce: str = "mean", batch: torch.Tensor | None = None
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

    def forward(self, x: torch.Tensor, geometry=None, batch: torch.Tensor | None = None) -> torch.Tensor:
        return global_pool(x, geometry, self.reduce, batch=batch)

    def extra_repr(self) -> str:
        return f"reduce={self.reduce!r}"
