"""The sparse operators of :class:`~gaugeconv.nn.GaugeConv`, built once per geometry and kept on it.

For every input kind of a layer's :class:`~gaugeconv.nn.kernel.KernelPlan` and every output order
it feeds, one CSR matrix ``A`` (rows ``(p, block)``, columns ``(q, component)``) maps the
neighbours' features to the angular moments
``S_{n,j}[p] = sum_{q -> p} h_j(r) / deg(p) e^{i (n theta + l alpha)} conj^f(x_q)``; its entries are
the phases and ring weights of the edges. The backward multiplies by ``A^T``, stored as a second
CSR matrix (the same numbers in the order of the edges' sources).

**Where they live.** Every :class:`~gaugeconv.Geometry` has a private dictionary that lives and
dies with the object (it is never saved, copied or pickled). It holds

* per device, the position of every edge among the edges grouped by target and by source (two
  int32 per edge);
* per device and block shape ``(rows per vertex, columns per vertex)``, the CSR index arrays
  (``crow``, ``col``, int32 where they fit), shared by all matrices of that shape of every layer,
  forward and backward;
* per layer signature (input orders and blocks, rings, radius, aggregation), dtype and device,
  the values of the forward and backward matrices;
* the results of the layers' checks of the geometry.

So a layer builds nothing on a geometry it has seen, layers with the same input orders share
their operators, and a loop over a dataset never rebuilds (and never evicts) anything.

**How they are built** (:func:`gauge_operators`): in O(E) memory and time per matrix, without
sorting nonzeros. One argsort of the E edges per direction (kept on the geometry) orders them by
row vertex, then column vertex; the entries of every edge are computed in that order, as a table
``(blocks, E, k)``, and laid out in CSR order ``(row vertex, block, edge, component)`` by one
gather (slot ``(r, b, i)`` reads row ``b E + start[r] + i``).

:func:`sparse_moments` applies one operator; it is a ``torch.library`` custom op (opaque to
``torch.compile``, with a fake implementation and its own autograd), running on whatever device
its inputs are on (CPU: MKL; CUDA: cuSPARSE).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import torch

from .kernel import KernelPlan
from .util import graph_index

__all__ = [
    "SparseOperator",
    "clear_operators",
    "edge_scale",
    "gauge_operators",
    "operator_nbytes",
    "ring_weights",
    "sparse_moments",
]


class SparseOperator(NamedTuple):
    """A CSR matrix ``A`` (``crow``, ``col``, ``values``; rows = ``len(crow) - 1``) and its
    transpose (``crow_t``, ``col_t``, ``values_t``), as plain dense tensors."""

    crow: torch.Tensor
    col: torch.Tensor
    values: torch.Tensor
    crow_t: torch.Tensor
    col_t: torch.Tensor
    values_t: torch.Tensor


# ---------------------------------------------------------------------------------- the product
def _csr_mm(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A @ x`` for the CSR matrix ``(crow, col, values)`` with ``x.shape[0]`` columns; written
    straight into a row-major result (``beta=0`` ignores its uninitialised content), about 2x
    faster than ``torch.sparse.mm``, which fills and copies an intermediate."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        a = torch.sparse_csr_tensor(crow, col, values, size=(crow.shape[0] - 1, x.shape[0]), check_invariants=False)
    x = x.contiguous()
    out = torch.empty(a.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    return torch.addmm(out, a, x, beta=0.0, alpha=1.0, out=out)


@torch.library.custom_op("gaugeconv::sparse_moments", mutates_args=())
def _sparse_moments(
    x: torch.Tensor,
    crow: torch.Tensor,
    col: torch.Tensor,
    values: torch.Tensor,
    crow_t: torch.Tensor,
    col_t: torch.Tensor,
    values_t: torch.Tensor,
) -> torch.Tensor:
    return _csr_mm(crow, col, values, x)


@_sparse_moments.register_fake
def _(x, crow, col, values, crow_t, col_t, values_t):
    return x.new_empty(crow.shape[0] - 1, x.shape[1])


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs[1:])


def _backward(ctx, grad):
    crow, col, values, crow_t, col_t, values_t = ctx.saved_tensors
    grad_x = _sparse_moments(grad, crow_t, col_t, values_t, crow, col, values)  # A^T grad (its own adjoint: A)
    return grad_x, None, None, None, None, None, None


_sparse_moments.register_autograd(_backward, setup_context=_setup_context)


class _SparseMoments(torch.autograd.Function):
    """The eager path of :func:`sparse_moments` (the custom op's first eager call imports much of
    torch's compiler stack, about 2 s once per process)."""

    @staticmethod
    def forward(ctx, x, crow, col, values, crow_t, col_t, values_t):
        ctx.save_for_backward(crow, col, values, crow_t, col_t, values_t)
        return _csr_mm(crow, col, values, x)

    @staticmethod
    def backward(ctx, grad):
        crow, col, values, crow_t, col_t, values_t = ctx.saved_tensors
        grad_x = _SparseMoments.apply(grad, crow_t, col_t, values_t, crow, col, values)
        return grad_x, None, None, None, None, None, None


def sparse_moments(op: SparseOperator, x: torch.Tensor) -> torch.Tensor:
    """``op.A @ x`` with the backward ``op.A^T @ grad`` (and a double backward).

    Under ``torch.compile`` this is the custom op ``gaugeconv::sparse_moments`` (one opaque node
    of the graph, no graph break); in eager mode an autograd function with the same kernels.

    Parameters
    ----------
    op : SparseOperator of shape (R, N)
    x : (N, W) dense, same device and dtype as ``op.values``

    Returns
    -------
    (R, W)
    """
    if torch.compiler.is_compiling():
        return _sparse_moments(x, *op)
    return _SparseMoments.apply(x, *op)


# ---------------------------------------------------------------------------------- the store
def _store(geometry) -> dict:
    store = getattr(geometry, "_operators", None)
    if not isinstance(store, dict):
        raise ValueError(f"expected a gaugeconv.Geometry, got {type(geometry).__name__}")
    return store


def clear_operators(geometry) -> None:
    """Free the operators (and check results) the layers keep on ``geometry``; they are rebuilt
    on its next use. Only needed to bound memory, e.g. when inference on a large mesh is done."""
    _store(geometry).clear()


def operator_nbytes(geometry) -> int:
    """Bytes held by the operators kept on ``geometry`` (every tensor storage counted once)."""
    seen = {}

    def visit(value):
        if isinstance(value, torch.Tensor):
            storage = value.untyped_storage()
            seen[(storage.data_ptr(), value.device)] = storage.nbytes()
        elif isinstance(value, (tuple, list)):
            for v in value:
                visit(v)
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)

    visit(_store(geometry))
    return sum(seen.values())


