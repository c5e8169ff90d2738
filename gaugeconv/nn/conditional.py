"""`ConditionalGaugeConv`: weight sharing as conditional message passing on regular C_N fields.

Features are lifted to N orientations per vertex (``FieldType("kxreg", group="CN")``: channel
``(field, i)`` is orientation ``a_i = 2 pi i / N``). A message from q to p, for output orientation
``a_i`` at p and input orientation ``b_j`` at q, is weighted by a kernel that is a small MLP of the
pair's invariants::

    r                     = log_r / radius                 (distance)
    u = log_theta - a_i                                    (direction of q seen from orientation a_i)
    v = transport_angle + b_j - a_i                        (q's orientation b_j, transported to p, seen from a_i)

    y[p, o, i] = bias[o] + sum_{c, d} W0[o, c, d] x[p, c, i + d]
               + mean_{q -> p} sum_{c, j, k} W[o, c, k] MLP_k(r, cos u, sin u, cos v, sin v) x[q, c, j]

The MLP gives ``basis`` kernel functions shared by all field pairs, mixed by the weights W: memory
``E N^2 basis`` instead of ``E N^2 C_out C_in``.

A gauge rotation by ``s 2pi/N`` at p shifts the output orientations and ``log_theta`` by the same
amount, one at q shifts ``b_j`` and the transporter by the same amount, so u and v are unchanged:
**the layer is exactly equivariant for gauge transformations in C_N on any orientable mesh**; the
transporters enter as continuous angles, they need not lie in C_N (unlike
:class:`~gaugeconv.nn.GaugeConv` on regular fields). Gauge rotations that are not multiples of
``2 pi / N`` do not act on regular fields at all (a regular field is a function sampled at N
orientations); a network with scalar inputs and outputs (lift by repeating, average over the
orientations) is approximately invariant under them, more closely as N grows (docs/multiscale.md).
Reflections (non-orientable meshes, flipped transporters) are not supported: use O(2) irreps with
GaugeConv there.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..buffers import Geometry
from ..groups import FieldType
from .operators import edge_scale
from .util import check_input, require_torch_geometry

__all__ = ["ConditionalGaugeConv"]


def _regular_fields(ftype: FieldType, where: str) -> int:
    if not isinstance(ftype, FieldType) or ftype.group[0] != "C" or any(k != "reg" for _, k in ftype.fields):
        raise ValueError(f"{where} needs regular C_N fields, e.g. FieldType('8xreg', group='C8'), got {ftype!r}")
    return sum(m for m, _ in ftype.fields)


class ConditionalGaugeConv(nn.Module):
    """Message passing on regular C_N fields with an MLP kernel of pairwise invariants.

    Parameters
    ----------
    in_type, out_type : FieldType of regular fields of the same group C_N, e.g. ``"4xreg"``
    hidden : width of the kernel MLP (two hidden layers)
    basis : number of kernel functions the MLP outputs (mixed per field pair by learned weights)
    bias : a learned bias per output field (the same for all its orientations)
    radius : distance scale in mesh units; None uses the longest edge of each mesh, like GaugeConv

    Shapes
    ------
    x : (V, C_in) or (B, V, C_in); output (V, C_out) or (B, V, C_out); ``C = fields * N``.
    The kernel MLP is evaluated on (E, N, N) orientation pairs: memory ``E N^2 (hidden + basis)``.
    """

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        hidden: int = 16,
        basis: int = 8,
        bias: bool = True,
        radius: float | None = None,
    ):
        super().__init__()
        self.c_in = _regular_fields(in_type, "ConditionalGaugeConv in_type")
        self.c_out = _regular_fields(out_type, "ConditionalGaugeConv out_type")
        if in_type.group != out_type.group:
            raise ValueError(f"in_type and out_type must share a group, got {in_type.group} and {out_type.group}")
        if radius is not None and not radius > 0:
            raise ValueError(f"radius must be positive or None, got {radius!r}")
        self.in_type, self.out_type, self.radius = in_type, out_type, radius
        self.n = in_type.order
        self._key = ("ConditionalGaugeConv", radius)  # the geometry keeps its check and edge scales
        self.kernel = nn.Sequential(
            nn.Linear(5, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, basis),
        )
        self.weight = nn.Parameter(torch.empty(self.c_out, self.c_in, basis))
        self.self_weight = nn.Parameter(torch.empty(self.c_out, self.c_in, self.n))
        self.bias = nn.Parameter(torch.zeros(self.c_out)) if bias else None
        angles = 2 * np.pi * np.arange(self.n) / self.n
        self.register_buffer("angles", torch.as_tensor(angles), persistent=False)
        shift = (np.arange(self.n)[:, None] + np.arange(self.n)[None, :]) % self.n  # [i, d] -> i + d
        self.register_buffer("shift", torch.as_tensor(shift.reshape(-1)), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.kernel:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        with torch.no_grad():
            basis = self.weight.shape[-1]
            self.weight.normal_(0.0, 1.0 / np.sqrt(self.c_in * self.n * basis))
            self.self_weight.normal_(0.0, 1.0 / np.sqrt(self.c_in * self.n))
            if self.bias is not None:
                self.bias.zero_()

    @torch.compiler.disable
    def _prepare(self, geometry, device) -> torch.Tensor:
        """Check the geometry and find (or compute and keep on it) the edges' length scale;
        outside of ``torch.compile``'s graphs (once per geometry)."""
        if geometry.structure_group != "SO2" or bool(geometry.transport_flip.any()):
            raise ValueError(
                "ConditionalGaugeConv needs an orientable, consistently oriented mesh (no flipped transporters)"
            )
        scale = edge_scale(geometry, self.radius, device)
        geometry._operators[(self._key, device)] = scale
        return scale

    def _invariants(self, geometry, dtype, device):
        scale = geometry._operators.get((self._key, device))
        if scale is None:
            scale = self._prepare(geometry, device)
        log_r = geometry.log_r.to(device, torch.float64)
        a = self.angles.to(torch.float64)
        u = geometry.log_theta.to(device, torch.float64)[:, None] - a[None, :]  # (E, i)
        alpha = geometry.transport_angle.to(device, torch.float64)
        v = alpha[:, None, None] + a[None, None, :] - a[None, :, None]  # (E, i, j)
        E, N = u.shape[0], self.n
        feats = torch.stack(
            [
                (log_r / scale)[:, None, None].expand(E, N, N),
                torch.cos(u)[:, :, None].expand(E, N, N),
                torch.sin(u)[:, :, None].expand(E, N, N),
                torch.cos(v),
                torch.sin(v),
            ],
            dim=-1,
        )
        return feats.to(dtype)  # (E, i, j, 5)

    def forward(self, x: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        """Apply the layer; ``geometry`` is a torch Geometry without flipped transporters."""
        require_torch_geometry(geometry, type(self).__name__)
        xb, squeeze = check_input(x, geometry, self.in_type.dim, type(self).__name__)
        B, V, _ = xb.shape
        N, ci, co = self.n, self.c_in, self.c_out
        q, p = geometry.edge_index.to(xb.device)
        kernel = self.kernel(self._invariants(geometry, xb.dtype, xb.device))  # (E, i, j, k): k kernel function
        xq = xb.index_select(1, q).view(B, -1, ci, N)  # (B, E, c, j)
        mixed = torch.einsum("becj,ock->bejko", xq, self.weight.to(xb.dtype))  # b batch, o/c out/in field
        msg = torch.einsum("eijk,bejko->beio", kernel, mixed)  # e edge, i/j out/in orientation
        deg = xb.new_zeros(V).index_add_(0, p, xb.new_ones(p.shape[0])).clamp(min=1)
        agg = xb.new_zeros(B, V, N, co).index_add_(1, p, msg) / deg[None, :, None, None]
        # self-interaction: a group convolution over C_N, commuting with the cyclic shifts
        rolled = xb.view(B, V, ci, N)[..., self.shift].view(B, V, ci, N, N)  # [..., i, d] = x[..., i + d]
        own = torch.einsum("bvcid,ocd->bvio", rolled, self.self_weight.to(xb.dtype))
        y = (agg + own).permute(0, 1, 3, 2)  # (B, V, o, i)
        if self.bias is not None:
            y = y + self.bias.to(xb.dtype)[None, None, :, None]
        y = y.reshape(B, V, co * N)
        return y[0] if squeeze else y

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"{self.in_type} -> {self.out_type}, group={self.in_type.group} | {n} weights"
