"""`GaugeConv`: the gauge-equivariant convolution on the one-ring of every vertex.

Formulation (measured in ``benchmarks/layers.py``; see ``docs/layers.md``). With complex
numbers for the irreps (:mod:`gaugeconv.nn.kernel`), a message ``K(r, theta) rho_in(T) x_q`` only
multiplies by per-edge phases ``e^{i (n theta + l alpha)}`` (conjugating across flipped
transporters) and then by complex weights that do not depend on the edge. The layer therefore

1. aggregates, for every input order ``l``, the few angular moments it needs,
   ``S_{n,j}[p] = sum_{q -> p} h_j(r) / deg(p) e^{i (n theta + l alpha)} conj^f(x_q)``; every
   moment feeds exactly one output order ``|l + n|``, so the moments of one (input order, output
   order) pair come from one sparse (CSR) matrix product whose entries are the per-edge phases and
   ring weights, built once per geometry (:class:`OperatorCache`, keyed on the geometry object);
2. applies the weights per vertex: one dense matrix product per (input order, output order);
3. adds the self-interaction (commuting with rho) and biases on trivial fields.

The per-edge work is a fused gather-multiply-add without (E, C) intermediates; memory is linear in
the number of edges. C_N and D_N types are first mapped to SO(2)/O(2) irreps by
:meth:`FieldType.to_irreps` and back at the end.
"""

from __future__ import annotations

import warnings
import weakref

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from .kernel import KernelPlan
from .util import check_input, graph_index, require_torch_geometry


