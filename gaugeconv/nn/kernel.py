"""The solved kernel constraint of :class:`~gaugeconv.nn.GaugeConv`, as index tables.

Everything here is static (depends on field types, rings and band limit, not on a mesh).

Complex form. An irrep of order ``l >= 1`` is one complex number ``z = c + i s`` per field;
``rho_l(R(a)) z = e^{i l a} z`` and ``rho_l(F) z = conj(z)``. Trivial (``0``) and sign (``0-``)
fields are real. The kernel ``K(theta) = rho_out(theta) W rho_in(theta)^-1`` with the general real
linear map ``W u = a u + b conj(u)`` gives, for the transported neighbour feature ``u``::

    K(theta) u = a e^{i (l_out - l_in) theta} u + b conj(e^{-i (l_out + l_in) theta} u)

so after summing over neighbours with the angular factors ``S_n = sum_e w_e e^{i n theta_e} u_e``
every output is a complex-linear combination of a few aggregates ``S_n`` with ``n = l_out - l_in``
("a" terms) or ``n = -(l_out + l_in)`` ("b" terms). Both give ``|l_in + n| = l_out``: every
aggregate feeds exactly one output order, which keeps the per-vertex linear maps block sparse.
Order-0 inputs contribute ``a S_{l_out}``; order-0 outputs take ``Re(c S_{-l_in})``.
The band limit keeps the terms with ``|n| <= band_limit``. For O(2) the reflection constraint
``K(-theta) = rho_out(F) K(theta) rho_in(F)`` makes ``a, b, c`` real, or imaginary where exactly
one side is a sign field (``0-``); trivial<->sign couplings vanish.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..groups import FieldType


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


def _channels_by_kind(ftype: FieldType):
    """``{kind: (c_indices, s_indices)}``; s empty for 1-dim kinds; kind "0", "0-", "1", ..."""
    out = {}
    for kind, start, width in ftype:
        c, s = out.setdefault(kind, ([], []))
        c.append(start)
        if width == 2:
            s.append(start + 1)
    return out


def _sort_kinds(kinds):
    return sorted(kinds, key=lambda k: (int(k.rstrip("-")), k.endswith("-")))


class KernelPlan:
    """Row blocks, weight index tables and parameter counts for one GaugeConv.

    Parameters
    ----------
    in_irreps, out_irreps : FieldType over SO2 or O2 (the layer decomposes C_N/D_N types first)
    rings : int >= 1
    band_limit : int >= 0 or None
    """

    def __init__(self, in_irreps: FieldType, out_irreps: FieldType, rings: int, band_limit):
        self.o2 = in_irreps.group == "O2"
        self.rings = rings
        self.band_limit = band_limit
        by_in = _channels_by_kind(in_irreps)
        by_out = _channels_by_kind(out_irreps)
        # output orders, sorted layout
        self.outputs = {}
        out_orders = sorted({int(k.rstrip("-")) for k in by_out})
        offset = 0
        self.out_offset = {}
        for lo in out_orders:
            if lo == 0:
                triv = by_out.get("0", ([], []))[0]
                sign = by_out.get("0-", ([], []))[0]
                chans = np.array(triv + sign, dtype=np.int64)
                self.outputs[0] = OutputOrder(0, chans, n_trivial=len(triv))
            else:
                c, s = by_out[str(lo)]
                self.outputs[lo] = OutputOrder(lo, np.array(c + s, dtype=np.int64))
            self.out_offset[lo] = offset
            offset += self.outputs[lo].width
        self.out_sorted = np.concatenate([self.outputs[lo].channels for lo in out_orders])
        # input groups and their aggregate blocks
        self.groups = []
        for kind in _sort_kinds(by_in):
            c, s = by_in[kind]
            order = int(kind.rstrip("-"))
            k = 1 if order == 0 else 2
            group = InputGroup(kind, order, k, np.array(c + s, dtype=np.int64))
            for lo in out_orders:
                freqs = self._frequencies(order, lo)
                if not freqs:
                    continue
                first = len(group.blocks)
                for n in freqs:
                    parts = (0,) if (order == 0 and n == 0) else (0, 1)
                    for j in range(rings):
                        group.blocks.extend((n, j, part) for part in parts)
                group.out_range[lo] = (first, len(group.blocks))
            self.groups.append(group)
        self._build_tables(by_out)

    def _frequencies(self, l_in: int, l_out: int) -> list:
        if l_in == 0:
            freqs = [l_out]
        elif l_out == 0:
            freqs = [-l_in]
        else:
            freqs = [l_out - l_in, -(l_out + l_in)]
        if self.band_limit is not None:
            freqs = [n for n in freqs if abs(n) <= self.band_limit]
        return freqs

    # ------------------------------------------------------------------ weight tables
    def _build_tables(self, by_out) -> None:
        """Index tables such that ``W_flat.index_add_(0, pos, sign * weight[param])`` builds
        every block matrix of the neighbour term and ``S_flat`` likewise the self-interaction.

        The neighbour block of (group g, output order lo) is a dense (rows, width) matrix at
        ``block_offset[(g, lo)] = (offset, rows, width)`` of the flat buffer; rows are
        ``(aggregate block - first block) * m + input channel``. The self-interaction is one
        (D_in sorted, D_out sorted) matrix; input sorted layout = the groups' channels in order.
        """
        self.block_offset = {}
        self.pair_params = {}  # (in kind, out kind) -> neighbour parameters over all rings
        tables = _Tables()
        offset = 0
        for gi, g in enumerate(self.groups):
            for lo, (b0, b1) in g.out_range.items():
                out = self.outputs[lo]
                self.block_offset[(gi, lo)] = (offset, (b1 - b0) * g.m, out.width)
                blocks = g.blocks[b0:b1]
                for n in sorted({b[0] for b in blocks}, key=lambda v: (abs(v), v)):
                    for j in range(self.rings):
                        re = blocks.index((n, j, 0))
                        im = blocks.index((n, j, 1)) if (n, j, 1) in blocks else None
                        for key, comps in self._entries(g, lo, n, re, im, out):
                            count = tables.add(comps, offset, g.m, out.width)
                            self.pair_params[key] = self.pair_params.get(key, 0) + count
                offset += (b1 - b0) * g.m * out.width
        self.n_flat = offset
        self.n_params = tables.n_params
        self.pos, self.param, self.sign = tables.arrays()
        # self-interaction: commutes with rho, so only equal kinds couple
        width = len(self.out_sorted)
        self.in_sorted = np.concatenate([g.channels for g in self.groups])
        self_tables = _Tables()
        row0 = 0
        for g in self.groups:
            out = self.outputs.get(g.order)
            if out is not None:
                if g.order == 0:
                    col0, m_out = (0, out.n_trivial) if g.kind == "0" else (out.n_trivial, out.width - out.n_trivial)
                    comps = [{"shape": (m_out, g.m), "uses": [(0, self.out_offset[0] + col0, 1.0)]}]
                else:
                    m_out = out.width // 2
                    cs, ss = self.out_offset[g.order], self.out_offset[g.order] + m_out
                    comps = [{"shape": (m_out, g.m), "uses": [(0, cs, 1.0), (1, ss, 1.0)]}]
                    if not self.o2:
                        comps.append({"shape": (m_out, g.m), "uses": [(1, cs, -1.0), (0, ss, 1.0)]})
                if m_out:
                    self_tables.add(comps, row0 * width, g.m, width)
            row0 += len(g.channels)
        self.n_self_flat = row0 * width
        self.n_self_params = self_tables.n_params
        self.self_pos, self.self_param, self.self_sign = self_tables.arrays()

    def _entries(self, g, lo, n, re, im, out):
        """Parameter components of the (g -> lo) term at frequency n.

        Returns ``[(pair_key, [component, ...]), ...]``; a component is one real (m_out, m_in)
        parameter matrix with ``uses`` = [(row block, first output column, coefficient)].
        """
        result = []
        if lo == 0:
            sub = [("0", 0, out.n_trivial), ("0-", out.n_trivial, out.width - out.n_trivial)]
        else:
            m_out = out.width // 2
            sub = [(str(lo), 0, m_out)]
        for out_kind, col0, m_out in sub:
            if m_out == 0:
                continue
            key = (g.kind, out_kind)
            comps = []
            if g.order == 0 and lo == 0:
                # real -> real: trivial<->trivial, sign<->sign
                if (g.kind == "0-") == (out_kind == "0-") or not self.o2:
                    comps.append({"shape": (m_out, g.m), "uses": [(re, col0, 1.0)]})
            elif lo == 0:
                # Re(c S) = cr Sr - ci Si; O2: c real for trivial outputs, imaginary for sign outputs
                if not self.o2 or out_kind == "0":
                    comps.append({"shape": (m_out, g.m), "uses": [(re, col0, 1.0)]})
                if not self.o2 or out_kind == "0-":
                    comps.append({"shape": (m_out, g.m), "uses": [(im, col0, -1.0)]})
            else:
                b_term = g.order >= 1 and n == -(lo + g.order)
                cs, ss = col0, col0 + m_out
                if b_term:  # b conj(S): c = br Sr + bi Si, s = bi Sr - br Si
                    real_uses = [(re, cs, 1.0), (im, ss, -1.0)]
                    imag_uses = [(im, cs, 1.0), (re, ss, 1.0)]
                else:  # a S: c = ar Sr - ai Si, s = ai Sr + ar Si
                    real_uses = [(re, cs, 1.0), (im, ss, 1.0)]
                    imag_uses = [(im, cs, -1.0), (re, ss, 1.0)]
                # O2: real coefficient, or imaginary when the input is a sign field
                if not self.o2 or g.kind != "0-":
                    comps.append({"shape": (m_out, g.m), "uses": real_uses})
                if not self.o2 or g.kind == "0-":
                    comps.append({"shape": (m_out, g.m), "uses": imag_uses})
            if comps:
                result.append((key, comps))
        return result


class _Tables:
    """Accumulates ``(flat position, parameter index, coefficient)`` triples."""

    def __init__(self):
        self.pos, self.param, self.sign = [], [], []
        self.n_params = 0

    def add(self, comps, offset: int, m_in: int, width: int) -> int:
        """Add components (each a real (m_out, m_in) parameter matrix used at ``uses`` =
        [(row block, first column, coefficient)]) to a (rows, width) matrix at ``offset``."""
        count = 0
        for comp in comps:
            m_out, m = comp["shape"]
            idx = self.n_params + np.arange(m_out * m).reshape(m_out, m)
            for blk, col0, coeff in comp["uses"]:
                rows = blk * m_in + np.arange(m)
                cols = col0 + np.arange(m_out)
                self.pos.append(offset + rows[None, :] * width + cols[:, None])
                self.param.append(idx)
                self.sign.append(np.full((m_out, m), coeff))
            self.n_params += m_out * m
            count += m_out * m
        return count

    def arrays(self):
        if not self.pos:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        return tuple(np.concatenate([x.ravel() for x in xs]) for xs in (self.pos, self.param, self.sign))