def _index_dtype(n: int) -> torch.dtype:
    return torch.int32 if n < 2**31 - 1 else torch.int64


#: integer dtypes of a given size, to move rows of a few entries as single elements
_ROW_DTYPES = {4: torch.int32, 8: torch.int64}


def _gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 2-D contiguous ``table``, short rows moved as one integer each."""
    row_dtype = _ROW_DTYPES.get(table.shape[1] * table.element_size())
    if row_dtype is None or table.dtype == row_dtype:
        return table.index_select(0, index)
    return table.view(row_dtype).index_select(0, index).view(table.dtype)


class _Rows:
    """The edges sorted by one end (the row vertex of a matrix), then by the other (the column
    vertex): ``order`` (E,) the edges in that order, the degree and first position of every row
    vertex. :meth:`gather_index` lays rows of per-edge entries out in CSR order."""

    def __init__(self, order, row_vertex, n_vertices):
        self.order = order.to(torch.int64)
        self.deg = torch.bincount(row_vertex, minlength=n_vertices)
        self.start = torch.cumsum(self.deg, 0) - self.deg
        self.n_edges = order.shape[0]
        self._memo = {}

    def gather_index(self, nb: int) -> torch.Tensor:
        """(nb E,): for every CSR slot ``(r, b, i)`` (row vertex r, block b of nb, its i-th edge),
        the row ``b E + start[r] + i`` of a per-edge table ``(nb, E, ...)``; int32 where it fits."""
        if nb not in self._memo:
            n = nb * self.n_edges
            dtype = _index_dtype(n)  # int32 builds 3x faster than int64
            blocks = torch.arange(nb, dtype=dtype, device=self.deg.device)[None, :]
            start, deg = self.start.to(dtype)[:, None], self.deg.to(dtype)[:, None]
            offset = blocks * self.n_edges + (1 - nb) * start - blocks * deg  # (V, nb)
            lengths = self.deg[:, None].expand(-1, nb).reshape(-1)
            slots = torch.arange(n, dtype=dtype, device=self.deg.device)
            self._memo[nb] = slots + torch.repeat_interleave(offset.reshape(-1), lengths, output_size=n)
        return self._memo[nb]

    def layout(self, table: torch.Tensor) -> torch.Tensor:
        """Flat CSR values from ``table`` (nb, E, w) whose edges are in this sorted order."""
        nb, E, w = table.shape
        if nb == 1:
            return table.reshape(-1)
        return _gather_rows(table.reshape(nb * E, w), self.gather_index(nb)).reshape(-1)

    def crow(self, nb: int, k: int, dtype) -> torch.Tensor:
        """Row pointers of a matrix with ``nb`` rows per vertex and ``k`` entries per edge and row."""
        blocks = torch.arange(nb, device=self.deg.device)
        crow = k * (nb * self.start[:, None] + blocks[None, :] * self.deg[:, None])
        end = torch.full((1,), k * nb * self.n_edges, dtype=crow.dtype, device=crow.device)
        return torch.cat([crow.reshape(-1), end]).to(dtype)


def _edges(geometry, device) -> tuple:
    """The two edge orders on ``device``: by target for ``A``, by source for ``A^T``, each with
    its column vertices in increasing order (as cuSPARSE requires); kept on the geometry (two
    int32 per edge). The geometry's edges may come in any order."""
    store = _store(geometry)
    V = geometry.n_vertices
    q, p = geometry.edge_index.to(device)
    key = ("edge_orders", str(device))
    if key not in store:
        dtype = _index_dtype(q.shape[0])
        order_t = torch.argsort(p * V + q, stable=True)
        # by source, then target: a stable sort of the sources of the edges sorted by target
        sources = q.index_select(0, order_t).to(_index_dtype(V))  # int32 keys sort faster
        order_s = order_t.index_select(0, torch.argsort(sources, stable=True))
        store[key] = (order_t.to(dtype), order_s.to(dtype))
    order_t, order_s = store[key]
    return _Rows(order_t, p, V), _Rows(order_s, q, V)


