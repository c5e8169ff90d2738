"""The per-geometry sparse operators of :class:`~gaugeconv.nn.GaugeConv`, built in one place.

For every input kind of a layer's :class:`~gaugeconv.nn.kernel.KernelPlan` and every output order
it feeds, one CSR matrix maps the neighbours' features to the angular moments
``S_{n,j}[p] = sum_{q -> p} h_j(r) / deg(p) e^{i (n theta + l alpha)} conj^f(x_q)`` (phases and
ring weights are its entries), with its transpose for the backward. They are built once per
geometry (:func:`build_operators`) and kept in an :class:`OperatorCache` keyed on the geometry
object; memory is linear in the number of edges.
"""

from __future__ import annotations

import warnings
import weakref

import torch

from .kernel import KernelPlan
from .util import graph_index

__all__ = ["OperatorCache", "SparseMatMul", "build_operators", "ring_weights"]


def _spmm(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Sparse CSR ``a`` times dense ``x``, written straight into a row-major result (``beta=0``
    ignores its uninitialised content); about 2x faster than ``torch.sparse.mm``, which fills
    and copies an intermediate."""
    x = x.contiguous()
    out = torch.empty(a.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    return torch.addmm(out, a, x, beta=0.0, alpha=1.0, out=out)


class SparseMatMul(torch.autograd.Function):
    """``a @ x`` for a constant sparse CSR ``a``; the backward uses the precomputed transpose."""

    @staticmethod
    def forward(ctx, a, a_t, x):
        ctx.a, ctx.a_t = a, a_t
        return _spmm(a, x)

    @staticmethod
    def backward(ctx, grad):
        return None, None, SparseMatMul.apply(ctx.a_t, ctx.a, grad.contiguous())


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


@torch.no_grad()
def build_operators(geometry, plan: KernelPlan, radius, aggr: str, dtype, device) -> list:
    """The CSR operators of ``plan`` on ``geometry``: per input group, one ``(a, a_transposed)`` pair
    per output order it feeds; ``a`` is ``(V * blocks, V * k)`` (rows (p, block), columns (q, component)).

    Parameters
    ----------
    geometry : torch Geometry
    plan : the layer's KernelPlan (blocks ``(n, ring, part)`` of every input group)
    radius : ring scale, or None for the longest edge of each mesh
    aggr : "mean" or "sum"
    dtype, device : of the operators
    """
    V = geometry.n_vertices
    q, p = geometry.edge_index.to(device)
    theta = geometry.log_theta.to(device, torch.float64)
    alpha = geometry.transport_angle.to(device, torch.float64)
    sigma = 1.0 - 2.0 * geometry.transport_flip.to(device, torch.float64)
    log_r = geometry.log_r.to(device, torch.float64)
    if radius is not None:
        r_max = torch.full_like(log_r, float(radius))
    else:
        graph = graph_index(geometry).to(device)
        n_graphs = int(graph.max()) + 1 if V else 0
        per_graph = torch.zeros(n_graphs, dtype=torch.float64, device=device)
        per_graph = per_graph.scatter_reduce(0, graph[p], log_r, reduce="amax", include_self=False)
        r_max = per_graph[graph[p]].clamp(min=torch.finfo(torch.float64).tiny)
    h = ring_weights(log_r, r_max, plan.rings)  # (R, E)
    if aggr == "mean":
        deg = torch.bincount(p, minlength=V).clamp(min=1).to(torch.float64)
        h = h / deg[p]
    ops, memo = [], {}
    for g in plan.groups:
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
