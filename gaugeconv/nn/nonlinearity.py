"""Gauge-equivariant nonlinearities: regular (sampled), norm and gated.

All act per vertex on the last axis: x (..., C) -> (..., C'), any leading shape.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from .util import field_index


def _bands(ftype: FieldType):
    """Group the fields into ``m`` bands, band i = the i-th copy of every kind; returns
    ``(kinds, index)`` with index (m, d) the channels of every band."""
    copies = {}
    for kind, start, width in ftype:
        copies.setdefault(kind, []).append(list(range(start, start + width)))
    mults = {kind: len(v) for kind, v in copies.items()}
    if len(set(mults.values())) != 1:
        raise ValueError(
            f"RegularNonlinearity needs the same multiplicity for every kind, e.g. '8x0 + 8x1 + 8x2'; got {ftype}"
        )
    kinds = sorted(copies, key=lambda k: (int(k.rstrip("-")), k.endswith("-")))
    m = next(iter(mults.values()))
    index = [[c for kind in kinds for c in copies[kind][i]] for i in range(m)]
    return kinds, np.array(index, dtype=np.int64)


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
    ftype : FieldType; input and output type
    samples : N, number of sampled rotations
    fn : elementwise function, default ``torch.relu``
    """

    def __init__(self, ftype: FieldType, samples: int = 15, fn: Callable | None = None):
        super().__init__()
        self.in_type = self.out_type = ftype
        self.fn = torch.relu if fn is None else fn
        self.samples = int(samples)
        if ftype.order:
            bad = [k for _, k in ftype.fields if k not in ("0", "reg")]
            if bad:
                raise ValueError(
                    f"RegularNonlinearity on {ftype.group} needs only 'reg' and '0' fields, got {bad[0]!r}; "
                    "use NormNonlinearity or GatedNonlinearity"
                )
            self.register_buffer("index", None, persistent=False)
            return
        kinds, index = _bands(ftype)
        max_order = max(int(k.rstrip("-")) for k in kinds)
        if self.samples <= 2 * max_order:
            raise ValueError(f"samples must be > 2 * highest order = {2 * max_order}, got {samples}")
        n = self.samples
        angle = 2 * np.pi * np.arange(n) / n
        flip = np.zeros(n, bool)
        if ftype.has_reflections:
            angle, flip = np.concatenate([angle, angle]), np.concatenate([flip, ~flip])
        band = FieldType(" + ".join(kinds), group=ftype.group)
        # f(g) = [rho(g)^-1 x]_0 summed over kinds = (rho(g) e_0-rows)^T x; rows of sample matrix
        rho = band.rho(angle, flip)  # (S, d, d)
        firsts = np.array([start for _, start, _ in band])
        sample = rho[:, :, firsts].sum(axis=2)  # (S, d): f(g) = sum_k (rho(g) e_0k) . x
        project = np.linalg.pinv(sample)  # (d, S)
        self.register_buffer("index", torch.as_tensor(index.reshape(-1)), persistent=False)
        self.register_buffer("sample_matrix", torch.as_tensor(sample), persistent=False)
        self.register_buffer("project_matrix", torch.as_tensor(project), persistent=False)
        self.register_buffer("inverse_index", torch.as_tensor(np.argsort(index.reshape(-1))), persistent=False)
        self._band_dim = index.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., C) -> (..., C)."""
        if x.shape[-1] != self.in_type.dim:
            raise ValueError(f"RegularNonlinearity: x has {x.shape[-1]} channels, expected {self.in_type.dim}")
        if self.index is None:
            return self.fn(x)
        bands = x.index_select(-1, self.index).unflatten(-1, (-1, self._band_dim))  # (..., m, d)
        values = bands @ self.sample_matrix.to(x.dtype).T  # (..., m, S)
        out = self.fn(values) @ self.project_matrix.to(x.dtype).T  # (..., m, d)
        return out.flatten(-2).index_select(-1, self.inverse_index)

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}, samples={self.samples}"


class NormNonlinearity(nn.Module):
    """``x -> x fn(|x| + b) / |x|`` on every non-trivial field, ``fn(x + b)`` on trivial ones.

    Exactly equivariant for every field kind (norms are invariant). One learned bias per field.

    Parameters
    ----------
    ftype : FieldType; input and output type
    fn : elementwise function, default ``torch.relu``
    bias : learn the biases b (initialised to zero)
    eps : added under the square root of the norm
    """

    def __init__(self, ftype: FieldType, fn: Callable | None = None, bias: bool = True, eps: float = 1e-12):
        super().__init__()
        self.in_type = self.out_type = ftype
        self.fn = torch.relu if fn is None else fn
        self.eps = eps
        trivial, field_of, n_fields = field_index(ftype)
        self.register_buffer("trivial", torch.as_tensor(trivial), persistent=False)
        self.register_buffer("field_of", torch.as_tensor(field_of), persistent=False)
        self.n_fields = n_fields
        self.bias = nn.Parameter(torch.zeros(n_fields)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., C) -> (..., C)."""
        if x.shape[-1] != self.in_type.dim:
            raise ValueError(f"NormNonlinearity: x has {x.shape[-1]} channels, expected {self.in_type.dim}")
        sq = x.new_zeros(*x.shape[:-1], self.n_fields).index_add_(-1, self.field_of, x * x)
        norm = torch.sqrt(sq + self.eps)
        b = 0.0 if self.bias is None else self.bias.to(x.dtype)
        scale = (self.fn(norm + b) / norm).index_select(-1, self.field_of)
        pointwise = self.fn(x + (0.0 if self.bias is None else b.index_select(0, self.field_of)))
        return torch.where(self.trivial, pointwise, x * scale)

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}"


class GatedNonlinearity(nn.Module):
    """Gates: every non-trivial field of ``out_type`` is multiplied by ``sigmoid`` of its own
    trivial gate channel; trivial fields go through ``fn``.

    The input type is ``out_type + "Gx0"`` (G = number of non-trivial fields of ``out_type``),
    available as ``.in_type``, so the preceding layer should output ``in_type``.

    Parameters
    ----------
    out_type : FieldType
    fn : elementwise function for the trivial fields, default ``torch.relu``
    """

    def __init__(self, out_type: FieldType, fn: Callable | None = None):
        super().__init__()
        self.out_type = out_type
        self.fn = torch.relu if fn is None else fn
        trivial, field_of, _ = field_index(out_type)
        gated = sorted({int(f) for f, t in zip(field_of, trivial) if not t})
        self.n_gates = len(gated)
        self.in_type = out_type + FieldType(f"{self.n_gates}x0", group=out_type.group) if self.n_gates else out_type
        gate_of = np.full(out_type.dim, -1, dtype=np.int64)
        rank = {f: i for i, f in enumerate(gated)}
        for c, (f, t) in enumerate(zip(field_of, trivial)):
            if not t:
                gate_of[c] = out_type.dim + rank[int(f)]
        self.register_buffer("trivial", torch.as_tensor(trivial), persistent=False)
        self.register_buffer("gate_of", torch.as_tensor(np.where(gate_of < 0, 0, gate_of)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., C_in) -> (..., C_out)."""
        if x.shape[-1] != self.in_type.dim:
            raise ValueError(f"GatedNonlinearity: x has {x.shape[-1]} channels, expected {self.in_type.dim}")
        fields = x[..., : self.out_type.dim]
        gates = torch.sigmoid(x.index_select(-1, self.gate_of))
        return torch.where(self.trivial, self.fn(fields), fields * gates)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, group={self.out_type.group}"