def _spmm(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sparse CSR ``a`` times dense ``x``, written straight into a row-major result (``beta=0``
    ignores its uninitialised content); about 2x faster than ``torch.sparse.mm``, which fills
    and copies an intermediate."""
    x = x.contiguous()
    out = torch.empty(a.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    return torch.addmm(out, a, x, beta=0.0, alpha=1.0, out=out)


class _SparseMatMul(torch.autograd.Function):
    """``a @ x`` for a constant sparse CSR ``a``; the backward uses the precomputed transpose."""

    @staticmethod
    def forward(ctx, a, a_t, x):
        ctx.a, ctx.a_t = a, a_t
        return _spmm(a, x)

    @staticmethod
    def backward(ctx, grad):
        return None, None, _SparseMatMul.apply(ctx.a_t, ctx.a, grad.contiguous())


def ring_weights(log_r: torch.Tensor, r_max: torch.Tensor, rings: int) -> torch.Tensor:
    """Hat functions of the radius: ring j is centred at ``(j + 1) / rings * r_max``.

    Below the first centre the weight stays on ring 0, above ``r_max`` on the last ring; the
    weights of one edge sum to 1.

    Returns
    -------
    (rings, E) tensor
    """
    u = (log_r / r_max * rings - 1.0).clamp(0.0, rings - 1.0)
    j = torch.arange(rings, dtype=u.dtype, device=u.device)[:, None]
    return (1.0 - (u[None, :] - j).abs()).clamp(min=0.0)


def _csr_structure(rows_of_edge, cols_of_edge, n_rows, n_cols, nb, k, n_edges):
    """Index structure of :func:`_csr`: (table row of every slot, col_indices, crow_indices)."""
    device = rows_of_edge.device
    order = torch.argsort(rows_of_edge, stable=True)
    deg = torch.bincount(rows_of_edge, minlength=n_rows)
    start = torch.cumsum(deg, 0) - deg
    vertex = torch.repeat_interleave(torch.arange(n_rows, device=device), nb * deg)  # row vertex of every slot
    i = torch.arange(vertex.numel(), device=device) - nb * start[vertex]
    d = deg[vertex]
    block = torch.div(i, d, rounding_mode="floor")
    edge = order[start[vertex] + i - block * d]
    index_dtype = torch.int32 if max(vertex.numel() * k, n_cols * k) < 2**31 - 1 else torch.int64
    kk = torch.arange(k, device=device)
    cols = (cols_of_edge.index_select(0, edge)[:, None] * k + kk[None, :]).to(index_dtype).reshape(-1)
    crow = torch.zeros(n_rows * nb + 1, dtype=torch.int64, device=device)
    crow[1:] = torch.cumsum((k * deg).repeat_interleave(nb), 0)
    return block * n_edges + edge, cols, crow.to(index_dtype)


def _csr(table, rows_of_edge, cols_of_edge, n_rows, n_cols, memo: dict):
    """CSR matrix (n_rows * nb, n_cols * k) with ``table[b, e, kk]`` (nb, E, k) at row
    ``rows_of_edge[e] * nb + b``, column ``cols_of_edge[e] * k + kk``.

    Entries are gathered directly in CSR order (row vertex, block, edge, kk) with one row gather
    of the table: no sort of the nonzeros, no scatter. Indices are int32 where they fit; matrices
    of the same shape share their index tensors through ``memo``.
    """
    nb, n_edges, k = table.shape
    key = (id(rows_of_edge), nb, k)
    if key not in memo:
        memo[key] = _csr_structure(rows_of_edge, cols_of_edge, n_rows, n_cols, nb, k, n_edges)
    slot_rows, cols, crow = memo[key]
    vals = table.reshape(nb * n_edges, k).index_select(0, slot_rows)  # (slots, k)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(
            crow, cols, vals.reshape(-1), size=(n_rows * nb, n_cols * k), check_invariants=False
        )


class OperatorCache:
    """The sparse operators of GaugeConv layers, per geometry and layer signature.

    Weakly keyed on the geometry object (the cache never keeps a geometry alive; entries vanish
    with it). Holds the ``max_geometries`` most recently used geometries (default 1: the latest;
    None: every live geometry, e.g. when training cycles through a fixed list of batches).
    Share one instance between layers to build common operators once. Emptied when pickled or
    copied.

    Parameters
    ----------
    max_geometries : int >= 1 or None
    """

    def __init__(self, max_geometries: int | None = 1):
        if max_geometries is not None and (not isinstance(max_geometries, int) or max_geometries < 1):
            raise ValueError(f"max_geometries must be None or an integer >= 1, got {max_geometries!r}")
        self.max_geometries = max_geometries
        self._ops = weakref.WeakKeyDictionary()  # geometry -> {key: operators}
        self._order = []  # weak references, least recently used first

    def get(self, geometry, key, build):
        """``build()`` once per (geometry, key); ``geometry`` must stay the same object."""
        entry = self._ops.get(geometry)
        if entry is None:
            entry = self._ops[geometry] = {}
        self._order = [r for r in self._order if r() is not None and r() is not geometry]
        self._order.append(weakref.ref(geometry))
        if self.max_geometries is not None:
            while len(self._order) > self.max_geometries:
                old = self._order.pop(0)()
                if old is not None:
                    self._ops.pop(old, None)
        if key not in entry:
            entry[key] = build()
        return entry[key]

    def __len__(self) -> int:
        """Number of cached (geometry, layer signature) entries."""
        return sum(len(entry) for entry in self._ops.values())

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached sparse matrices."""
        seen = {}
        for entry in self._ops.values():
            for ops in entry.values():
                for pairs in ops:
                    for a in (m for pair in pairs for m in pair):
                        for t in (a.crow_indices(), a.col_indices(), a.values()):
                            seen[t.data_ptr()] = t.numel() * t.element_size()  # shared index tensors once
        return sum(seen.values())

    def __getstate__(self):
        return {"max_geometries": self.max_geometries}

    def __setstate__(self, state):
        self.__init__(state["max_geometries"])


class GaugeConv(nn.Module):
    """Gauge-equivariant convolution ``in_type -> out_type`` over the one-ring neighbourhoods.

    ``y_p = W0 x_p + bias + aggr_{q -> p} K(r_e, theta_e) rho_in(T_e) x_q`` with
    ``K(r, theta) = rho_out(theta) W(r) rho_in(theta)^-1``, ``W(r)`` linear between radial rings,
    reflection-symmetric for O(2) types, ``W0`` commuting with rho, biases on trivial fields only.

    Parameters
    ----------
    in_type, out_type : FieldType of the same group ("SO2", "O2", "C<N>", "D<N>")
    rings : number of radial rings (hat functions centred at ``(j + 1) / rings * radius``)
    band_limit : keep kernel terms of angular frequency ``|n| <= band_limit`` (``n = l_out - l_in``
        or ``l_out + l_in``); None keeps all
    bias : add a learned bias to the trivial (``0``) output fields
    aggr : "mean" (divide by the number of neighbours) or "sum"
    radius : ring scale in mesh units; None uses, per mesh, the longest edge (``log_r.max()``),
        which is gauge invariant, isometry invariant and independent of vertex order
    cache : an :class:`OperatorCache` to share with other layers (e.g. all layers of a network:
        layers with the same input orders, rings, band limit, radius and aggregation then build
        their sparse operators once per geometry); default: a private one

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
        cache: OperatorCache | None = None,
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
        self.register_buffer("in_index", torch.as_tensor(plan.in_sorted), persistent=False)
        self.register_buffer("out_index", torch.as_tensor(np.argsort(plan.out_sorted)), persistent=False)
        in_proj = None if identity_in else torch.as_tensor(q_in[plan.in_sorted].T.copy())
        out_proj = None if identity_out else torch.as_tensor(q_out[plan.out_sorted].copy())
        self.register_buffer("in_proj", in_proj, persistent=False)
        self.register_buffer("out_proj", out_proj, persistent=False)
        for name in ("pos", "param", "sign", "self_pos", "self_param", "self_sign"):
            self.register_buffer(f"_{name}", torch.as_tensor(getattr(plan, name)), persistent=False)
        self.weight = nn.Parameter(torch.empty(plan.n_params))
        self.self_weight = nn.Parameter(torch.empty(plan.n_self_params))
        n_bias = plan.outputs[0].n_trivial if 0 in plan.outputs else 0
        self.bias = nn.Parameter(torch.empty(n_bias)) if (bias and n_bias) else None
        self._group_widths = [len(g.channels) for g in plan.groups]
        # layers whose inputs need the same angular moments can share the operators
        self._signature = (tuple((g.kind, tuple(g.blocks)) for g in plan.groups), rings, radius, aggr)
        self.operator_cache = OperatorCache() if cache is None else cache
        self._checked = None
        self.reset_parameters()

    # ------------------------------------------------------------------ parameters
    def reset_parameters(self) -> None:
        """Normal weights scaled by each output channel's fan-in (neighbour and self terms
        share the variance equally); zero biases."""
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
                w.copy_(torch.randn(w.numel(), dtype=torch.float64) / torch.sqrt(2.0 * fan[first]))
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
        w = self.weight.to(dtype)
        flat = w.new_zeros(self.plan.n_flat).index_add_(0, self._pos, w[self._param] * self._sign.to(dtype))
        s = self.self_weight.to(dtype)
        self_flat = s.new_zeros(self.plan.n_self_flat).index_add_(
            0, self._self_pos, s[self._self_param] * self._self_sign.to(dtype)
        )
        return flat, self_flat.view(-1, len(self.plan.out_sorted))

    # ------------------------------------------------------------------ geometry operators
    def _operators(self, geometry, dtype, device):
        checked = self._checked
        if checked is None or checked() is not geometry:
            require_torch_geometry(geometry, type(self).__name__)
            self.in_type.check_geometry(geometry)
            self.out_type.check_geometry(geometry)
            self._checked = weakref.ref(geometry)
        key = (self._signature, dtype, device)
        return self.operator_cache.get(geometry, key, lambda: self._build_operators(geometry, dtype, device))

    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__
        return {**state, "_checked": None}

    @property
    def cache_nbytes(self) -> int:
        """Bytes held by this layer's operator cache (shared with other layers if passed to them)."""
        return self.operator_cache.nbytes

    @torch.no_grad()
    def _build_operators(self, geometry, dtype, device):
        V = geometry.n_vertices
        q, p = geometry.edge_index.to(device)
        theta = geometry.log_theta.to(device, torch.float64)
        alpha = geometry.transport_angle.to(device, torch.float64)
        sigma = 1.0 - 2.0 * geometry.transport_flip.to(device, torch.float64)
        log_r = geometry.log_r.to(device, torch.float64)
        if self.radius is not None:
            r_max = torch.full_like(log_r, float(self.radius))
        else:
            graph = graph_index(geometry).to(device)
            n_graphs = int(graph.max()) + 1 if V else 0
            per_graph = torch.zeros(n_graphs, dtype=torch.float64, device=device)
            per_graph = per_graph.scatter_reduce(0, graph[p], log_r, reduce="amax", include_self=False)
            r_max = per_graph[graph[p]].clamp(min=torch.finfo(torch.float64).tiny)
        h = ring_weights(log_r, r_max, self.rings)  # (R, E)
        if self.aggr == "mean":
            deg = torch.bincount(p, minlength=V).clamp(min=1).to(torch.float64)
            h = h / deg[p]
        ops, memo = [], {}
        for g in self.plan.groups:
            n_b = torch.tensor([b[0] for b in g.blocks], dtype=torch.float64, device=device)[:, None]
            j_b = torch.tensor([b[1] for b in g.blocks], dtype=torch.int64, device=device)
            im_b = torch.tensor([b[2] == 1 for b in g.blocks], dtype=torch.bool, device=device)[:, None]
            # block (n, j, Re/Im) for every edge: Re/Im of h_j(r) e^{i (n theta + l alpha)} (c + i sigma s)
            phase = n_b * theta[None] + g.order * alpha[None]  # (nb, E)
            cos, sin = torch.cos(phase), torch.sin(phase)
            w = h[j_b]  # (nb, E)
            if g.k == 1:  # real input x: Re/Im of e^{i n theta} x (times sigma for sign fields)
                sign = sigma[None] if g.kind == "0-" else 1.0
                table = (torch.where(im_b, sin, cos) * w * sign)[:, :, None]
            else:
                c_part = torch.where(im_b, sin, cos) * w
                s_part = torch.where(im_b, cos, -sin) * w * sigma[None]
                table = torch.stack([c_part, s_part], dim=2)  # (nb, E, 2)
            table = table.to(dtype)
            pairs = []  # one operator per output order: its product needs no slicing (no backward copies)
            for b0, b1 in g.out_range.values():
                sub = table[b0:b1]
                a = _csr(sub, p, q, V, V, memo)
                pairs.append((a, _csr(sub.permute(2, 1, 0).contiguous(), q, p, V, V, memo)))
            ops.append(pairs)
        return ops

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor, geometry) -> torch.Tensor:
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
        flat, w_self = self._matrices(dtype)
        widths = [self.plan.outputs[lo].width for lo in self.plan.out_offset]
        # split (not slice): its backward concatenates instead of zero-filling full-size gradients
        x2 = x_sorted.reshape(B * V, -1)
        parts = dict(zip(self.plan.out_offset, (x2 @ w_self).split(widths, dim=1)))  # self-interaction
        for gi, (g, pairs, xg) in enumerate(zip(self.plan.groups, ops, x_sorted.split(self._group_widths, -1))):
            xs = xg.permute(1, 2, 0).reshape(V * g.k, g.m * B)  # rows (q, kk), columns (i, b)
            for (lo, (b0, b1)), (a, a_t) in zip(g.out_range.items(), pairs):
                nb = b1 - b0
                s = _SparseMatMul.apply(a, a_t, xs)  # (V nb, m B): rows (p, block)
                if B == 1:
                    s = s.view(V, nb * g.m)
                else:
                    s = s.view(V, nb, g.m, B).permute(3, 0, 1, 2).reshape(B * V, nb * g.m)
                offset, rows, width = self.plan.block_offset[(gi, lo)]
                parts[lo] = torch.addmm(parts[lo], s, flat[offset : offset + rows * width].view(rows, width))
        if self.bias is not None:
            trivial = self.plan.outputs[0].n_trivial
            parts[0] = torch.cat([parts[0][:, :trivial] + self.bias.to(dtype), parts[0][:, trivial:]], dim=1)
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"
