"""`FieldBatchNorm`: batch normalisation that commutes with gauge transformations."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from .util import along, as_tensor, check_channels

__all__ = ["FieldBatchNorm"]


class FieldBatchNorm(nn.Module):
    """Batch normalisation per field, equivariant under gauge transformations.

    Trivial fields (``0``) are normalised like ``BatchNorm1d`` (mean, variance, affine weight and
    bias). Regular fields share one mean, variance, weight and bias over their channels (the group
    permutes them). Every other field (``0-`` and orders >= 1) is divided by the root mean square of
    its channels and scaled by a weight, without centring (a mean would not be invariant).
    Statistics run over every axis but the channel axis (batch, vertices, grid positions), so on a
    grid they do not change under its symmetries either.

    The state dict (weight, bias, running_mean, running_var) is the same in train and eval mode.

    Parameters
    ----------
    field_type : FieldType; input and output type
    eps : added to the variance
    momentum : weight of the new batch in the running statistics
    affine : learn weight (per field) and bias (per trivial or regular field)
    dim : the channel axis of the input

    Shapes
    ------
    x : any shape with ``C`` channels on axis ``dim`` -> the same shape
    """

    def __init__(
        self, field_type: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True, dim: int = -1
    ):
        super().__init__()
        self.in_type = self.out_type = field_type
        self.eps, self.momentum, self.dim = eps, momentum, int(dim)
        n_fields = field_type.n_fields
        centred = np.array([f.kind in ("0", "reg") for f in field_type])
        self.register_buffer("field_of", as_tensor(field_type.field_of_channel), persistent=False)
        self.register_buffer("width", as_tensor([f.width for f in field_type], torch.float64), persistent=False)
        self.register_buffer("centred", as_tensor(centred), persistent=False)
        self.register_buffer("running_mean", torch.zeros(n_fields))
        self.register_buffer("running_var", torch.ones(n_fields))
        self.weight = nn.Parameter(torch.ones(n_fields)) if affine else None
        self.bias = nn.Parameter(torch.zeros(int(centred.sum()))) if affine else None
        self.register_buffer("bias_of", as_tensor(np.cumsum(centred) - 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = check_channels(x, self.in_type, self.dim, type(self).__name__)
        n = self.in_type.n_fields
        centred = self.centred.to(x.dtype)
        if self.training:
            others = [d for d in range(x.dim()) if d != dim]
            count = (x.numel() // x.shape[dim]) * self.width.to(x.dtype)
            mean = x.new_zeros(n).index_add_(0, self.field_of, x.sum(others)) / count * centred
            dev = x - along(mean[self.field_of], dim, x.dim())
            var = x.new_zeros(n).index_add_(0, self.field_of, (dev * dev).sum(others)) / count
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(var.detach().to(self.running_var.dtype), self.momentum)
        else:
            mean = self.running_mean.to(x.dtype) * centred
            var = self.running_var.to(x.dtype)
            dev = x - along(mean[self.field_of], dim, x.dim())
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight.to(x.dtype)
        out = dev * along(scale[self.field_of], dim, x.dim())
        if self.bias is not None and self.bias.numel():
            shift = torch.where(self.centred, self.bias.to(x.dtype)[self.bias_of.clamp(min=0)], 0.0)
            out = out + along(shift[self.field_of], dim, x.dim())
        return out

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}, eps={self.eps}, momentum={self.momentum}, dim={self.dim}"
