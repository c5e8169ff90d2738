"""`FieldBatchNorm`: batch normalisation that commutes with gauge transformations."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..groups import FieldType


class FieldBatchNorm(nn.Module):
    """Batch normalisation per field, equivariant under gauge transformations.

    Trivial fields (``0``) are normalised like ``BatchNorm1d`` (mean, variance, affine weight and
    bias). Regular fields share one mean, variance, weight and bias over their channels (the group
    permutes them). Every other field (``0-`` and orders >= 1) is divided by the root mean square of
    its channels and scaled by a weight, without centring (a mean would not be invariant).
    Statistics run over all leading axes (batch and vertices).

    The state dict (weight, bias, running_mean, running_var) is the same in train and eval mode.

    Parameters
    ----------
    ftype : FieldType; input and output type
    eps : added to the variance
    momentum : weight of the new batch in the running statistics
    affine : learn weight (per field) and bias (per trivial or regular field)
    """

    def __init__(self, ftype: FieldType, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        self.in_type = self.out_type = ftype
        self.eps, self.momentum = eps, momentum
        kinds = [kind for kind, _, _ in ftype]
        field_of = np.concatenate([np.full(width, i) for i, (_, _, width) in enumerate(ftype)])
        width = np.array([w for _, _, w in ftype], dtype=np.float64)
        centred = np.array([k in ("0", "reg") for k in kinds])
        self.n_fields = len(kinds)
        self.register_buffer("field_of", torch.as_tensor(field_of, dtype=torch.int64), persistent=False)
        self.register_buffer("width", torch.as_tensor(width), persistent=False)
        self.register_buffer("centred", torch.as_tensor(centred), persistent=False)
        self.register_buffer("running_mean", torch.zeros(self.n_fields))
        self.register_buffer("running_var", torch.ones(self.n_fields))
        self.weight = nn.Parameter(torch.ones(self.n_fields)) if affine else None
        self.bias = nn.Parameter(torch.zeros(int(centred.sum()))) if affine else None
        self.register_buffer("bias_of", torch.as_tensor(np.cumsum(centred) - 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., C) -> (..., C); statistics over all leading axes."""
        if x.shape[-1] != self.in_type.dim:
            raise ValueError(f"FieldBatchNorm: x has {x.shape[-1]} channels, expected {self.in_type.dim}")
        x2 = x.reshape(-1, x.shape[-1])
        centred = self.centred.to(x.dtype)
        if self.training:
            count = x2.shape[0] * self.width.to(x.dtype)
            mean = x.new_zeros(self.n_fields).index_add_(0, self.field_of, x2.sum(0)) / count * centred
            dev = x2 - mean[self.field_of]
            var = x.new_zeros(self.n_fields).index_add_(0, self.field_of, (dev * dev).sum(0)) / count
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(var.detach().to(self.running_var.dtype), self.momentum)
        else:
            mean = self.running_mean.to(x.dtype) * centred
            var = self.running_var.to(x.dtype)
            dev = x2 - mean[self.field_of]
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight.to(x.dtype)
        out = dev * scale[self.field_of]
        if self.bias is not None and self.bias.numel():
            shift = torch.where(self.centred, self.bias.to(x.dtype)[self.bias_of.clamp(min=0)], 0.0)
            out = out + shift[self.field_of]
        return out.reshape(x.shape)

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}, eps={self.eps}, momentum={self.momentum}"
