"""The one steerable-kernel solver (numpy only), and the weight tables the layers build from it.

**The solver.** Every equivariant linear map of the library -- a mesh GaugeConv weight block, the
7-tap hexagonal kernel of IcoConv, the mirror-symmetric kernel of MobiusConv, the
self-interaction, every bias -- is an *intertwiner*: a matrix W with ``W rho_a(g) = rho_b(g) W``
for every element g of a group. :func:`intertwiner_basis` finds a basis of them from the two
representations sampled at a finite set of elements (:func:`gaugeconv.groups.group_elements`):
the group average ``P = mean_g rho_b(g) (x) rho_a(g)`` (the Reynolds projector onto the solution
space, for orthogonal representations) applied to the elementary matrices, keeping those
independent of the earlier ones, each scaled to a largest entry of 1 with rounding residue set
to exact zeros. For permutation representations the basis elements are the indicators of the
orbits of matrix entries, so parameters read like weight sharing. Biases are intertwiners from
the trivial representation: :func:`invariant_basis`.

**The mesh kernel** (:class:`KernelPlan`). In complex form an irrep of order ``l >= 1`` is one
complex number ``z = c + i s``; ``rho_l(R(a)) z = e^{i l a} z`` and ``rho_l(F) z = conj(z)``.
GaugeConv aggregates, per input field of order l, angular frequency n and radial ring j, the
moment ``S = sum_{q -> p} w_e e^{i (n theta_e + l alpha_e)} conj^f(z_q)`` (real inputs: ``n >= 0``;
sign fields carry the transporter's sign). A gauge change ``h_p`` at p maps
``theta -> theta - phi`` and ``alpha -> alpha - phi``, so S transforms like the irrep of order
``m = l + n`` (a negative m rotates the other way), and a reflection conjugates S (and negates it
for a sign input). The weights of the layer are exactly the intertwiners from this aggregate
representation to the output field, per (n, ring); they exist only for ``|l + n| = l_out``, so
every moment feeds exactly one output order, which keeps the per-vertex maps block sparse. The
band limit keeps ``|n| <= band_limit``. The self-interaction is the intertwiners from the input
field to the output field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..groups import FieldType, group_elements, o2_matrix

__all__ = [
    "KernelPlan",
    "intertwiner_basis",
    "invariant_basis",
    "nonzeros",
    "tile_basis",
]

_TOL = 1e-9


# ---------------------------------------------------------------------------------------------------------------------
# The solver
# ---------------------------------------------------------------------------------------------------------------------
def intertwiner_basis(rho_a: np.ndarray, rho_b: np.ndarray, tol: float = _TOL) -> np.ndarray:
    """Basis of the linear maps W with ``W rho_a(g) = rho_b(g) W`` for the sampled elements g.

    Parameters
    ----------
    rho_a : (G, A, A) orthogonal matrices of the source representation at G group elements
    rho_b : (G, B, B) orthogonal matrices of the target representation at the same elements
    tol : norm below which a projected elementary matrix counts as dependent on the earlier ones

    Returns
    -------
    (n, B, A) float64: the group average of the elementary matrices ``E_ba`` (in row-major order)
    that are linearly independent of the earlier ones, each scaled to a largest entry of 1;
    entries below 1e-12 are exactly 0. ``n`` is the dimension of the solution space when the
    elements generate the group (or, for SO2/O2, when :func:`group_elements` covers the frequencies).
    """
    rho_a, rho_b = np.asarray(rho_a, np.float64), np.asarray(rho_b, np.float64)
    a, b = rho_a.shape[-1], rho_b.shape[-1]
    # vec(W) row-major: (rho_b W rho_a^T)[y, x] = sum rho_b[y, o] W[o, i] rho_a[x, i]
    average = np.einsum("gyo,gxi->yxoi", rho_b, rho_a).reshape(b * a, b * a) / len(rho_a)
    chosen, basis = [], np.zeros((b * a, 0))
    for column in average.T:
        residual = column - basis @ (basis.T @ column)
        norm = np.linalg.norm(residual)
        if norm > tol:
            chosen.append(column / np.abs(column).max())
            basis = np.column_stack([basis, residual / norm])
    out = np.array(chosen).reshape(len(chosen), b, a)
    out[np.abs(out) < 1e-12] = 0.0
    return out


def invariant_basis(rho: np.ndarray) -> np.ndarray:
    """Basis of the invariant vectors ``rho(g) v = v``: the intertwiners from the trivial
    representation, ``(n, C)`` (the bias directions of every layer).

    Parameters
    ----------
    rho : (G, C, C) orthogonal matrices at the sampled group elements
    """
    rho = np.asarray(rho, np.float64)
    return intertwiner_basis(np.ones((len(rho), 1, 1)), rho)[..., 0]


def nonzeros(table: np.ndarray):
    """The non-zero entries along the first axis of ``table (n, *entry)``, for sparse maps:
    ``(which, value)`` of shape ``(*entry, K)``, K the most non-zeros of an entry (at least 1), in
    increasing order of ``which``; an entry with fewer has padding terms of value 0."""
    k = max(1, int((table != 0).sum(0).max(initial=0)))
    order = np.argsort(table == 0, axis=0, kind="stable")[:k]  # non-zero elements first
    return np.moveaxis(order, 0, -1), np.moveaxis(np.take_along_axis(table, order, 0), 0, -1)


def tile_basis(out_type: FieldType, in_type: FieldType | None, basis_of, taps: tuple = ()):
    """The sparse map ``weights -> full kernel`` of a layer whose kernel is solved per pair of kinds.

    Each term ``m x k`` of the types is a run of ``m`` fields of one kind; the block of a (output
    run, input run) pair is ``m_out x m_in`` copies of the pair's basis, one weight per copy and
    basis element (weights ordered by output run, input run, output copy, input copy, element).

    Parameters
    ----------
    out_type, in_type : FieldType; ``in_type=None`` for a bias (a map from one trivial input)
    basis_of : ``basis_of(out_kind, in_kind) -> (n, d_out, d_in, *taps)`` (``in_kind`` is None for
        a bias; then ``(n, d_out)``)
    taps : the shape of the kernel's spatial part (e.g. ``(7,)`` or ``(k, k)``)

    Returns
    -------
    index : (C_out, C_in, *taps, K) int64, coef : (C_out, C_in, *taps, K) float64, n_weights : int.
    ``kernel = (w_ext[index] * coef).sum(-1)`` with ``w_ext = [weights, 0]``: padding terms read
    index ``n_weights`` (the appended zero) with coefficient 0. For a bias the C_in axis is dropped.
    """
    runs_out = _runs(out_type)
    runs_in = _runs(in_type) if in_type is not None else [(None, 1, 0, 1)]
    c_in = in_type.dim if in_type is not None else 1
    blocks, count = [], 0
    for ko, mo, so, do in runs_out:
        for ki, mi, si, di in runs_in:
            basis = np.asarray(basis_of(ko, ki)) if ki is not None else np.asarray(basis_of(ko, None))
            basis = basis.reshape(len(basis), do, di, *taps)
            blocks.append((count, basis, (ko, mo, so, do), (ki, mi, si, di)))
            count += mo * mi * len(basis)
    width = max([1] + [int((b != 0).sum(0).max(initial=0)) for _, b, _, _ in blocks if len(b)])
    index = np.full((out_type.dim, c_in, *taps, width), count, dtype=np.int64)
    coef = np.zeros((out_type.dim, c_in, *taps, width))
    for start, basis, (_, mo, so, do), (_, mi, si, di) in blocks:
        if not len(basis):
            continue
        sel, val = nonzeros(basis)  # (do, di, *taps, K): basis elements used by every entry
        k = sel.shape[-1]
        copy = start + (np.arange(mo)[:, None] * mi + np.arange(mi)[None, :]) * len(basis)  # (mo, mi)
        expand = (slice(None), None, slice(None), None) + (None,) * (len(taps) + 1)
        idx = copy[expand] + sel[None, :, None]  # (mo, do, mi, di, *taps, K)
        vals = np.broadcast_to(val[None, :, None], idx.shape)
        idx = np.where(vals != 0, idx, count).reshape(mo * do, mi * di, *taps, k)
        index[so : so + mo * do, si : si + mi * di, ..., :k] = idx
        coef[so : so + mo * do, si : si + mi * di, ..., :k] = vals.reshape(idx.shape)
    if in_type is None:
        index, coef = index[:, 0], coef[:, 0]
    return index, coef, count


def _runs(field_type: FieldType) -> list:
    """``[(kind, multiplicity, first channel, width of one field), ...]`` per term of the spec."""
    out, start = [], 0
    for mult, kind in field_type.fields:
        width = next(f.width for f in field_type if f.kind == kind)
        out.append((kind, mult, start, width))
        start += mult * width
    return out


# ---------------------------------------------------------------------------------------------------------------------
# The mesh kernel
# ---------------------------------------------------------------------------------------------------------------------
def _order(kind: str) -> int:
    return int(kind.rstrip("-"))


def _parts(kind: str, n: int) -> int:
    """Real components of the aggregate of an input field of ``kind`` at frequency n."""
    return 1 if _order(kind) == 0 and n == 0 else 2


def _aggregate_rho(kind: str, n: int, angle: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """How the aggregate of an input field of ``kind`` at frequency n transforms, (G, d, d):
    ``R((l + n) a) diag(1, -1)**f`` on ``(Re, Im)``, negated under reflections for a sign input."""
    sign = np.where(flip & (kind == "0-"), -1.0, 1.0)[:, None, None]
    if _parts(kind, n) == 1:
        return sign * np.ones((len(angle), 1, 1))
    return sign * o2_matrix((_order(kind) + n) * angle, flip)


@lru_cache(maxsize=512)
def _pair_basis(group: str, in_kind: str, n: int | None, out_kind: str) -> np.ndarray:
    """Read-only ``(nb, d_out, d_in)`` intertwiners from the aggregate of ``in_kind`` at frequency n
    (n None: the input field itself, for the self-interaction) to one field of ``out_kind``."""
    if n is None:
        top = _order(in_kind) + _order(out_kind)
        angle, flip = group_elements(group, top)
        rho_a = FieldType(in_kind, group=group).rho(angle, flip)
    else:
        top = abs(_order(in_kind) + n) + _order(out_kind)
        angle, flip = group_elements(group, top)
        rho_a = _aggregate_rho(in_kind, n, angle, flip)
    basis = intertwiner_basis(rho_a, FieldType(out_kind, group=group).rho(angle, flip))
    basis.flags.writeable = False
    return basis


@lru_cache(maxsize=64)
def _bias_basis(group: str, out_kind: str) -> np.ndarray:
    """Read-only ``(nb, d_out, 1)``: the invariant vectors of one field of ``out_kind``."""
    angle, flip = group_elements(group, _order(out_kind))
    basis = invariant_basis(FieldType(out_kind, group=group).rho(angle, flip))[..., None]
    basis.flags.writeable = False
    return basis


@dataclass
class InputGroup:
    """Input channels of one kind: ``"0"``, ``"0-"`` (real, k = 1) or order ``l >= 1`` (complex, k = 2).

    ``channels`` (k * m,) internal channel indices, all c then all s for complex groups.
    ``blocks``: list of ``(n, ring, part)`` row blocks of the aggregate, part 0 = Re, 1 = Im,
    sorted by output order; ``out_range[l_out] = (first_block, end_block)``.
    """

    kind: str
    order: int
    k: int
    channels: np.ndarray
    blocks: list = field(default_factory=list)
    out_range: dict = field(default_factory=dict)

    @property
    def m(self) -> int:
        return len(self.channels) // self.k


@dataclass
class OutputOrder:
    """Output channels of order ``l`` in sorted layout: for 0 ``[trivial..., sign...]``,
    for ``l >= 1`` ``[c..., s...]``; ``channels`` are the internal channel indices."""

    order: int
    channels: np.ndarray
    n_trivial: int = 0  # order 0: number of trivial channels (the rest are sign channels)

    @property
    def width(self) -> int:
        return len(self.channels)

    def columns(self) -> list:
        """``[(out kind, first column, fields)]`` of the sorted layout (kinds present only)."""
        if self.order == 0:
            subs = [("0", 0, self.n_trivial), ("0-", self.n_trivial, self.width - self.n_trivial)]
            return [s for s in subs if s[2]]
        return [(str(self.order), 0, self.width // 2)]


class KernelPlan:
    """Row blocks, weight index tables and parameter counts for one GaugeConv, from the solver.

    Internal "sorted" layouts group the channels by kind (all c then all s of one order), so that
    every (input kind, output order) pair is one dense block. ``W_flat.index_add_(0, pos, sign *
    weight[param])`` builds every neighbour block at ``block_offset[(g, l_out)] = (offset, rows,
    width)`` (rows ``(aggregate block - first block) * m + input field``, columns the output
    order's sorted channels); ``self_pos, self_param, self_sign`` likewise the self-interaction
    ``(D_in sorted, D_out sorted)``; ``bias_pos, bias_param, bias_sign`` the bias ``(D_out sorted,)``.

    Parameters
    ----------
    in_irreps, out_irreps : FieldType over SO2 or O2 (the layer decomposes C_N/D_N types first)
    rings : int >= 1
    band_limit : int >= 0 or None
    """

    def __init__(self, in_irreps: FieldType, out_irreps: FieldType, rings: int, band_limit):
        self.group = in_irreps.group
        self.rings = rings
        self.band_limit = band_limit
        # output orders, sorted layout
        self.outputs, self.out_offset, offset = {}, {}, 0
        for lo in sorted({f.order for f in out_irreps}):
            if lo == 0:
                triv, sign = (np.flatnonzero(out_irreps.mask(k)) for k in ("0", "0-"))
                self.outputs[0] = OutputOrder(0, np.concatenate([triv, sign]), n_trivial=len(triv))
            else:
                pairs = out_irreps.channels(str(lo))
                self.outputs[lo] = OutputOrder(lo, pairs.T.reshape(-1))
            self.out_offset[lo] = offset
            offset += self.outputs[lo].width
        self.out_sorted = np.concatenate([out.channels for out in self.outputs.values()])
        # input groups and their aggregate blocks
        self.groups = []
        for kind in sorted({f.kind for f in in_irreps}, key=lambda k: (_order(k), k.endswith("-"))):
            order = _order(kind)
            k = 1 if order == 0 else 2
            group = InputGroup(kind, order, k, in_irreps.channels(kind).T.reshape(-1))
            for lo in self.outputs:
                freqs = self._frequencies(kind, lo)
                if not freqs:
                    continue
                first = len(group.blocks)
                for n in freqs:
                    for j in range(rings):
                        group.blocks.extend((n, j, part) for part in range(_parts(kind, n)))
                group.out_range[lo] = (first, len(group.blocks))
            self.groups.append(group)
        self.in_sorted = np.concatenate([g.channels for g in self.groups])
        self._build_tables()

    def _frequencies(self, kind: str, l_out: int) -> list:
        """The n with ``|l_in + n| = l_out`` (``n >= 0`` for real inputs: ``S_-n = conj(S_n)``),
        within the band limit, that carry some intertwiner."""
        l_in = _order(kind)
        freqs = sorted({l_out - l_in, -l_out - l_in}, key=lambda v: (abs(v), v))
        if l_in == 0:
            freqs = [n for n in freqs if n >= 0]
        if self.band_limit is not None:
            freqs = [n for n in freqs if abs(n) <= self.band_limit]
        subs = self.outputs[l_out].columns()
        return [n for n in freqs if any(len(_pair_basis(self.group, kind, n, ko)) for ko, _, _ in subs)]

    def _build_tables(self) -> None:
        neighbour, self_tables, bias = _Tables(), _Tables(), _Tables()
        self.block_offset, offset = {}, 0
        width_all = len(self.out_sorted)
        row0 = 0
        for gi, g in enumerate(self.groups):
            for lo, (b0, b1) in g.out_range.items():
                out = self.outputs[lo]
                self.block_offset[(gi, lo)] = (offset, (b1 - b0) * g.m, out.width)
                blocks = g.blocks[b0:b1]
                for n in dict.fromkeys(b[0] for b in blocks):
                    for j in range(self.rings):
                        rows = [blocks.index((n, j, part)) for part in range(_parts(g.kind, n))]
                        for ko, col0, m_out in out.columns():
                            basis = _pair_basis(self.group, g.kind, n, ko)
                            neighbour.add(basis, offset, out.width, rows, g.m, col0, m_out)
                offset += (b1 - b0) * g.m * out.width
            for lo, out in self.outputs.items():  # self-interaction: intertwiners in -> out
                for ko, col0, m_out in out.columns():
                    basis = _pair_basis(self.group, g.kind, None, ko)
                    col = self.out_offset[lo] + col0
                    self_tables.add(basis, row0 * width_all, width_all, range(g.k), g.m, col, m_out)
            row0 += len(g.channels)
        for lo, out in self.outputs.items():  # bias: the invariant output directions
            for ko, col0, m_out in out.columns():
                bias.add(_bias_basis(self.group, ko), 0, width_all, [0], 1, self.out_offset[lo] + col0, m_out)
        self.n_flat, self.n_params = offset, neighbour.n_params
        self.pos, self.param, self.sign = neighbour.arrays()
        self.n_self_flat, self.n_self_params = row0 * width_all, self_tables.n_params
        self.self_pos, self.self_param, self.self_sign = self_tables.arrays()
        self.n_bias = bias.n_params
        self.bias_pos, self.bias_param, self.bias_sign = bias.arrays()


class _Tables:
    """Accumulates ``(flat position, parameter index, coefficient)`` triples of block matrices."""

    def __init__(self):
        self.pos, self.param, self.sign = [], [], []
        self.n_params = 0

    def add(self, basis, offset: int, width: int, rows, m_in: int, col0: int, m_out: int) -> None:
        """One weight per (basis element, output field, input field): basis element ``b`` adds
        ``basis[b, co, ca]`` at row ``rows[ca] * m_in + i``, column ``col0 + co * m_out + o`` of the
        (rows, width) matrix at ``offset`` of the flat buffer."""
        if not m_out or not m_in:
            return
        for b in basis:
            idx = self.n_params + np.arange(m_out * m_in).reshape(m_out, m_in)
            for co, ca in zip(*np.nonzero(b)):
                r = rows[ca] * m_in + np.arange(m_in)
                c = col0 + co * m_out + np.arange(m_out)
                self.pos.append(offset + r[None, :] * width + c[:, None])
                self.param.append(idx)
                self.sign.append(np.full((m_out, m_in), b[co, ca]))
            self.n_params += m_out * m_in

    def arrays(self):
        if not self.pos:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        return tuple(np.concatenate([x.ravel() for x in xs]) for xs in (self.pos, self.param, self.sign))
