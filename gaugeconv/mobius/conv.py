"""`MobiusConv`: a reflection-steerable convolution on the one-chart Möbius strip."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from ..groups import FieldType
from ..nn.kernel import intertwiner_basis, invariant_basis, tile_basis
from ..nn.util import SparseRead, check_gain
from .grid import check_strip_type, seam_pad

__all__ = ["MobiusConv", "mirror_kernel_basis"]

#: The flip group {e, F}, the strip's structure group: (angle, flip) of its two elements.
FLIP_GROUP = (np.zeros(2), np.array([False, True]))
for _array in FLIP_GROUP:
    _array.flags.writeable = False  # a module constant


def _flip_rho(kind: str) -> np.ndarray:
    """``rho(e), rho(F)`` of one field of ``kind``, (2, d, d): regular fields of D1, the others of O2
    restricted to the flip group (the same for ``0`` and ``0-`` in both groups)."""
    return FieldType(f"1x{kind}", group="D1" if kind == "reg" else "O2").rho(*FLIP_GROUP)


@lru_cache(maxsize=128)
def mirror_kernel_basis(out_kind: str, in_kind: str, kernel_size: int) -> np.ndarray:
    """Basis of the kernels ``K (d_out, d_in, k, k)`` from one field of ``in_kind`` to one of
    ``out_kind`` with ``K[:, :, -dy, dx] = rho_out(F) K[:, :, dy, dx] rho_in(F)`` (rows ``dy`` across
    the strip, columns ``dx`` along it).

    The intertwiners from ``M (x) rho_in`` (``M`` the mirror of the k x k taps across the width)
    to ``rho_out`` over the flip group ``{e, F}``, from :func:`gaugeconv.nn.kernel.intertwiner_basis`.

    Returns
    -------
    read-only ndarray ``(n, d_out, d_in, k, k)``
    """
    k = kernel_size
    rows, cols = np.divmod(np.arange(k * k), k)  # flat tap t = row * k + column
    mirror = np.zeros((k * k, k * k))
    mirror[(k - 1 - rows) * k + cols, np.arange(k * k)] = 1.0  # F: row dy -> -dy
    taps = np.stack([np.eye(k * k), mirror])  # the action of e and F on the taps
    rho_in, rho_out = _flip_rho(in_kind), _flip_rho(out_kind)
    d_in, d_out = rho_in.shape[-1], rho_out.shape[-1]
    rho_a = np.einsum("gyi,gst->gysit", rho_in, taps).reshape(2, d_in * k * k, -1)  # (input channel, tap)
    basis = intertwiner_basis(rho_a, rho_out).reshape(-1, d_out, d_in, k, k)
    basis.flags.writeable = False
    return basis


class MobiusConv(nn.Module):
    """Convolution on the strip's chart whose kernel obeys the seam's reflection constraint.

    The kernel ``K`` of shape ``(C_out, C_in, k, k)`` (rows across the strip, columns along it)
    satisfies ``K[:, :, -dy, dx] = rho_out(F) K[:, :, dy, dx] rho_in(F)`` for offsets ``dy``
    across and ``dx`` along, which makes the convolution commute with the mirror across the
    width; with the seam padding of :func:`gaugeconv.mobius.grid.seam_pad` it commutes with
    every shift along the strip, including those that cross the seam. The constraint is solved by
    the library's one solver, per pair of field kinds (:func:`mirror_kernel_basis`): one weight per
    basis element, so the parameter count is the dimension of the space of allowed kernels.

    O(2) irreps ``k >= 1`` are treated through their restriction to the flip group
    ``{e, F}`` (the strip's structure group): the kernel is reflection-, not rotation-, steerable.

    Parameters
    ----------
    in_type, out_type : FieldType of group "D1" or "O2" (they may differ)
    kernel_size : odd int (3 or 5 typically)
    bias : a learned bias on the invariant vectors of ``rho_out(F)``
        (:func:`~gaugeconv.nn.kernel.invariant_basis`: trivial fields, the symmetric part of
        regular fields, the first channel of an O(2) irrep; sign fields get none)

    Shapes
    ------
    x : (B, C_in, W, L) -> (B, C_out, W, L)
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        check_strip_type(in_type), check_strip_type(out_type)  # D1 and O2 types may mix: both act through {e, F}
        self.in_type, self.out_type, self.kernel_size = in_type, out_type, int(kernel_size)
        k = self.kernel_size
        index, coef, count = tile_basis(out_type, in_type, lambda ko, ki: mirror_kernel_basis(ko, ki, k), taps=(k, k))
        self.taps = SparseRead(index.reshape(-1, index.shape[-1]), coef.reshape(-1, coef.shape[-1]))
        self.weight = nn.Parameter(torch.empty(count))
        bias_index, bias_coef, n_bias = tile_basis(out_type, None, lambda ko, _: invariant_basis(_flip_rho(ko)))
        self.bias = nn.Parameter(torch.empty(n_bias)) if bias and n_bias else None
        self.bias_map = SparseRead(bias_index, bias_coef) if self.bias is not None else None
        self.reset_parameters()

    def reset_parameters(self, gain: float = 2.0) -> None:
        """Normal weights of variance ``gain / (C_in k^2)`` (the fan-in); zero bias.

        The default ``gain = 2`` is He's (ReLU). The solved basis spreads each weight over its
        taps so that every output channel's kernel has about the same energy as an unconstrained
        one: ``sum K^2 ~ gain`` per output channel. ``gain = 1/3`` is the variance of PyTorch's
        default ``nn.Conv2d`` initialisation, for a comparison with conventional CNNs at equal
        initial variance."""
        check_gain(gain)
        nn.init.normal_(self.weight, std=math.sqrt(gain / (self.in_type.dim * self.kernel_size**2)))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def n_weights(self) -> int:
        """Independent parameters (kernel and bias)."""
        return sum(p.numel() for p in self.parameters())

    def kernel(self) -> torch.Tensor:
        """The constrained kernel ``(C_out, C_in, k, k)``, rows ``dy = -h..h`` across, columns along."""
        k = self.kernel_size
        flat = self.taps(torch.cat([self.weight, self.weight.new_zeros(1)])[None])[0]
        return flat.view(self.out_type.dim, self.in_type.dim, k, k)

    def bias_vector(self) -> torch.Tensor | None:
        """The bias (C_out,), invariant under ``rho_out(F)``, or None."""
        if self.bias is None:
            return None
        return self.bias_map(torch.cat([self.bias, self.bias.new_zeros(1)])[None])[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_type.dim:
            raise ValueError(f"expected features (B, {self.in_type.dim}, W, L), got {tuple(x.shape)}")
        h = self.kernel_size // 2
        padded = seam_pad(x, self.in_type, along=h, across=h)
        return torch.nn.functional.conv2d(padded, self.kernel(), self.bias_vector())

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, k={self.kernel_size} | {self.n_weights} weights"
