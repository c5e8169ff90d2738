"""The sparse operators of :class:`~gaugeconv.nn.GaugeConv`, built once per geometry and kept on it.

For every input kind of a layer's :class:`~gaugeconv.nn.kernel.KernelPlan` and every output order
it feeds, one CSR matrix ``A`` (rows ``(p, block)``, columns ``(q, component)``) maps the
neighbours' features to the angular moments
``S_{n,j}[p] = sum_{q -> p} h_j(r) / deg(p) e^{i (n theta + l alpha)} conj^f(x_q)``; its entries are
the phases and ring weights of the edges. The backward multiplies by ``A^T``, stored as a second
CSR matrix (the same numbers in the order of the edges' sources).

**Where they live.** Every :class:`~gaugeconv.Geometry` has a private dictionary that lives and
dies with the object (it is never saved, copied or pickled). It holds

* per device and direction (by target for ``A``, by source for ``A^T``), the edges grouped by
  that end in segments of equal degree (one int32 per edge, two where the degrees are irregular,
  and the degree and first edge of every vertex);
* per device and block shape ``(rows per vertex, columns per vertex)``, the CSR index arrays
  (``crow``, ``col``, int32 where they fit), shared by all matrices of that shape of every layer,
  forward and backward;
* per layer signature (input orders and blocks, rings, radius, aggregation), dtype and device,
  the values of the forward and backward matrices;
* the results of the layers' checks of the geometry.

So a layer builds nothing on a geometry it has seen, layers with the same input orders share
their operators, and a loop over a dataset never rebuilds (and never evicts) anything. A batch of
torch geometries (:meth:`Geometry.batch`) and a moved copy keep the geometries they were made of
under ``"parts"`` and use their matrices: a moved copy its source's, a batch a
:class:`PartedOperator` of its meshes' (the block-diagonal matrix, never assembled: every mesh's
matrix is applied to its own rows of the input and writes its own rows of the result, forward
and backward). A new batch of known meshes every step (what :func:`gaugeconv.data.collate`
makes) thus copies nothing: ``benchmarks/training.py --batch`` gives it 0.95-1.32x (median 1.08)
the per-vertex time of one mesh of the same total size (8 meshes of ~5k vertices against one of
41k), where concatenating the meshes' values and offsetting their index arrays every step cost
1.32-1.82x (median 1.70) in the same runs.

**How they are built** (:func:`gauge_operators`): in O(E) memory and time per matrix, without
sorting nonzeros, without a gather index per nonzero. Per direction, the edges are grouped by their
row vertex (a stable argsort of E int32 keys, none where they already are) in *segments* of row
vertices of one degree ``d``: runs of consecutive vertices where there are few (an icosphere has
two runs, its 12 vertices of degree 5 first), else all the vertices of one degree; each vertex's
edges are sorted by column vertex by sorting the rows of its segment's ``(vertices, d)`` grid. In
a segment, the CSR entries of a matrix with ``R`` rows and ``C`` columns per vertex are a regular
grid ``(vertices, R, d, C)``. The entries of every edge are computed as one contiguous table
(``(blocks, E, components)`` for ``A``, ``(components, blocks, E)`` for ``A^T``, from the phases of
the edges in that direction's order) and copied into each segment's grid by a strided copy; the
column indices likewise. Where the segments are runs, that is the CSR order; else one row gather
(one row per edge) puts the vertices in order.

:func:`sparse_moments` applies one operator; it is a ``torch.library`` custom op (opaque to
``torch.compile``, with a fake implementation and its own autograd), running on whatever device
its inputs are on (CPU: MKL; CUDA: cuSPARSE).
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import torch

from .kernel import KernelPlan
from .util import graph_index

__all__ = [
    "PartedOperator",
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


class PartedOperator(NamedTuple):
    """The operator of a batch of meshes: the block-diagonal matrix of its meshes' operators,
    kept as those (``parts``, one :class:`SparseOperator` per mesh) and applied part by part, each
    to its own rows of the input (``cols[i]`` rows for part i) and writing its own rows of the
    output. Nothing is copied or concatenated when a new batch of known meshes is made."""

    parts: tuple
    cols: tuple

    @property
    def rows(self) -> tuple:
        """The output rows of every part."""
        return tuple(int(op.crow.shape[0]) - 1 for op in self.parts)

    def block_diagonal(self) -> SparseOperator:
        """The batch's operator as one :class:`SparseOperator` (values concatenated, index arrays
        offset), for inspection and tests; the layers never build it."""
        ops = self.parts
        crow, col = _concatenate_structure([(op.crow, op.col) for op in ops], self.cols)
        crow_t, col_t = _concatenate_structure([(op.crow_t, op.col_t) for op in ops], self.rows)
        values, values_t = torch.cat([op.values for op in ops]), torch.cat([op.values_t for op in ops])
        return SparseOperator(crow, col, values, crow_t, col_t, values_t)


# ---------------------------------------------------------------------------------- the product
def _csr_mm(
    crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, x: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``A @ x`` for the CSR matrix ``(crow, col, values)`` with ``x.shape[0]`` columns; written
    straight into a row-major result (``beta=0`` ignores its uninitialised content), about 2x
    faster than ``torch.sparse.mm``, which fills and copies an intermediate. ``out``: a contiguous
    ``(rows, x.shape[1])`` tensor to write (e.g. a row range of a larger result)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        a = torch.sparse_csr_tensor(crow, col, values, size=(crow.shape[0] - 1, x.shape[0]), check_invariants=False)
    x = x.contiguous()
    if out is None:
        out = torch.empty(a.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    return torch.addmm(out, a, x, beta=0.0, alpha=1.0, out=out)


def _parted_mm(tensors: tuple, rows: tuple, cols: tuple, x: torch.Tensor) -> torch.Tensor:
    """The block-diagonal product: part i (``tensors[3 i : 3 i + 3]``, a CSR matrix of shape
    ``(rows[i], cols[i])``) times its rows of ``x``, written into its rows of one result."""
    x = x.contiguous()
    out = torch.empty(sum(rows), x.shape[1], dtype=x.dtype, device=x.device)
    r0 = c0 = 0
    for i, (r, c) in enumerate(zip(rows, cols)):
        _csr_mm(*tensors[3 * i : 3 * i + 3], x[c0 : c0 + c], out=out[r0 : r0 + r])
        r0, c0 = r0 + r, c0 + c
    return out


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


class _PartedMoments(torch.autograd.Function):
    """The eager path of :func:`sparse_moments` for a :class:`PartedOperator`: every part's
    product written into its rows of one result, forward and backward (no concatenation)."""

    @staticmethod
    def forward(ctx, x, cols, rows, *tensors):  # tensors: per part (crow, col, values, crow_t, col_t, values_t)
        ctx.cols, ctx.rows = cols, rows
        ctx.save_for_backward(*tensors)
        forward = tuple(t for i in range(0, len(tensors), 6) for t in tensors[i : i + 3])
        return _parted_mm(forward, rows, cols, x)

    @staticmethod
    def backward(ctx, grad):
        tensors = ctx.saved_tensors
        swapped = tuple(t for i in range(0, len(tensors), 6) for t in tensors[i + 3 : i + 6] + tensors[i : i + 3])
        grad_x = _PartedMoments.apply(grad, ctx.rows, ctx.cols, *swapped)
        return (grad_x, None, None) + (None,) * len(tensors)


def sparse_moments(op: SparseOperator | PartedOperator, x: torch.Tensor) -> torch.Tensor:
    """``op.A @ x`` with the backward ``op.A^T @ grad`` (and a double backward).

    Under ``torch.compile`` this is the custom op ``gaugeconv::sparse_moments`` (one opaque node
    of the graph, no graph break; one per part of a :class:`PartedOperator`, the parts' results
    concatenated); in eager mode an autograd function with the same kernels (for a
    :class:`PartedOperator`, every part's product written into its rows of one result).

    Parameters
    ----------
    op : SparseOperator of shape (R, N), or PartedOperator (block diagonal, N = sum of ``op.cols``)
    x : (N, W) dense, same device and dtype as the operator's values

    Returns
    -------
    (R, W)
    """
    if isinstance(op, PartedOperator):
        if torch.compiler.is_compiling():
            xs = x.split(op.cols)
            return torch.cat([_sparse_moments(xi, *part) for xi, part in zip(xs, op.parts)])
        return _PartedMoments.apply(x, op.cols, op.rows, *(t for part in op.parts for t in part))
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
    on its next use. Only needed to bound memory, e.g. when inference on a large mesh is done.
    (A batch's meshes keep theirs: clear those one by one.)"""
    store = _store(geometry)
    parts = store.get("parts")
    store.clear()
    if parts is not None:
        store["parts"] = parts


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

#: up to this many runs of consecutive row vertices of one degree are filled in place; more (an
#: irregular mesh) are grouped by degree, and the entries put in vertex order by one row gather
_MAX_RUNS = 16


def _gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 2-D contiguous ``table``, short rows moved as one integer each."""
    row_dtype = _ROW_DTYPES.get(table.shape[1] * table.element_size())
    if row_dtype is None:
        return table.index_select(0, index)
    return table.view(row_dtype).view(-1).index_select(0, index).view(table.dtype).view(-1, table.shape[1])


class _Rows(NamedTuple):
    """The edges grouped by one end (the row vertex of a matrix), every vertex's edges sorted by
    the other end (the column vertex), in segments of row vertices of one degree ``d``: in a
    segment, the entries of a matrix with ``R`` rows per vertex and ``C`` columns per vertex are
    a regular grid ``(vertices, R, d, C)`` in CSR order.

    ``order`` (E,): the edges in that order; ``segments``: ``(d, first, end)`` positions in it;
    ``inv``: None when the segments are runs of consecutive vertices (``order`` is then the CSR
    order), else (E,) the position in ``order`` of every edge slot in CSR order; ``deg``,
    ``start`` (V,): every row vertex's degree and first edge slot in CSR order."""

    order: torch.Tensor
    inv: torch.Tensor | None
    deg: torch.Tensor
    start: torch.Tensor
    segments: tuple


def _rows(row_vertex: torch.Tensor, col_vertex: torch.Tensor, n_vertices: int) -> _Rows:
    """:class:`_Rows` of the edges ``col_vertex -> row_vertex`` ((E,) each, in any order): the
    edges grouped by row vertex (a stable argsort of E int32 keys, none if they already are), in
    segments, and sorted by column vertex within each vertex (a sort of the rows of a segment's
    ``(vertices, d)`` grid)."""
    E, device = row_vertex.shape[0], row_vertex.device
    dtype = _index_dtype(E)
    deg = torch.bincount(row_vertex, minlength=n_vertices)
    start = torch.cumsum(deg, 0) - deg
    if bool((row_vertex[1:] >= row_vertex[:-1]).all()):
        grouped = torch.arange(E, dtype=dtype, device=device)
    else:
        grouped = torch.argsort(row_vertex.to(_index_dtype(n_vertices)), stable=True).to(dtype)  # int32 sorts faster
    change = (torch.nonzero(deg[1:] != deg[:-1]).reshape(-1) + 1).tolist()
    if len(change) < _MAX_RUNS:  # a few runs of consecutive vertices: in CSR order already
        first = torch.tensor([0] + change, device=device)
        bounds = torch.cat([start.index_select(0, first), start.new_full((1,), E)]).tolist()
        degrees = deg.index_select(0, first).tolist()
        segments = tuple((d, e0, e1) for d, e0, e1 in zip(degrees, bounds[:-1], bounds[1:]) if d)
        order, inv = grouped, None
    else:  # the vertices grouped by degree (in vertex order within a degree), their edges in that order
        by_degree = torch.argsort(deg, stable=True)  # V elements
        deg_sorted = deg.index_select(0, by_degree)
        counts = torch.bincount(deg_sorted)
        degrees = torch.nonzero(counts).reshape(-1)
        bounds = [0] + torch.cumsum(counts.index_select(0, degrees) * degrees, 0).tolist()
        segments = tuple((d, e0, e1) for d, e0, e1 in zip(degrees.tolist(), bounds[:-1], bounds[1:]) if d)
        # the CSR slot of the i-th edge in that order: start[v] + i - (position of v's first edge)
        shift = start.index_select(0, by_degree) - (torch.cumsum(deg_sorted, 0) - deg_sorted)
        slot = torch.repeat_interleave(shift, deg_sorted, output_size=E) + torch.arange(E, device=device)
        inv = torch.empty(E, dtype=dtype, device=device)
        inv[slot] = torch.arange(E, dtype=dtype, device=device)
        order = grouped.index_select(0, slot)
    cols = col_vertex.to(_index_dtype(n_vertices))
    for d, e0, e1 in segments:  # every vertex's edges by column vertex
        edges = order[e0:e1].view(-1, d)
        rank = cols.index_select(0, edges.reshape(-1)).view(-1, d).sort(dim=1, stable=True).indices
        order[e0:e1] = edges.gather(1, rank).reshape(-1)
    return _Rows(order, inv, deg, start, segments)


def _csr_order(rows: _Rows, grid: torch.Tensor, width: int) -> torch.Tensor:
    """Flat CSR entries from ``grid``, the entries of the segments of ``rows`` (``width`` per
    edge), one row gather where the segments are not in vertex order."""
    if rows.inv is None:
        return grid
    return _gather_rows(grid.view(-1, width), rows.inv).view(-1)


def _segment_layout(rows: _Rows, table: torch.Tensor) -> torch.Tensor:
    """Flat CSR entries of a matrix with ``R`` rows per row vertex from ``table`` (R, E, w), the ``w``
    entries of every row and edge (edges in the order of ``rows``; it may be a broadcast view):
    per segment, one strided copy into its grid ``(vertices, R, d w)``, then :func:`_csr_order`."""
    R, _, w = table.shape
    out = torch.empty(table.numel(), dtype=table.dtype, device=table.device)
    for d, e0, e1 in rows.segments:
        n = (e1 - e0) // d
        out[R * w * e0 : R * w * e1].view(n, R, d * w).copy_(table[:, e0:e1].reshape(R, n, d * w).transpose(0, 1))
    return _csr_order(rows, out, R * w)


def _crow(rows: _Rows, nb: int, k: int, dtype) -> torch.Tensor:
    """Row pointers of a matrix with ``nb`` rows per vertex and ``k`` entries per edge and row."""
    blocks = torch.arange(nb, device=rows.deg.device)
    crow = k * (nb * rows.start[:, None] + blocks[None, :] * rows.deg[:, None])
    end = torch.full((1,), k * nb * rows.order.shape[0], dtype=crow.dtype, device=crow.device)
    return torch.cat([crow.reshape(-1), end]).to(dtype)


def _edges(geometry, device) -> tuple:
    """The edges by target (rows of ``A``) and by source (rows of ``A^T``), as :class:`_Rows`,
    each with its column vertices in increasing order (as cuSPARSE requires); kept on the
    geometry (one or two int32 per edge and direction). The geometry's edges may come in any order."""
    store = _store(geometry)
    key = ("edge_orders", str(device))
    if key not in store:
        V = geometry.n_vertices
        q, p = geometry.edge_index.to(device)
        store[key] = (_rows(p, q, V), _rows(q, p, V))
    return store[key]


def _structure(store, rows: _Rows, col_vertex, key: tuple, nb: int, k: int, n_cols: int, buffer):
    """(crow, col) of a matrix with ``nb`` rows per row vertex and ``k`` columns per column vertex
    (``col_vertex`` (E,) in the order of ``rows``), kept on the geometry under ``key``;
    ``buffer(size, dtype)`` gives a reusable buffer."""
    if key not in store:
        E = rows.order.shape[0]
        dtype = _index_dtype(max(nb * k * E, n_cols))
        base = col_vertex.to(dtype)[:, None]  # (E, k): the columns of every edge
        if k > 1:
            kk = torch.arange(k, dtype=dtype, device=col_vertex.device)
            base = torch.add(base * k, kk[None, :], out=buffer(E * k, dtype).view(E, k))
        # every row of a vertex has the same columns
        store[key] = (_crow(rows, nb, k, dtype), _segment_layout(rows, base.expand(nb, -1, -1)))
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


def _edge_data(geometry, radius, aggr: str, rings: int, dtype, device) -> dict:
    """Per-edge quantities of the entries in ``dtype``, in the stored edge order: theta, alpha,
    sigma (+-1 for flips) and ``h`` (rings, E), the ring weights (computed in float64) divided by
    the target's degree for "mean"."""
    V = geometry.n_vertices
    p = geometry.edge_index[1].to(device)
    h = ring_weights(geometry.log_r.to(device, torch.float64), edge_scale(geometry, radius, device), rings)
    if aggr == "mean":
        h /= torch.bincount(p, minlength=V).clamp(min=1).to(torch.float64)[p]
    return {
        "theta": geometry.log_theta.to(device, dtype),
        "alpha": geometry.transport_angle.to(device, dtype),
        "sigma": 1.0 - 2.0 * geometry.transport_flip.to(device, dtype),
        "h": h.to(dtype),
    }


def _products(data: dict, g) -> dict:
    """For every frequency n of input group ``g``: the coefficients ``(E, k)`` of the components of
    an input field in Re and in Im of ``e^{i (n theta + l alpha)} (c + i sigma s)`` (``k = 1``:
    ``cos``, ``sin``, times sigma for a sign field; ``k = 2``: ``(cos, -sigma sin)`` and
    ``(sin, sigma cos)``), in the operators' dtype (float32 operators have phases accurate to about 1e-6)."""
    theta, alpha, sigma = data["theta"], data["alpha"], data["sigma"]
    out = {}
    for n in dict.fromkeys(b[0] for b in g.blocks):
        phase = torch.mul(theta, n).add_(alpha, alpha=g.order)
        cos, sin = torch.cos(phase), phase.sin_()
        if g.k == 1:
            if g.kind == "0-" and data["flips"]:
                cos, sin = cos.mul_(sigma), sin.mul_(sigma)
            out[n] = (cos[:, None], sin[:, None])
        else:
            minus_sin_s = sin * sigma.neg() if data["flips"] else sin.neg()
            cos_s = cos * sigma if data["flips"] else cos
            # interleaved pairs as the real view of a complex tensor (much faster than stack)
            out[n] = (
                torch.view_as_real(torch.complex(cos, minus_sin_s)),
                torch.view_as_real(torch.complex(sin, cos_s)),
            )
    return out


class _Builder:
    """What building the matrices of one geometry, device and ring set-up needs, made on first use."""

    def __init__(self, geometry, rings: int, radius, aggr: str, dtype, device):
        self.geometry, self.rings, self.radius, self.aggr = geometry, rings, radius, aggr
        self.dtype, self.device = dtype, device
        self._by = self._products = None
        self._scratch = {}

    def edges(self):
        if self._by is None:
            q, p = self.geometry.edge_index.to(self.device)
            self.targets, self.sources = _edges(self.geometry, self.device)
            data = _edge_data(self.geometry, self.radius, self.aggr, self.rings, self.dtype, self.device)
            flips = bool(data["sigma"].lt(0).any())
            self._by = [{"flips": flips}, {"flips": flips}]  # the edges by target (A) and by source (A^T)
            for name, value in data.items():
                for rows, d in zip((self.targets, self.sources), self._by):
                    d[name] = value.index_select(-1, rows.order)
            self.h = [d["h"] for d in self._by]
            self._h_pairs = None
            self.q_t, self.p_s = q.index_select(0, self.targets.order), p.index_select(0, self.sources.order)
            self._products = {}
        return self._by

    def products(self, g) -> list:
        by = self.edges()
        if g.kind not in self._products:
            self._products = {}  # one input kind at a time (freed first: less memory to map)
            self._products[g.kind] = [_products(d, g) for d in by]
        return self._products[g.kind]

    def ring_weights(self, k: int) -> torch.Tensor:
        """(rings, E, k): the ring weights of the edges by target, repeated for ``k`` components."""
        if k == 1:
            return self.h[0][:, :, None]
        if self._h_pairs is None:
            self._h_pairs = self.h[0][:, :, None].expand(-1, -1, k).contiguous()
        return self._h_pairs

    def scratch(self, n: int, dtype=None, name="table") -> torch.Tensor:
        """A buffer ``name`` of ``n`` entries (of ``dtype``, default the operators'), reused by the
        matrices of this build (fresh memory costs a page fault per 4 kB: about as much as filling it)."""
        key = (name, dtype or self.dtype)
        buffer = self._scratch.get(key)
        if buffer is None or buffer.numel() < n:
            buffer = self._scratch[key] = torch.empty(n, dtype=key[1], device=self.device)
        return buffer[:n]

    def matrix(self, g, blocks) -> SparseOperator:
        """The operator of input group ``g`` for ``blocks`` (rows (p, block), columns (q, component))."""
        products = self.products(g)
        store, device, V, E = _store(self.geometry), self.device, self.geometry.n_vertices, self.targets.order.shape[0]
        nb, k = len(blocks), g.k
        buffer = functools.partial(self.scratch, name="columns")
        crow, col = _structure(store, self.targets, self.q_t, ("csr", str(device), nb, k), nb, k, V * k, buffer)
        # A^T: rows (q, component), columns (p, block): the same construction from the sources
        crow_t, col_t = _structure(store, self.sources, self.p_s, ("csr_t", str(device), k, nb), k, nb, V * nb, buffer)
        # A: a table (block, edge, component) of the edges by target, laid out per segment
        h = self.ring_weights(k)
        table = self.scratch(k * nb * E).view(nb, E, k)
        for b, (freq, j, part) in enumerate(blocks):
            torch.mul(products[0][freq][part], h[j], out=table[b])
        values = _segment_layout(self.targets, table)
        # A^T: a table (component, block, edge) of the edges by source, then per segment the grid
        # (vertices, component, edge, block)
        table = self.scratch(k * nb * E).view(k, nb, E)
        for b, (freq, j, part) in enumerate(blocks):
            coefficients = products[1][freq][part]
            for c in range(k):
                torch.mul(coefficients[:, c], self.h[1][j], out=table[c, b])
        grid = torch.empty(nb * E * k, dtype=self.dtype, device=device)
        for d, e0, e1 in self.sources.segments:
            n = (e1 - e0) // d
            grid[nb * k * e0 : nb * k * e1].view(n, k, d, nb).copy_(
                table[:, :, e0:e1].view(k, nb, n, d).permute(2, 0, 3, 1)
            )
        values_t = _csr_order(self.sources, grid, nb * k)
        return SparseOperator(crow, col, values, crow_t, col_t, values_t)


def _concatenate_structure(structures, widths) -> tuple:
    """(crow, col) of the block-diagonal matrix of the ``structures`` (crow, col), whose column
    counts are ``widths``."""
    total = sum(int(col.shape[0]) for _, col in structures)
    dtype = _index_dtype(max(total, sum(widths)))
    crows, cols, nnz, first = [], [], 0, 0
    for (crow, col), width in zip(structures, widths):
        crows.append(crow[:-1].to(dtype) + nnz)
        cols.append(col.to(dtype) + first)
        nnz, first = nnz + int(col.shape[0]), first + width
    crows.append(torch.full((1,), nnz, dtype=dtype, device=crows[0].device))
    return torch.cat(crows), torch.cat(cols)


def _matrix(geometry, g, blocks: tuple, rings: int, radius, aggr: str, dtype, device, builders: dict):
    """The operator of input group ``g`` for ``blocks`` on ``geometry``, kept on it under its own
    key (input kind, blocks, rings, radius, aggregation, dtype, device), so that layers whose plans
    share (input kind, output order) pairs, e.g. a lifting layer and the hidden ones, share it.
    A batch of torch geometries takes its meshes' (each built once and kept): a :class:`PartedOperator`."""
    store = _store(geometry)
    key = ("matrix", g.kind, blocks, rings, radius, aggr, dtype, str(device))
    if key not in store:
        parts = store.get("parts")
        if parts:
            ops = [_matrix(p, g, blocks, rings, radius, aggr, dtype, device, builders) for p in parts]
            cols = tuple(p.n_vertices * g.k for p in parts)  # the input rows of every mesh
            store[key] = ops[0] if len(ops) == 1 else PartedOperator(tuple(ops), cols)
        else:
            if id(geometry) not in builders:
                builders[id(geometry)] = _Builder(geometry, rings, radius, aggr, dtype, device)
            store[key] = builders[id(geometry)].matrix(g, blocks)
    return store[key]


@torch.no_grad()
def _build(geometry, plan: KernelPlan, radius, aggr: str, dtype, device) -> list:
    """The operators of ``plan``: per input group, one per output order it feeds (:func:`_matrix`)."""
    builders = {}  # one per geometry (the batch's meshes each have theirs), for this build only
    return [
        [
            _matrix(geometry, g, tuple(g.blocks[b0:b1]), plan.rings, radius, aggr, dtype, device, builders)
            for b0, b1 in g.out_range.values()
        ]
        for g in plan.groups
    ]


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
    ``A`` is ``(V * blocks, V * k)`` (rows ``(p, block)``, columns ``(q, component)``); for a batch
    of torch meshes (:meth:`Geometry.batch <gaugeconv.Geometry.batch>`), a :class:`PartedOperator`
    of its meshes' operators (the block-diagonal matrix: ``.block_diagonal()``)
    """
    signature = (tuple((g.kind, tuple(g.blocks)) for g in plan.groups), plan.rings, radius, aggr)
    key = ("gauge", signature, dtype, str(device))
    store = _store(geometry)
    ops = store.get(key)
    if ops is None:
        ops = store[key] = _build(geometry, plan, radius, aggr, dtype, device)
    return ops