def _structure(store, rows: _Rows, col_vertex, key: tuple, nb: int, k: int, n_cols: int):
    """(crow, col) of a matrix with ``nb`` rows per row vertex and ``k`` columns per column vertex
    (``col_vertex`` (E,) in the sorted order of ``rows``), kept on the geometry under ``key``."""
    if key not in store:
        dtype = _index_dtype(max(nb * k * rows.n_edges, n_cols))
        kk = torch.arange(k, dtype=dtype, device=col_vertex.device)
        base = col_vertex.to(dtype)[:, None] * k + kk[None, :]  # (E, k)
        col = rows.layout(base.expand(nb, -1, -1).contiguous())
        store[key] = (rows.crow(nb, k, dtype), col)
    return store[key]


# ---------------------------------------------------------------------------------- the phases
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


def edge_scale(geometry, radius, device) -> torch.Tensor:
    """(E,) float64: the radius that scales every edge's length: ``radius``, or (None) the longest
    edge of the edge's mesh (per mesh of a batch). Kept on the geometry."""
    key = ("edge_scale", radius, str(device))
    store = _store(geometry)
    if key not in store:
        log_r = geometry.log_r.to(device, torch.float64)
        if radius is not None:
            scale = torch.full_like(log_r, float(radius))
        else:
            edge_graph = graph_index(geometry).to(device).index_select(0, geometry.edge_index[1].to(device))
            per_graph = torch.zeros(geometry.n_graphs, dtype=torch.float64, device=device)
            per_graph = per_graph.scatter_reduce(0, edge_graph, log_r, reduce="amax", include_self=False)
            scale = per_graph.index_select(0, edge_graph).clamp(min=torch.finfo(torch.float64).tiny)
        store[key] = scale
    return store[key]


