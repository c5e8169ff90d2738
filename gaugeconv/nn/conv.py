"""`GaugeConv`: the gauge-equivariant convolution on the one-ring of every vertex.

Formulation (measured in ``benchmarks/layers.py``; see ``docs/layers.md``). With complex
numbers for the irreps (:mod:`gaugeconv.nn.kernel`), a message ``K(r, theta) rho_in(T) x_q`` only
multiplies by per-edge phases ``e^{i (n theta + l alpha)}`` (conjugating across flipped
transporters) and then by complex weights that do not depend on the edge. The layer therefore

1. aggregates, for every input order ``l``, the few angular moments it needs,
   ``S_{n,j}[p] = sum_{q -> p} h_j(r) / deg(p) e^{i (n theta + l alpha)} conj^f(x_q)``; every
   moment feeds exactly one output order ``|l + n|``, so the moments of one (input order, output
   order) pair come from one sparse (CSR) matrix product whose entries are the per-edge phases and
   ring weights, built on the first use of a geometry and kept on it
   (:func:`~gaugeconv.nn.operators.gauge_operators`);
2. applies the weights per vertex: one dense matrix product per (input order, output order);
3. adds the self-interaction (commuting with rho) and the biases (on the invariant directions).

The weights are the intertwiners found by the one solver (:mod:`gaugeconv.nn.kernel`); the sparse
operators are built in :mod:`gaugeconv.nn.operators`. The per-edge work is a fused
gather-multiply-add without (E, C) intermediates; memory is linear in the number of edges. C_N
and D_N types are first mapped to SO(2)/O(2) irreps by :meth:`FieldType.to_irreps` and back at
the end.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..buffers import Geometry
from ..groups import FieldType
from .kernel import KernelPlan
from .operators import gauge_operators, sparse_moments
from .util import as_tensor, check_gain, check_input, require_torch_geometry

__all__ = ["GaugeConv"]


class GaugeConv(nn.Module):
    """Gauge-equivariant convolution ``in_type -> out_type`` over the one-ring neighbourhoods.

    ``y_p = W0 x_p + bias + aggr_{q -> p} K(r_e, theta_e) rho_in(T_e) x_q`` with
    ``K(r, theta) = rho_out(theta) W(r) rho_in(theta)^-1``, ``W(r)`` linear between radial rings,
    reflection-symmetric for O(2) types, ``W0`` commuting with rho, biases on the invariant
    directions (:func:`~gaugeconv.nn.kernel.invariant_basis`: the trivial fields).

    Parameters
    ----------
    in_type, out_type : FieldType of the same group ("SO2", "O2", "C<N>", "D<N>")
    rings : number of radial rings (hat functions centred at ``(j + 1) / rings * radius``)
    band_limit : keep kernel terms of angular frequency ``|n| <= band_limit`` (``n = l_out - l_in``
        or ``l_out + l_in``); None keeps all
    bias : add a learned bias on the invariant output directions (the trivial ``0`` fields)
    aggr : "mean" (divide by the number of neighbours) or "sum"
    radius : ring scale in mesh units; None uses, per mesh, the longest edge (``log_r.max()``),
        which is gauge invariant, isometry invariant and independent of vertex order

    The sparse operators are built on the first call on a geometry and kept on it, for as long as
    it lives; layers with the same input orders, rings, band limit, radius and aggregation share
    them (:mod:`gaugeconv.nn.operators`).

    Shapes
    ------
    x : (V, C_in) or (B, V, C_in), B feature sets on the same geometry
    output : (V, C_out) or (B, V, C_out)
    """

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        rings: int = 2,
        band_limit: int | None = None,
        bias: bool = True,
        aggr: str = "mean",
        radius: float | None = None,
    ):
        super().__init__()
        if not isinstance(in_type, FieldType) or not isinstance(out_type, FieldType):
            raise ValueError("in_type and out_type must be FieldType instances, e.g. FieldType('8x0 + 4x1')")
        if in_type.group != out_type.group:
            raise ValueError(f"in_type and out_type must share a group, got {in_type.group} and {out_type.group}")
        if not isinstance(rings, int) or rings < 1:
            raise ValueError(f"rings must be an integer >= 1, got {rings!r}")
        if band_limit is not None and (not isinstance(band_limit, int) or band_limit < 0):
            raise ValueError(f"band_limit must be None or an integer >= 0, got {band_limit!r}")
        if aggr not in ("mean", "sum"):
            raise ValueError(f"aggr must be 'mean' or 'sum', got {aggr!r}")
        if radius is not None and not radius > 0:
            raise ValueError(f"radius must be positive or None, got {radius!r}")
        self.in_type, self.out_type = in_type, out_type
        self.rings, self.band_limit, self.aggr, self.radius = rings, band_limit, aggr, radius
        in_irreps, q_in = in_type.to_irreps()
        out_irreps, q_out = out_type.to_irreps()
        self.plan = plan = KernelPlan(in_irreps, out_irreps, rings, band_limit)
        identity_in = in_irreps is in_type
        identity_out = out_irreps is out_type
        # input: x_sorted = x @ in_proj (or a column gather); output: y = y_sorted @ out_proj
        self.register_buffer("in_index", as_tensor(plan.in_sorted), persistent=False)
        self.register_buffer("out_index", as_tensor(np.argsort(plan.out_sorted)), persistent=False)
        in_proj = None if identity_in else as_tensor(q_in[plan.in_sorted].T)
        out_proj = None if identity_out else as_tensor(q_out[plan.out_sorted])
        self.register_buffer("in_proj", in_proj, persistent=False)
        self.register_buffer("out_proj", out_proj, persistent=False)
        tables = ("pos", "param", "sign", "self_pos", "self_param", "self_sign", "bias_pos", "bias_param", "bias_sign")
        for name in tables:
            self.register_buffer(f"_{name}", as_tensor(getattr(plan, name)), persistent=False)
        self.weight = nn.Parameter(torch.empty(plan.n_params))
        self.self_weight = nn.Parameter(torch.empty(plan.n_self_params))
        self.bias = nn.Parameter(torch.empty(plan.n_bias)) if (bias and plan.n_bias) else None
        self._group_widths = [len(g.channels) for g in plan.groups]
        # this layer's entry in the geometry's store: its types were checked, its operators built
        self._key = ("GaugeConv", in_type.group, str(in_type), str(out_type), rings, band_limit, radius, aggr)
        self.reset_parameters()

    # ------------------------------------------------------------------ parameters
    def reset_parameters(self, gain: float = 1.0) -> None:
        """Normal weights of variance ``gain / (2 fan)``, ``fan`` the number of weights feeding the
        weight's output channel in its term (the neighbour and self terms share the variance
        ``gain / fan`` equally); zero biases."""
        check_gain(gain)
        width = len(self.plan.out_sorted)
        with torch.no_grad():
            for w, pos, param, n_flat in (
                (self.weight, self._pos, self._param, None),
                (self.self_weight, self._self_pos, self._self_param, width),
            ):
                if w.numel() == 0:
                    continue
                col = self._columns(pos) if n_flat is None else pos % n_flat
                fan = torch.bincount(col, minlength=width).clamp(min=1).to(torch.float64)
                first = torch.full((w.numel(),), -1, dtype=torch.int64)
                first[param.flip(0)] = col.flip(0)
                w.copy_(torch.randn(w.numel(), dtype=torch.float64) / torch.sqrt(2.0 * fan[first] / gain))
            if self.bias is not None:
                self.bias.zero_()

    def _columns(self, pos: torch.Tensor) -> torch.Tensor:
        """Sorted-layout output column of every flat neighbour-table position."""
        col = torch.empty_like(pos)
        for (gi, lo), (offset, rows, width) in self.plan.block_offset.items():
            inside = (pos >= offset) & (pos < offset + rows * width)
            col[inside] = (pos[inside] - offset) % width + self.plan.out_offset[lo]
        return col

    def _matrices(self, dtype):
        """The flat neighbour blocks, the self-interaction (D_in, D_out) and the bias (D_out,) in
        the sorted layouts, from the weights and the solver's tables."""
        w = self.weight.to(dtype)
        flat = w.new_zeros(self.plan.n_flat).index_add_(0, self._pos, w[self._param] * self._sign.to(dtype))
        s = self.self_weight.to(dtype)
        self_flat = s.new_zeros(self.plan.n_self_flat).index_add_(
            0, self._self_pos, s[self._self_param] * self._self_sign.to(dtype)
        )
        bias = None
        if self.bias is not None:
            b = self.bias.to(dtype)
            bias = b.new_zeros(len(self.plan.out_sorted)).index_add_(
                0, self._bias_pos, b[self._bias_param] * self._bias_sign.to(dtype)
            )
        return flat, self_flat.view(-1, len(self.plan.out_sorted)), bias

    # ------------------------------------------------------------------ geometry operators
    def _operators(self, geometry, dtype, device) -> list:
        """The operators on ``geometry`` (built on its first use, then a dictionary lookup)."""
        ops = geometry._operators.get((self._key, dtype, device))
        return self._prepare(geometry, dtype, device) if ops is None else ops

    @torch.compiler.disable
    def _prepare(self, geometry, dtype, device) -> list:
        """Check the types against ``geometry`` and build (or find) the operators; outside of
        ``torch.compile``'s graphs (once per geometry)."""
        self.in_type.check_geometry(geometry)
        self.out_type.check_geometry(geometry)
        ops = gauge_operators(geometry, self.plan, self.radius, self.aggr, dtype, device)
        geometry._operators[(self._key, dtype, device)] = ops
        return ops

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        """Apply the convolution.

        Parameters
        ----------
        x : (V, C_in) or (B, V, C_in)
        geometry : torch :class:`~gaugeconv.Geometry` (``geometry.to_torch(dtype)``)

        Returns
        -------
        (V, C_out) or (B, V, C_out)
        """
        require_torch_geometry(geometry, type(self).__name__)
        xb, squeeze = check_input(x, geometry, self.in_type.dim, type(self).__name__)
        B, V, _ = xb.shape
        dtype = xb.dtype
        ops = self._operators(geometry, dtype, xb.device)
        if self.in_proj is None:
            x_sorted = xb.index_select(-1, self.in_index)
        else:
            x_sorted = xb @ self.in_proj.to(dtype)
        flat, w_self, bias = self._matrices(dtype)
        widths = [self.plan.outputs[lo].width for lo in self.plan.out_offset]
        # split (not slice): its backward concatenates instead of zero-filling full-size gradients
        x2 = x_sorted.reshape(B * V, -1)
        own = x2 @ w_self if bias is None else torch.addmm(bias, x2, w_self)  # self-interaction and bias
        parts = dict(zip(self.plan.out_offset, own.split(widths, dim=1)))
        for gi, (g, pairs, xg) in enumerate(zip(self.plan.groups, ops, x_sorted.split(self._group_widths, -1))):
            xs = xg.permute(1, 2, 0).reshape(V * g.k, g.m * B)  # rows (q, kk), columns (i, b)
            for (lo, (b0, b1)), op in zip(g.out_range.items(), pairs):
                nb = b1 - b0
                s = sparse_moments(op, xs)  # (V nb, m B): rows (p, block)
                if B == 1:
                    s = s.view(V, nb * g.m)
                else:
                    s = s.view(V, nb, g.m, B).permute(3, 0, 1, 2).reshape(B * V, nb * g.m)
                offset, rows, width = self.plan.block_offset[(gi, lo)]
                parts[lo] = torch.addmm(parts[lo], s, flat[offset : offset + rows * width].view(rows, width))
        out = torch.cat([parts[lo] for lo in self.plan.out_offset], dim=1)
        if self.out_proj is None:
            out = out.index_select(1, self.out_index)
        else:
            out = out @ self.out_proj.to(dtype)
        out = out.view(B, V, -1)
        return out[0] if squeeze else out

    def extra_repr(self) -> str:
        n = self.weight.numel() + self.self_weight.numel() + (0 if self.bias is None else self.bias.numel())
        group = "" if self.in_type.group == "SO2" else f"{self.in_type.group}: "
        bl = "" if self.band_limit is None else f", band_limit={self.band_limit}"
        return f"{group}{self.in_type} -> {self.out_type}, rings={self.rings}{bl}, aggr={self.aggr} | {n} weights"
