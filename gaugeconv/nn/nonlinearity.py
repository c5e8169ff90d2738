"""Gauge-equivariant nonlinearities: regular (sampled), norm and gated.

Each acts on the channel axis ``dim`` of its input, at every position alike: ``dim=-1`` for mesh
features ``(..., V, C)``, ``dim=1`` for icosahedral atlas tensors ``(B, C, V)`` and Möbius strip
maps ``(B, C, W, L)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from .util import along, as_tensor, check_channels

__all__ = ["GatedNonlinearity", "NormNonlinearity", "RegularNonlinearity"]


def _bands(field_type: FieldType):
    """Group the fields into ``m`` bands, band i = the i-th copy of every kind; returns
    ``(kinds, index)`` with index (m, d) the channels of every band."""
    kinds = sorted({f.kind for f in field_type}, key=lambda k: (int(k.rstrip("-")), k.endswith("-")))
    copies = {kind: field_type.channels(kind) for kind in kinds}
    if len({len(c) for c in copies.values()}) != 1:
        raise ValueError(
            f"RegularNonlinearity needs the same multiplicity for every kind, e.g. '8x0 + 8x1 + 8x2'; got {field_type}"
        )
    return kinds, np.concatenate([copies[kind] for kind in kinds], axis=1)


class RegularNonlinearity(nn.Module):
    """Sample the fields as functions on the group, apply ``fn`` pointwise, project back.

    For SO2/O2 irreps the fields are grouped into bands (the i-th copy of every kind, e.g.
    ``"8x0 + 8x1 + 8x2"`` gives 8 bands of orders 0, 1, 2). A band ``x`` is the function
    ``f(g) = sum_k [rho_k(g)^-1 x_k]_0`` on the group, sampled at the ``samples`` rotations
    ``R(2 pi i / N)`` (and, for O2, also at those times F); then ``fn`` acts on every sample and the
    least-squares projection maps back to the band. This is exactly equivariant for gauge
    transformations in C_N (D_N for O2) and approximately for all of SO(2) (O(2)); the error
    falls as N grows (see ``docs/layers.md`` for measured values). ``samples`` must exceed
    twice the highest order.

    For C_N and D_N types with only regular and trivial fields, ``fn`` acts on every channel
    (exactly equivariant: the group permutes channels); ``samples`` is then ignored.

    Parameters
    ----------
    field_type : FieldType; input and output type
    samples : N, number of sampled rotations
    fn : elementwise function, default ``torch.relu``
    dim : the channel axis of the input

    Shapes
    ------
    x : any shape with ``C`` channels on axis ``dim`` -> the same shape
    """

    def __init__(self, field_type: FieldType, samples: int = 15, fn: Callable | None = None, dim: int = -1):
        super().__init__()
        self.in_type = self.out_type = field_type
        self.fn = torch.relu if fn is None else fn
        self.samples, self.dim = int(samples), int(dim)
        if field_type.order:
            bad = [k for _, k in field_type.fields if k not in ("0", "reg")]
            if bad:
                raise ValueError(
                    f"RegularNonlinearity on {field_type.group} needs only 'reg' and '0' fields, got {bad[0]!r}; "
                    "use NormNonlinearity or GatedNonlinearity"
                )
            self.register_buffer("index", None, persistent=False)
            return
        kinds, index = _bands(field_type)
        max_order = max(int(k.rstrip("-")) for k in kinds)
        if self.samples <= 2 * max_order:
            raise ValueError(f"samples must be > 2 * highest order = {2 * max_order}, got {samples}")
        n = self.samples
        angle = 2 * np.pi * np.arange(n) / n
        flip = np.zeros(n, bool)
        if field_type.has_reflections:
            angle, flip = np.concatenate([angle, angle]), np.concatenate([flip, ~flip])
        band = FieldType(" + ".join(kinds), group=field_type.group)
        # f(g) = sum over kinds of [rho(g)^-1 x]_0 = sum of (rho(g) e_0k) . x: rows of the sample matrix
        rho = band.rho(angle, flip)  # (S, d, d)
        firsts = np.array([f.start for f in band])
        sample = rho[:, :, firsts].sum(axis=2)  # (S, d)
        project = np.linalg.pinv(sample)  # (d, S)
        self.register_buffer("index", as_tensor(index.reshape(-1)), persistent=False)
        self.register_buffer("sample_matrix", as_tensor(sample), persistent=False)
        self.register_buffer("project_matrix", as_tensor(project), persistent=False)
        self.register_buffer("inverse_index", as_tensor(np.argsort(index.reshape(-1))), persistent=False)
        self._band_dim = index.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = check_channels(x, self.in_type, self.dim, type(self).__name__)
        if self.index is None:
            return self.fn(x)
        xl = x.movedim(dim, -1)
        bands = xl.index_select(-1, self.index).unflatten(-1, (-1, self._band_dim))  # (..., m, d)
        values = bands @ self.sample_matrix.to(x.dtype).T  # (..., m, S)
        out = self.fn(values) @ self.project_matrix.to(x.dtype).T  # (..., m, d)
        return out.flatten(-2).index_select(-1, self.inverse_index).movedim(-1, dim)

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}, samples={self.samples}, dim={self.dim}"


class NormNonlinearity(nn.Module):
    """The exact nonlinearity for every field kind, one learned bias ``b`` per field.

    Fields the group only permutes (trivial ``0``, regular ``reg``) go through ``fn`` channel by
    channel, ``fn(x + b)``; fields it rotates or negates (irreps ``k >= 1``, sign ``0-``) are scaled
    by a function of their norm, ``x fn(|x| + b) / |x|`` (``sign(x) fn(|x| + b)`` for a sign field).

    Parameters
    ----------
    field_type : FieldType; input and output type
    fn : elementwise function, default ``torch.relu``
    bias : learn the biases b (initialised to zero)
    eps : added under the square root of the norm
    dim : the channel axis of the input

    Shapes
    ------
    x : any shape with ``C`` channels on axis ``dim`` -> the same shape
    """

    def __init__(
        self, field_type: FieldType, fn: Callable | None = None, bias: bool = True, eps: float = 1e-12, dim: int = -1
    ):
        super().__init__()
        self.in_type = self.out_type = field_type
        self.fn = torch.relu if fn is None else fn
        self.eps, self.dim = eps, int(dim)
        pointwise = field_type.mask("0", "reg")
        self.register_buffer("pointwise", as_tensor(pointwise), persistent=False)
        # which branches the type needs: both are computed for every channel only when it mixes them
        self._any_pointwise, self._all_pointwise = bool(pointwise.any()), bool(pointwise.all())
        # every field scaled by its norm has one channel (sign fields): the norm is |x| channel by channel
        scaled_fields = field_type.field_of_channel[~pointwise]
        self._one_channel_norms = len(np.unique(scaled_fields)) == len(scaled_fields)
        self.register_buffer("field_of", as_tensor(field_type.field_of_channel), persistent=False)
        self.bias = nn.Parameter(torch.zeros(field_type.n_fields)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = check_channels(x, self.in_type, self.dim, type(self).__name__)
        b_channel = 0.0 if self.bias is None else along(self.bias.to(x.dtype)[self.field_of], dim, x.dim())
        if self._all_pointwise:  # trivial and regular fields only: no norms to take
            return self.fn(x + b_channel)
        if self._one_channel_norms:  # no sums over the channels of a field to take
            norm = torch.sqrt(x * x + self.eps)
            scaled = x * (self.fn(norm + b_channel) / norm)
        else:
            shape = list(x.shape)
            shape[dim] = self.in_type.n_fields
            sq = x.new_zeros(shape).index_add_(dim, self.field_of, x * x)
            norm = torch.sqrt(sq + self.eps)
            b = 0.0 if self.bias is None else along(self.bias.to(x.dtype), dim, x.dim())
            scaled = x * (self.fn(norm + b) / norm).index_select(dim, self.field_of)
        if not self._any_pointwise:
            return scaled
        return torch.where(along(self.pointwise, dim, x.dim()), self.fn(x + b_channel), scaled)

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}, dim={self.dim}"


class GatedNonlinearity(nn.Module):
    """Gates: every non-trivial field of ``out_type`` is multiplied by ``sigmoid`` of its own
    trivial gate channel; trivial fields go through ``fn``.

    The input type is ``out_type + "Gx0"`` (G = number of non-trivial fields of ``out_type``),
    available as ``.in_type``, so the preceding layer should output ``in_type``.

    Parameters
    ----------
    out_type : FieldType
    fn : elementwise function for the trivial fields, default ``torch.relu``
    dim : the channel axis of the input

    Shapes
    ------
    x : ``C_in`` channels on axis ``dim`` -> ``C_out`` channels there, other axes unchanged
    """

    def __init__(self, out_type: FieldType, fn: Callable | None = None, dim: int = -1):
        super().__init__()
        self.out_type, self.dim = out_type, int(dim)
        self.fn = torch.relu if fn is None else fn
        trivial = out_type.mask("0")
        gated = np.unique(out_type.field_of_channel[~trivial])  # fields that get a gate
        self.n_gates = len(gated)
        self.in_type = out_type + FieldType(f"{self.n_gates}x0", group=out_type.group) if self.n_gates else out_type
        rank = np.zeros(out_type.n_fields, dtype=np.int64)
        rank[gated] = np.arange(self.n_gates)
        gate_of = np.where(trivial, 0, out_type.dim + rank[out_type.field_of_channel])
        self.register_buffer("trivial", as_tensor(trivial), persistent=False)
        self.register_buffer("gate_of", as_tensor(gate_of), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = check_channels(x, self.in_type, self.dim, type(self).__name__)
        fields = x.narrow(dim, 0, self.out_type.dim)
        gates = torch.sigmoid(x.index_select(dim, self.gate_of))
        return torch.where(along(self.trivial, dim, x.dim()), self.fn(fields), fields * gates)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, group={self.out_type.group}, dim={self.dim}"