def _edge_data(geometry, radius, aggr: str, rings: int, device) -> dict:
    """Per-edge float64 quantities of the entries, in the stored edge order: theta, alpha, sigma
    (+-1 for flips) and ``h`` (rings, E), the ring weights divided by the target's degree for "mean"."""
    V = geometry.n_vertices
    p = geometry.edge_index[1].to(device)
    h = ring_weights(geometry.log_r.to(device, torch.float64), edge_scale(geometry, radius, device), rings)
    if aggr == "mean":
        h /= torch.bincount(p, minlength=V).clamp(min=1).to(torch.float64)[p]
    return {
        "theta": geometry.log_theta.to(device, torch.float64),
        "alpha": geometry.transport_angle.to(device, torch.float64),
        "sigma": 1.0 - 2.0 * geometry.transport_flip.to(device, torch.float64),
        "h": h,
    }


def _products(data: dict, g) -> dict:
    """For every frequency n of input group ``g``: ``cos``, ``sin``, ``sigma cos``, ``sigma sin``
    and ``-sigma sin`` of ``n theta + l alpha`` (``data`` in the operators' dtype: float32
    operators have phases accurate to about 1e-6)."""
    theta, alpha, sigma = data["theta"], data["alpha"], data["sigma"]
    out = {}
    for n in dict.fromkeys(b[0] for b in g.blocks):
        phase = torch.mul(theta, n).add_(alpha, alpha=g.order)
        cos, sin = torch.cos(phase), torch.sin(phase)
        if data["flips"]:
            cos_s, sin_s = cos * sigma, sin * sigma
        else:
            cos_s, sin_s = cos, sin
        out[n] = (cos, sin, cos_s, sin_s, sin_s.neg())
    return out


def _fill(table: torch.Tensor, g, blocks, products: dict, h: torch.Tensor) -> None:
    """Entries ``table[b, e, kk]`` (a view): Re/Im of ``h_j(r) e^{i (n theta + l alpha)} (c + i sigma s)``
    for block ``(n, j, Re/Im)``."""
    for i, (n, j, part) in enumerate(blocks):
        cos, sin, cos_s, sin_s, msin_s = products[n]
        if g.k == 1:  # real input x: Re/Im of e^{i n theta} x (times sigma for a sign field)
            if g.kind == "0-":
                cos, sin = cos_s, sin_s
            torch.mul(sin if part else cos, h[j], out=table[i, :, 0])
        else:  # Re/Im of e^{i phase} (c + i sigma s): (cos, -sigma sin) and (sin, sigma cos)
            torch.mul(sin if part else cos, h[j], out=table[i, :, 0])
            torch.mul(cos_s if part else msin_s, h[j], out=table[i, :, 1])


