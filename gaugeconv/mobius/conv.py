"""`MobiusConv`: a reflection-steerable convolution on the one-chart Möbius strip."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .grid import field_layout, seam_matrix, seam_pad

__all__ = ["MobiusConv", "reflection_basis"]


def reflection_basis(matrix: np.ndarray):
    """Eigenbasis of a seam action: ``matrix = Q diag(sign) Q^T``.

    Parameters
    ----------
    matrix : (C, C) symmetric involution ``rho(F)``

    Returns
    -------
    Q : (C, C) orthogonal, columns the eigenvectors; sign : (C,) entries +1 or -1
    """
    values, vectors = np.linalg.eigh(matrix)
    sign = np.where(values > 0, 1.0, -1.0)
    if not np.allclose(np.abs(values), 1.0, atol=1e-9):
        raise ValueError("rho(F) must be an involution (eigenvalues +1 and -1)")
    return vectors, sign


class MobiusConv(nn.Module):
    """Convolution on the strip's chart whose kernel obeys the seam's reflection constraint.

    The kernel ``K`` of shape ``(C_out, C_in, k, k)`` (rows across the strip, columns along it)
    satisfies ``K[:, :, -dy, dx] = rho_out(F) K[:, :, dy, dx] rho_in(F)`` for offsets ``dy``
    across and ``dx`` along, which makes the convolution commute with the mirror across the
    width; with the seam padding of :func:`gaugeconv.mobius.grid.seam_pad` it commutes with
    every shift along the strip, including those that cross the seam. The constraint is solved
    exactly: in the eigenbases of ``rho_in(F)``, ``rho_out(F)`` each channel pair is an even
    (same signs) or odd (opposite signs) function of ``dy``; only the independent half is a
    parameter, so the parameter count is the dimension of the space of allowed kernels.

    O(2) irreps ``k >= 1`` are treated through their restriction to the flip group
    ``{e, F}`` (the strip's structure group): the kernel is reflection-, not rotation-, steerable.

    Parameters
    ----------
    in_type, out_type : FieldType of group "D1" or "O2"
    kernel_size : odd int (3 or 5 typically)
    bias : add a learned bias on the invariant subspace of ``rho_out(F)`` (trivial fields, the
        symmetric part of regular fields; sign-flip fields and irreps get none)

    Shapes
    ------
    x : (B, C_in, W, L) -> (B, C_out, W, L)
    """

    def __init__(self, in_type, out_type, kernel_size: int = 3, bias: bool = True):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size}")
        field_layout(in_type), field_layout(out_type)
        self.in_type, self.out_type, self.kernel_size = in_type, out_type, int(kernel_size)
        a_in, a_out = seam_matrix(in_type), seam_matrix(out_type)
        q_in, s_in = reflection_basis(a_in)
        q_out, s_out = reflection_basis(a_out)
        parity = s_out[:, None] * s_in[None, :]  # (C_out, C_in): +1 even in dy, -1 odd
        even, odd = np.nonzero(parity > 0), np.nonzero(parity < 0)
        half = self.kernel_size // 2
        k = self.kernel_size
        self.register_buffer("seam_in", torch.as_tensor(a_in))
        self.register_buffer("q_in", torch.as_tensor(q_in))
        self.register_buffer("q_out", torch.as_tensor(q_out))
        self.register_buffer("even_index", torch.as_tensor(np.stack(even), dtype=torch.int64))
        self.register_buffer("odd_index", torch.as_tensor(np.stack(odd), dtype=torch.int64))
        # rows dy = 0..half (even) and dy = 1..half (odd); columns dx = -half..half
        self.weight_even = nn.Parameter(torch.empty(len(even[0]), half + 1, k))
        self.weight_odd = nn.Parameter(torch.empty(len(odd[0]), half, k))
        plus = np.flatnonzero(s_out > 0)
        self.register_buffer("bias_basis", torch.as_tensor(q_out[:, plus]))  # (C_out, n_plus)
        self.bias = nn.Parameter(torch.empty(len(plus))) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = math.sqrt(2.0 / (self.in_type.dim * self.kernel_size**2))
        nn.init.normal_(self.weight_even, std=std)
        nn.init.normal_(self.weight_odd, std=std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def n_weights(self) -> int:
        """Independent parameters (kernel and bias)."""
        return sum(p.numel() for p in self.parameters())

    def kernel(self) -> torch.Tensor:
        """The constrained kernel ``(C_out, C_in, k, k)``, rows ``dy = -h..h`` across, columns along."""
        we, wo = self.weight_even, self.weight_odd
        h = self.kernel_size // 2
        full_even = torch.cat([we.flip(1)[:, :h], we], dim=1)  # row a <- dy = a - h, value at |dy|
        zero = wo.new_zeros(wo.shape[0], 1, wo.shape[2])
        full_odd = torch.cat([-wo.flip(1), zero, wo], dim=1)  # antisymmetric in dy
        c_out, c_in = self.q_out.shape[0], self.q_in.shape[0]
        k = self.kernel_size
        eig = torch.zeros(c_out, c_in, k, k, dtype=we.dtype, device=we.device)
        eig = eig.index_put((self.even_index[0], self.even_index[1]), full_even)
        eig = eig.index_put((self.odd_index[0], self.odd_index[1]), full_odd)
        # o, i: channels; O, I: eigen-channels; a, b: kernel rows (across), columns (along)
        return torch.einsum("oO,OIab,iI->oiab", self.q_out.to(we.dtype), eig, self.q_in.to(we.dtype))

    def bias_vector(self) -> torch.Tensor | None:
        """The bias (C_out,), invariant under ``rho_out(F)``, or None."""
        if self.bias is None:
            return None
        return self.bias_basis.to(self.bias.dtype) @ self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_type.dim:
            raise ValueError(f"expected features (B, {self.in_type.dim}, W, L), got {tuple(x.shape)}")
        h = self.kernel_size // 2
        padded = seam_pad(x, self.seam_in, along=h, across=h)
        return torch.nn.functional.conv2d(padded, self.kernel(), self.bias_vector())

    def __repr__(self) -> str:
        return f"MobiusConv({self.in_type} -> {self.out_type}, k={self.kernel_size} | {self.n_weights} weights)"
