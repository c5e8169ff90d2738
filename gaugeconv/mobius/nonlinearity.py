"""Nonlinearities and batch normalisation that respect the seam's reflection."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .grid import field_layout

__all__ = ["MobiusBatchNorm", "MobiusNonlinearity"]


def _norm_groups(layout):
    """Channel -> field index (C,), and the channels of fields acted on by signs (sign, irrep)."""
    group = np.zeros(layout.dim, dtype=np.int64)
    size = {"trivial": 1, "sign": 1, "regular": 2, "irrep": 2}
    for f, (kind, s) in enumerate(zip(layout.kinds, layout.starts)):
        group[s : s + size[kind]] = f
    return group


class MobiusNonlinearity(nn.Module):
    """Pointwise nonlinearity on strip fields, equivariant to the seam reflection.

    - trivial fields and regular fields of the flip group: ReLU per channel (the flip permutes the
      channels of a regular field, which commutes with a pointwise function);
    - sign-flip fields ``0-`` and O(2) irreps ``k >= 1``: norm-ReLU
      ``x -> x * relu(|x| + b) / |x|`` with one learned bias ``b`` per field (for a sign-flip field
      this is ``sign(x) relu(|x| + b)``, an odd function; for an irrep ``|x|`` is the norm of the pair,
      so the map also commutes with rotations).

    Parameters
    ----------
    field_type : FieldType of group "D1" or "O2"
    bias_init : initial value of the norm biases (negative: a soft threshold)

    Shapes
    ------
    x : (B, C, W, L) -> (B, C, W, L)
    """

    def __init__(self, field_type, bias_init: float = -0.5):
        super().__init__()
        layout = field_layout(field_type)
        self.field_type = field_type
        pointwise = layout.pointwise
        norm_fields = np.array([k in ("sign", "irrep") for k in layout.kinds])
        # channel -> index of its norm bias (fields numbered among the sign/irrep fields only)
        bias_of_field = np.cumsum(norm_fields) - 1
        self.register_buffer("pointwise", torch.as_tensor(pointwise).view(1, -1, 1, 1))
        self.register_buffer("partner", torch.as_tensor(layout.partner))
        self.register_buffer("paired", torch.as_tensor(layout.partner != np.arange(layout.dim)).view(1, -1, 1, 1))
        self.register_buffer("bias_index", torch.as_tensor(np.maximum(bias_of_field[layout.field_of_channel], 0)))
        self.bias = nn.Parameter(torch.full((int(norm_fields.sum()),), float(bias_init)))
        self.has_pairs = bool((layout.partner != np.arange(layout.dim)).any())
        self.all_norm = not bool(pointwise.any())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.field_type.dim:
            raise ValueError(f"expected features (B, {self.field_type.dim}, W, L), got {tuple(x.shape)}")
        if self.bias.numel() == 0:
            return torch.relu(x)
        bias = self.bias[self.bias_index].view(1, -1, 1, 1)
        if self.has_pairs:
            sq = x * x
            sq = torch.where(self.paired, sq + sq[:, self.partner], sq)  # the pair's squared norm for irreps
            norm = torch.sqrt(sq.clamp_min(1e-24))
            out = x * (torch.relu(norm + bias) / norm)
        else:  # only one-channel fields: sign(x) relu(|x| + b)
            out = torch.sign(x) * torch.relu(x.abs() + bias)
        return out if self.all_norm else torch.where(self.pointwise, torch.relu(x), out)

    def __repr__(self) -> str:
        return f"MobiusNonlinearity({self.field_type})"


class MobiusBatchNorm(nn.Module):
    """Batch normalisation with statistics that are invariant under the seam reflection.

    Per field: trivial fields are centred and scaled; a regular field's two channels share one
    mean and one variance (the flip swaps them); sign-flip fields and irreps are only scaled, by
    the root mean square of their value (norm). A learned scale per field, a learned shift only
    for trivial and regular fields. Statistics are taken over the batch and every pixel of the
    strip, so they do not change under shifts along it.

    Shapes
    ------
    x : (B, C, W, L) -> (B, C, W, L)
    """

    def __init__(self, field_type, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        layout = field_layout(field_type)
        self.field_type, self.eps, self.momentum = field_type, float(eps), float(momentum)
        group = _norm_groups(layout)
        centred = np.array([k in ("trivial", "regular") for k in layout.kinds])
        counts = np.bincount(group, minlength=len(layout.kinds))
        self.register_buffer("group", torch.as_tensor(group))
        self.register_buffer("centred", torch.as_tensor(centred))
        self.register_buffer("counts", torch.as_tensor(counts, dtype=torch.float64))
        n = len(layout.kinds)
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(int(centred.sum())))
        self.register_buffer("bias_field", torch.as_tensor(np.flatnonzero(centred), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.field_type.dim:
            raise ValueError(f"expected features (B, {self.field_type.dim}, W, L), got {tuple(x.shape)}")
        n = self.weight.numel()
        if self.training:
            counts = self.counts.to(x.dtype)
            mean_c = x.mean(dim=(0, 2, 3))
            sq_c = (x * x).mean(dim=(0, 2, 3))
            mean = torch.zeros(n, dtype=x.dtype, device=x.device).index_add(0, self.group, mean_c) / counts
            mean = torch.where(self.centred, mean, torch.zeros_like(mean))
            sq = torch.zeros(n, dtype=x.dtype, device=x.device).index_add(0, self.group, sq_c) / counts
            var = (sq - mean * mean).clamp_min(0.0)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(var.detach().to(self.running_var.dtype), self.momentum)
        else:
            mean, var = self.running_mean.to(x.dtype), self.running_var.to(x.dtype)
        bias = torch.zeros(n, dtype=x.dtype, device=x.device).index_put((self.bias_field,), self.bias.to(x.dtype))
        scale = self.weight / torch.sqrt(var + self.eps)  # (fields,)
        shift = bias - mean * scale
        return x * scale[self.group].view(1, -1, 1, 1) + shift[self.group].view(1, -1, 1, 1)

    def __repr__(self) -> str:
        return f"MobiusBatchNorm({self.field_type})"