class _Builder:
    """What building the matrices of one geometry, device and ring set-up needs, made on first use."""

    def __init__(self, geometry, rings: int, radius, aggr: str, dtype, device):
        self.geometry, self.rings, self.radius, self.aggr = geometry, rings, radius, aggr
        self.dtype, self.device = dtype, device
        self._by = self._products = None

    def edges(self):
        if self._by is None:
            q, p = self.geometry.edge_index.to(self.device)
            self.targets, self.sources = _edges(self.geometry, self.device)
            data = _edge_data(self.geometry, self.radius, self.aggr, self.rings, self.device)
            flips = bool(data["sigma"].lt(0).any())
            self._by = [{"flips": flips}, {"flips": flips}]  # the edges by target (A) and by source (A^T)
            for name, value in data.items():  # in the operators' dtype from here on
                value = value.to(self.dtype)
                for rows, d in zip((self.targets, self.sources), self._by):
                    d[name] = value.index_select(-1, rows.order)
            self.h = [d["h"] for d in self._by]
            self.q_t, self.p_s = q.index_select(0, self.targets.order), p.index_select(0, self.sources.order)
            self._products = {}
        return self._by

    def products(self, g) -> list:
        by = self.edges()
        if g.kind not in self._products:
            self._products = {g.kind: [_products(d, g) for d in by]}  # one input kind at a time
        return self._products[g.kind]

    def matrix(self, g, blocks) -> SparseOperator:
        """The operator of input group ``g`` for ``blocks`` (rows (p, block), columns (q, component))."""
        products = self.products(g)
        store, device, V, E = _store(self.geometry), self.device, self.geometry.n_vertices, self.targets.n_edges
        nb, k = len(blocks), g.k
        crow, col = _structure(store, self.targets, self.q_t, ("csr", str(device), nb, k), nb, k, V * k)
        # A^T: rows (q, component), columns (p, block): the same construction from the sources
        crow_t, col_t = _structure(store, self.sources, self.p_s, ("csr_t", str(device), k, nb), k, nb, V * nb)
        table = torch.empty(nb, E, k, dtype=self.dtype, device=device)
        _fill(table, g, blocks, products[0], self.h[0])
        values = self.targets.layout(table)
        table = torch.empty(k, E, nb, dtype=self.dtype, device=device)
        _fill(table.permute(2, 1, 0), g, blocks, products[1], self.h[1])
        values_t = self.sources.layout(table)
        return SparseOperator(crow, col, values, crow_t, col_t, values_t)


@torch.no_grad()
def _build(geometry, plan: KernelPlan, radius, aggr: str, dtype, device) -> list:
    """The operators of ``plan``; every matrix is kept on the geometry under its own key (input kind,
    blocks, rings, radius, aggregation, dtype, device), so that layers whose plans share some
    (input kind, output order) pairs, e.g. a lifting layer and the hidden ones, share those."""
    store = _store(geometry)
    builder = _Builder(geometry, plan.rings, radius, aggr, dtype, device)
    ops = []
    for g in plan.groups:
        pairs = []
        for b0, b1 in g.out_range.values():
            blocks = tuple(g.blocks[b0:b1])
            key = ("matrix", g.kind, blocks, plan.rings, radius, aggr, dtype, str(device))
            if key not in store:
                store[key] = builder.matrix(g, blocks)
            pairs.append(store[key])
        ops.append(pairs)
    return ops


def gauge_operators(geometry, plan: KernelPlan, radius, aggr: str, dtype, device) -> list:
    """The CSR operators of ``plan`` on ``geometry``, built on first use and kept on it.

    Parameters
    ----------
    geometry : torch Geometry
    plan : the layer's KernelPlan (blocks ``(n, ring, part)`` of every input group)
    radius : ring scale, or None for the longest edge of each mesh
    aggr : "mean" or "sum"
    dtype, device : of the operators' values

    Returns
    -------
    list, per input group of ``plan``, of one :class:`SparseOperator` per output order it feeds:
    ``A`` is ``(V * blocks, V * k)`` (rows ``(p, block)``, columns ``(q, component)``)
    """
    signature = (tuple((g.kind, tuple(g.blocks)) for g in plan.groups), plan.rings, radius, aggr)
    key = ("gauge", signature, dtype, str(device))
    store = _store(geometry)
    ops = store.get(key)
    if ops is None:
        ops = store[key] = _build(geometry, plan, radius, aggr, dtype, device)
    return ops
