"""`IcoConv`: the 7-point hexagonal C6 convolution on the icosahedral atlas, as one conv2d.

The kernel has a centre tap and six taps at the lattice directions ``d = 0..5`` (60 d degrees).
Weight sharing of the p6 group convolution: the full kernel ``W[o, i, tap]`` (output channel o,
input channel i) is constant on the orbits of the rotation by 60 degrees, which moves tap
``d -> d + 1`` (the centre stays) and shifts the orientation channel of every regular field by
one (``j -> j + 1 mod 6``; trivial channels stay). For permutation representations the orbit
indicators span all equivariant kernels, so one free weight per orbit is the general solution:
42 weights per (regular, regular) field pair, 7 per (trivial, regular) or (regular, trivial)
pair, 2 per (trivial, trivial) pair (centre and ring).

Forward: pad the five charts across the seams with the C6 transporters (:class:`IcoPad`),
run ONE ``conv2d`` over the charts stacked along the rows, read the owned cells back into atlas
order, and apply the corner rule (:class:`CornerRule`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..groups import FieldType
from .atlas import DIRECTIONS, ico_atlas
from .padding import CornerRule, IcoPad, field_runs

#: (row, column) of the 3x3 conv2d kernel for the centre and the six directions.
TAPS = np.concatenate([[(1, 1)], DIRECTIONS + 1])


def _channel_action(field_type: FieldType) -> np.ndarray:
    """Image of each channel under the rotation by 60 degrees, ``(C,)``."""
    image = np.arange(field_type.dim)
    for kind, mult, a, b in field_runs(field_type):
        if kind == "reg":
            c = np.arange(b - a)
            image[a:b] = a + (c // 6) * 6 + (c % 6 + 1) % 6
    return image


def kernel_orbits(in_type: FieldType, out_type: FieldType) -> tuple[np.ndarray, int]:
    """Orbit id of every kernel entry ``(C_out, C_in, 7)`` under the C6 action, and the orbit count."""
    co, ci = out_type.dim, in_type.dim
    act_o, act_i = _channel_action(out_type), _channel_action(in_type)
    act_t = np.array([0, 2, 3, 4, 5, 6, 1])  # centre fixed, direction d -> d + 1
    o, i, t = np.meshgrid(np.arange(co), np.arange(ci), np.arange(7), indexing="ij")
    codes = []
    for _ in range(6):
        codes.append((o * ci + i) * 7 + t)
        o, i, t = act_o[o], act_i[i], act_t[t]
    canonical = np.min(np.stack(codes), axis=0)
    _, orbit = np.unique(canonical, return_inverse=True)
    return orbit.reshape(co, ci, 7), int(orbit.max()) + 1


class IcoConv(nn.Module):
    """Gauge-equivariant hexagonal convolution on the icosahedron at one level (C6 fast path).

    Parameters
    ----------
    in_type, out_type : FieldType with trivial ``"0"`` and (group ``"C6"``) regular ``"reg"`` fields
    level : subdivision level r of the icosahedron (``V = 10 * 4**r + 2`` vertices)
    bias : one bias per output field (broadcast over a regular field's 6 channels, which is
        invariant), initialised to zero
    transport : apply the C6 transporters at the chart seams; ``False`` is the naive padding
        (not equivariant for regular fields; a baseline and a negative control)

    Shapes
    ------
    forward(x): atlas tensor ``(B, C_in, V)`` -> ``(B, C_out, V)``, atlas order; convert with
    :meth:`IcoAtlas.to_atlas` / :meth:`IcoAtlas.to_vertices` (``ico_atlas(level)``).

    Regular input fields must be orientation-constant at the 12 corners (which have no C6 frame);
    every ico layer's output is, and so is anything built from scalars. The output's corners are
    set by :class:`CornerRule`.
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, level: int, bias: bool = True, transport: bool = True):
        super().__init__()
        self.in_type, self.out_type, self.level = in_type, out_type, int(level)
        self.pad = IcoPad(level, in_type, transport=transport)
        self.corner_rule = CornerRule(level, out_type)
        orbit, n_weights = kernel_orbits(in_type, out_type)
        index = np.full((out_type.dim, in_type.dim, 3, 3), n_weights, dtype=np.int64)  # n_weights: zero
        index[:, :, TAPS[:, 0], TAPS[:, 1]] = orbit
        self.register_buffer("weight_index", torch.as_tensor(index), persistent=False)
        self.weight = nn.Parameter(torch.empty(n_weights))
        runs = field_runs(out_type)
        field_of_channel = np.concatenate(
            [
                np.repeat(np.arange(m), 6 if k == "reg" else 1) + sum(r[1] for r in runs[:j])
                for j, (k, m, _, _) in enumerate(runs)
            ]
        )
        n_fields = sum(m for m, _ in out_type.fields)
        self.register_buffer("bias_index", torch.as_tensor(field_of_channel), persistent=False)
        self.bias = nn.Parameter(torch.empty(n_fields)) if bias else None
        atlas = ico_atlas(level)
        n = atlas.n
        self.n = n
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He initialisation for the 7-tap fan-in; zero bias."""
        with torch.no_grad():
            self.weight.normal_(0.0, math.sqrt(2.0 / (7 * self.in_type.dim)))
            if self.bias is not None:
                self.bias.zero_()

    def kernel(self) -> torch.Tensor:
        """The full conv2d kernel ``(C_out, C_in, 3, 3)`` (the two off-hexagon taps are zero)."""
        return torch.cat([self.weight, self.weight.new_zeros(1)])[self.weight_index]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = self.pad(x)  # (B, C_in, 5 (n+2), 2n+2)
        bias = None if self.bias is None else self.bias[self.bias_index]
        out = F.conv2d(padded, self.kernel(), bias)  # (B, C_out, 5 (n+2) - 2, 2n), contiguous
        b, c = out.shape[:2]
        n = self.n
        # the chart cells are a strided block of the output (rows k (n+2) + s, all 2n columns):
        # copy them into atlas order (B, C_out, V); the two pole slots are set by the corner rule
        charts = out.as_strided((b, c, 5, n, 2 * n), (out.stride(0), out.stride(1), (n + 2) * 2 * n, 2 * n, 1))
        result = out.new_zeros(b, c, 10 * n * n + 2)
        result[..., :-2].view(b, c, 5, n, 2 * n).copy_(charts)
        return self.corner_rule(result, inplace=True)

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, level={self.level} | {self.weight.numel()} weights"
