"""`IcoConv`: the 7-point hexagonal C6 convolution on the icosahedral atlas, as one conv2d.

The kernel has a centre tap and six taps at the lattice directions ``d = 0..5`` (60 d degrees).
Gauge equivariance (the p6 weight sharing) asks the kernel ``K[:, :, tap]`` (output x input
channels) to satisfy ``K[:, :, g tap] = rho_out(g) K[:, :, tap] rho_in(g)^T`` for the rotation g by
60 degrees, which moves tap ``d -> d + 1`` and fixes the centre. That is an intertwiner from
``(C6 on the 7 taps) (x) rho_in`` to ``rho_out``, found per pair of field kinds by the library's
one solver (:func:`gaugeconv.nn.kernel.intertwiner_basis`, :func:`kernel_basis`). For permutation
representations (trivial and regular fields) these are exactly the indicators of the orbits of
kernel entries: 42 weights per (regular, regular) pair of fields, 7 per (trivial, regular) or
(regular, trivial), 2 per (trivial, trivial) (centre and ring); irreps get their
rotation-steerable kernels from the same solver. The bias lives on the C6-invariant vectors
(:func:`gaugeconv.nn.kernel.invariant_basis`).

Forward: ONE ``conv2d`` with zero padding over the five charts as a batch ``(5 B, C, n, 2n)``,
the very call a plain chart CNN makes, then a correction on the one-cell ring around every
chart, where the zero padding read 0 instead of the transported border: the two outer kernel
taps of each side times the transported border cells read as im2col patches
(:func:`~gaugeconv.ico.tables.transport_table`), one batched matrix product for the rows above and
below each chart and one for the columns left and right. The patches are about ``6 / n`` of the
cells. The corners are set by the corner rule (:class:`CornerRule`). The layer is one autograd
node whose backward keeps it to one copy of the features each way.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn import functional as F

from ..groups import FieldType, group_elements
from ..nn.kernel import intertwiner_basis, invariant_basis, tile_basis
from ..nn.util import SparseRead, as_tensor, check_gain
from .atlas import DIRECTIONS, IcoAtlas
from .padding import CornerRule
from .tables import border_cells, check_atlas, check_c6_type, corner_table, transport_table

__all__ = ["IcoConv", "kernel_basis"]

#: (row, column) of the 3x3 conv2d kernel for the centre and the six directions.
TAPS = np.concatenate([[(1, 1)], DIRECTIONS + 1])
#: The rotation by 60 degrees on the 7 taps: centre fixed, direction d -> d + 1.
TAP_ACTION = np.array([0, 2, 3, 4, 5, 6, 1])


def _c6_rho(kind: str) -> np.ndarray:
    """``rho(R(60 j))``, j = 0..5, of one C6 field of ``kind``: (6, d, d)."""
    return FieldType(f"1x{kind}", group="C6").rho(*group_elements("C6"))


@lru_cache(maxsize=64)
def kernel_basis(out_kind: str, in_kind: str) -> np.ndarray:
    """Basis of the equivariant 7-tap kernels from one C6 field of ``in_kind`` to one of ``out_kind``.

    The intertwiners from ``P(g) (x) rho_in(g)`` (``P`` the action of C6 on the 7 taps: centre fixed,
    direction d -> d + j) to ``rho_out(g)``, from :func:`gaugeconv.nn.kernel.intertwiner_basis`.

    Parameters
    ----------
    out_kind, in_kind : "0", "1", "2", ..., or "reg"

    Returns
    -------
    read-only ndarray ``(n, d_out, d_in, 7)`` float64, tap 0 the centre and tap ``1 + d`` direction d;
    each element the group average of an elementary kernel, scaled to a largest entry of 1.
    """
    r_out, r_in = _c6_rho(out_kind), _c6_rho(in_kind)
    taps = np.zeros((6, 7, 7))
    for j in range(6):  # P(g^j): tap t -> TAP_ACTION^j(t)
        moved = np.arange(7)
        for _ in range(j):
            moved = TAP_ACTION[moved]
        taps[j, moved, np.arange(7)] = 1.0
    rho_a = np.einsum("gyi,gst->gysit", r_in, taps).reshape(6, 7 * len(r_in[0]), -1)  # (input channel, tap)
    basis = intertwiner_basis(rho_a, r_out).reshape(-1, len(r_out[0]), len(r_in[0]), 7)
    basis.flags.writeable = False
    return basis


def _bias_basis(out_kind: str, _=None) -> np.ndarray:
    """The C6-invariant vectors of one field of ``out_kind``, ``(n, d)``."""
    return invariant_basis(_c6_rho(out_kind))


def _pad_last(arrays, fill):
    width = max(a.shape[-1] for a in arrays)
    return [np.concatenate([a, np.full(a.shape[:-1] + (width - a.shape[-1],), fill, a.dtype)], -1) for a in arrays]


#: Flat 3x3 taps (row * 3 + column) of the two outer taps of each side of a chart, in the order
#: s = -1 (row above), s = n (row below), t = -1 (column left), t = 2n (column right).
SIDE_TAPS = np.array([[0, 1], [7, 8], [0, 3], [5, 8]])
#: Position offsets of those taps along their strip (lattice t for rows, s for columns).
SIDE_OFFSETS = np.array([[-1, 0], [0, 1], [-1, 0], [0, 1]])
for _table in (TAPS, TAP_ACTION, SIDE_TAPS, SIDE_OFFSETS):
    _table.flags.writeable = False  # module constants


def _ring_tables(atlas: IcoAtlas, in_type: FieldType, out_dim: int, transport: bool):
    """The sparse read of the transported ring and where the corrections land.

    The zero-padded conv2d reads zeros on the ring of each chart; the exact conv reads the
    transported border. The border is read as im2col patches: for each side (rows ``s = -1``,
    ``s = n``, then columns ``t = -1``, ``t = 2n``), channel c, tap j of the side's two outer taps (the
    only ones reaching that side), chart k and position u along the side (2n along a row, n along
    a column), the cell ``u + SIDE_OFFSETS[side, j]`` of the side's strip (ring corners are read
    once, by the rows). Returns ``index, coef`` (rows ``(side, c, j, k, u)``, the two row sides
    first) of a :class:`SparseRead` on ``(B, C_in V)``, and the output cells ``(channel, atlas
    index)`` of the row and the column corrections, ``(2, C_out, 5, length)`` each.
    """
    n, v, ci = atlas.n, atlas.n_vertices, in_type.dim
    strips = border_cells(atlas, transport)
    index, coef, targets = [], [], []
    for part, (src, shift, valid) in enumerate(strips):
        length = 2 * n if part == 0 else n
        side, j, k, u = np.meshgrid(np.arange(2), np.arange(2), np.arange(5), np.arange(length), indexing="ij")
        cell = u + SIDE_OFFSETS[2 * part + side, j] + 1  # strip index of the read cell
        i, c = transport_table(in_type, src[k, side, cell], shift[k, side, cell], valid[k, side, cell], v)
        # (c, side, j, k, u, K) -> (side, c, j, k, u, K)
        index += [i.reshape(ci, 2, 2, 5, length, -1).transpose(1, 0, 2, 3, 4, 5).reshape(-1, i.shape[-1])]
        coef += [c.reshape(ci, 2, 2, 5, length, -1).transpose(1, 0, 2, 3, 4, 5).reshape(-1, c.shape[-1])]
        side, c, k, u = np.meshgrid(np.arange(2), np.arange(out_dim), np.arange(5), np.arange(length), indexing="ij")
        if part == 0:  # rows: the first and the last row of each chart
            s_out, t_out = np.where(side == 0, 0, n - 1), u
        else:  # columns: the first and the last column
            s_out, t_out = u, np.where(side == 0, 0, 2 * n - 1)
        targets.append((c, k * 2 * n * n + s_out * 2 * n + t_out))
    return np.concatenate(_pad_last(index, 0)), np.concatenate(_pad_last(coef, 0.0)), targets[0], targets[1]


def _read(x: torch.Tensor, conv: "IcoConv"):
    """The conv2d input ``(5 B, C, n, 2n)`` (the charts of an atlas tensor ``(B, C, V)`` as a batch)
    and the transported ring as im2col patches, rows ``(B, 2, 2 C, 10 n)`` and columns
    ``(B, 2, 2 C, 5 n)`` (side; channel and tap; chart and position, see :func:`_ring_tables`)."""
    b, c, v = x.shape
    n, area = conv.n, 10 * conv.n**2
    charts = x[..., :area].reshape(b, c, 5, 2 * n * n).transpose(1, 2)
    body = charts.clone(memory_format=torch.contiguous_format).view(5 * b, c, n, 2 * n)
    cells = conv.ring(x.reshape(b, c * v))
    split = 40 * c * n  # the row patches (B, 2, 2C, 10n), then the column patches (B, 2, 2C, 5n)
    return body, cells[:, :split].view(b, 2, 2 * c, 10 * n), cells[:, split:].view(b, 2, 2 * c, 5 * n)


def _read_adjoint(grad_body, grad_rows, grad_cols, conv: "IcoConv", shape) -> torch.Tensor:
    """Gradient of :func:`_read`: one ``(B, C, V)`` tensor (one copy, then the ring's few cells)."""
    b, c, v = shape
    n, area = conv.n, 10 * conv.n**2
    grad_x = grad_body.new_empty(b, c, v)
    grad_x[..., area:] = 0
    grad_x[..., :area].view(b, c, 5, 2 * n * n).copy_(grad_body.view(b, 5, c, 2 * n * n).transpose(1, 2))
    conv.ring.adjoint_(torch.cat([grad_rows.reshape(b, -1), grad_cols.reshape(b, -1)], 1), grad_x.view(b, c * v))
    return grad_x


def _assemble(out: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, conv: "IcoConv") -> torch.Tensor:
    """Atlas tensor ``(B, C, V)`` from the zero-padded conv2d output ``(5 B, C, n, 2n)`` and the ring
    corrections, rows ``(B, 2, C, 10 n)`` and columns ``(B, 2, C, 5 n)`` (side; channel; chart and
    position), then the corner rule."""
    n = conv.n
    b, c = out.shape[0] // 5, out.shape[1]
    area = 10 * n * n
    result = out.new_empty(b, c, area + 2)
    result[..., :area].view(b, c, 5, 2 * n * n).copy_(out.view(b, 5, c, 2 * n * n).transpose(1, 2))
    result[..., area:] = 0
    flat = result.view(b, -1)
    flat.index_add_(1, conv.rows_v, rows.reshape(b, -1))
    flat.index_add_(1, conv.cols_v, cols.reshape(b, -1))
    flat.index_copy_(1, conv.corner_rule.targets, conv.corner_rule.read(flat))
    return result


def _assemble_adjoint(grad: torch.Tensor, conv: "IcoConv"):
    """Gradient of :func:`_assemble`: ``grad_out (5 B, C, n, 2n)``, ``grad_rows``, ``grad_cols``."""
    b, c, v = grad.shape
    n, area = conv.n, v - 2
    charts = grad[..., :area].view(b, c, 5, 2 * n * n).transpose(1, 2)
    body = charts.clone(memory_format=torch.contiguous_format).view(b, -1)  # the conv layout (5, C, 2n^2)
    to_corners = grad.reshape(b, c * v).index_select(1, conv.corner_rule.targets)
    body.index_fill_(1, conv.corners_p, 0)  # overwritten by the rule
    conv.corner_p.adjoint_(to_corners, body)
    grad_rows = body.index_select(1, conv.rows_p).view(b, 2, c, 10 * n)
    grad_cols = body.index_select(1, conv.cols_p).view(b, 2, c, 5 * n)
    return body.view(5 * b, c, n, 2 * n), grad_rows, grad_cols


class _IcoConvFunction(torch.autograd.Function):
    """The whole layer as one autograd node: kernel from the weights, chart read, conv2d, ring
    correction, assembly and corner rule forward; their adjoints backward (the conv2d's through
    ``aten.convolution_backward``). One node instead of a dozen keeps small levels cheap."""

    @staticmethod
    def forward(ctx, x, weight, bias, conv):
        kernel, sides = conv._kernel_and_sides(weight)
        body, rows, cols = _read(x, conv)
        out = F.conv2d(body, kernel, conv.bias_vector(bias), padding=1)
        result = _assemble(out, torch.matmul(sides[:2], rows), torch.matmul(sides[2:], cols), conv)
        ctx.save_for_backward(body, rows, cols, kernel, sides)
        ctx.conv, ctx.shape, ctx.has_bias = conv, x.shape, bias is not None
        return result

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        body, rows, cols, kernel, sides = ctx.saved_tensors
        conv = ctx.conv
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        grad_out, grad_rows, grad_cols = _assemble_adjoint(grad.contiguous(), conv)
        grad_body, grad_kernel, grad_bias = torch.ops.aten.convolution_backward(
            grad_out, body, kernel, [kernel.shape[0]] if ctx.has_bias else None,
            [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [need_x, need_w, need_b],
        )  # fmt: skip
        grad_x = grad_w = grad_b = None
        if need_x:
            s_t = sides.transpose(1, 2)
            grad_x = _read_adjoint(
                grad_body, torch.matmul(s_t[:2], grad_rows), torch.matmul(s_t[2:], grad_cols), conv, ctx.shape
            )
        if need_w:
            grad_sides = torch.cat(  # (4, C_out, 2 C_in)
                [
                    torch.matmul(grad_rows, rows.transpose(2, 3)).sum(0),
                    torch.matmul(grad_cols, cols.transpose(2, 3)).sum(0),
                ]
            )
            taps = torch.cat([grad_kernel.reshape(-1), grad_sides.reshape(-1)])[None]
            grad_w = conv.taps.adjoint_(taps, taps.new_zeros(1, conv.weight.numel() + 1))[0, :-1]
        if need_b:
            grad_b = conv.bias_map.adjoint_(grad_bias[None], grad_bias.new_zeros(1, conv.bias.numel() + 1))[0, :-1]
        return grad_x, grad_w, grad_b, None


class IcoConv(nn.Module):
    """Gauge-equivariant hexagonal convolution on the icosahedron at one level (C6 fast path).

    Parameters
    ----------
    in_type, out_type : C6 FieldType (trivial ``"0"``, irreps ``"1"``, ``"2"``, ..., regular ``"reg"``)
    atlas : the :class:`IcoAtlas` of the level (``IcoAtlas(level)``: ``V = 10 * 4**level + 2`` vertices)
    bias : C6-invariant bias, one weight per invariant direction of each output field (one for a
        trivial or regular field, broadcast over its 6 channels; none for a rotating irrep),
        initialised to zero
    transport : apply the C6 transporters at the chart seams; ``False`` is the naive padding
        (not equivariant for non-trivial fields; a baseline and a negative control)

    Shapes
    ------
    forward(x): atlas tensor ``(B, C_in, V)`` -> ``(B, C_out, V)``, atlas order; convert with
    :meth:`IcoAtlas.to_atlas` / :meth:`IcoAtlas.to_vertices`.

    Input fields must be C6-invariant at the 12 corners (which have no C6 frame): orientation-constant
    regular fields, zero rotating irreps. Every ico layer's output is, and so is anything built from
    scalars. The output's corners are set by :class:`CornerRule`.

    The layer is one autograd node with a hand-written first-order backward (checked by
    ``gradcheck``); double backward (e.g. gradient penalties) is not supported.
    """

    def __init__(
        self, in_type: FieldType, out_type: FieldType, atlas: IcoAtlas, bias: bool = True, transport: bool = True
    ):
        super().__init__()
        self.in_type, self.out_type = check_c6_type(in_type), check_c6_type(out_type)
        check_atlas(atlas, "IcoConv")
        self.level, self.transport = atlas.level, bool(transport)
        self.n = n = atlas.n
        v, area, ci, co = atlas.n_vertices, 10 * n * n, in_type.dim, out_type.dim
        # the ring read, as im2col patches of the two outer taps of each side (see _ring_tables)
        index, coef, rows_at, cols_at = _ring_tables(atlas, in_type, co, transport)
        self.ring = SparseRead(index, coef)
        # the corner rule, and its map in the conv layout (5, C, 2n^2) for the backward
        self.corner_rule = CornerRule(out_type, atlas)
        chart = 2 * n * n

        def conv_layout(c, a):  # (channel, atlas index) -> position in (5, C, 2n^2); -1 at the poles
            return np.where(a < area, (a // chart) * co * chart + c * chart + a % chart, -1)

        targets, index, coef = corner_table(atlas, out_type, conv_layout)
        self.corner_p = SparseRead(index, coef)
        self.register_buffer("corners_p", as_tensor(targets[targets >= 0]), persistent=False)
        for what, (c, a) in (("rows", rows_at), ("cols", cols_at)):
            self.register_buffer(f"{what}_v", as_tensor((c * v + a).reshape(-1)), persistent=False)
            self.register_buffer(f"{what}_p", as_tensor(conv_layout(c, a).reshape(-1)), persistent=False)
        # weights: kernel = the solver's basis of every pair of runs of fields, times the weights
        index, coef, count = tile_basis(out_type, in_type, kernel_basis, taps=(7,))  # (C_out, C_in, 7, K)
        full_index = np.full((co, ci, 9, index.shape[-1]), count, dtype=np.int64)
        full_coef = np.zeros((co, ci, 9, index.shape[-1]))
        full_index[:, :, TAPS[:, 0] * 3 + TAPS[:, 1]], full_coef[:, :, TAPS[:, 0] * 3 + TAPS[:, 1]] = index, coef
        # then the two outer taps of each side as matrices (4, C_out, C_in * 2) for the ring corrections
        side_index = full_index[:, :, SIDE_TAPS].transpose(2, 0, 1, 3, 4)  # (4, C_out, C_in, 2, K)
        side_coef = full_coef[:, :, SIDE_TAPS].transpose(2, 0, 1, 3, 4)
        self.taps = SparseRead(
            np.concatenate(
                [full_index.reshape(-1, full_index.shape[-1]), side_index.reshape(-1, side_index.shape[-1])]
            ),
            np.concatenate([full_coef.reshape(-1, full_coef.shape[-1]), side_coef.reshape(-1, side_coef.shape[-1])]),
        )
        self.weight = nn.Parameter(torch.empty(count))
        bias_index, bias_coef, n_bias = tile_basis(out_type, None, _bias_basis)
        self.bias = nn.Parameter(torch.empty(n_bias)) if bias and n_bias else None
        self.bias_map = SparseRead(bias_index, bias_coef) if self.bias is not None else None
        self.reset_parameters()

    def reset_parameters(self, gain: float = 2.0) -> None:
        """Normal weights of variance ``gain / (7 C_in)`` (the 7-tap fan-in; ``gain = 2``: He's);
        zero bias."""
        check_gain(gain)
        with torch.no_grad():
            self.weight.normal_(0.0, math.sqrt(gain / (7 * self.in_type.dim)))
            if self.bias is not None:
                self.bias.zero_()

    def kernel(self) -> torch.Tensor:
        """The full conv2d kernel ``(C_out, C_in, 3, 3)`` (the two off-hexagon taps are zero)."""
        return self._kernel_and_sides(self.weight)[0]

    def _kernel_and_sides(self, weight: torch.Tensor):
        """The kernel ``(C_out, C_in, 3, 3)`` and the side tap matrices ``(4, C_out, 2 C_in)`` from
        ``weight``, one gather."""
        co, ci = self.out_type.dim, self.in_type.dim
        taps = self.taps(torch.cat([weight, weight.new_zeros(1)])[None])[0]
        return taps[: co * ci * 9].view(co, ci, 3, 3), taps[co * ci * 9 :].view(4, co, 2 * ci)

    def bias_vector(self, bias: torch.Tensor | None = None) -> torch.Tensor | None:
        """The bias of every output channel, ``(C_out,)`` (C6-invariant per field), from ``bias``
        (default: the layer's), or None without bias."""
        bias = self.bias if bias is None else bias
        if bias is None:
            return None
        return self.bias_map(torch.cat([bias, bias.new_zeros(1)])[None])[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, ci = self.n, self.in_type.dim
        if x.ndim != 3 or x.shape[1] != ci or x.shape[2] != 10 * n * n + 2:
            raise ValueError(f"expected an atlas tensor (B, {ci}, {10 * n * n + 2}), got {tuple(x.shape)}")
        return _IcoConvFunction.apply(x, self.weight, self.bias, self)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, level={self.level} | {self.weight.numel()} weights"
