"""Ready-made networks of gauge-equivariant layers, configured by field types.

:class:`GaugeResNet`: a lifting :class:`~gaugeconv.nn.GaugeConv`, residual blocks
(conv -> batch norm -> nonlinearity -> conv, plus the skip connection), then either an invariant
head (readout of invariants, optional global pooling over each mesh, a small MLP) or a final
equivariant convolution to an output field type.

:class:`GaugeUNet` (defined in :mod:`gaugeconv.unet`): GaugeConv blocks on the coarse levels of a
Geometry, transport pooling down, unpooling up, skip connections.
"""

from __future__ import annotations

import torch
from torch import nn

from .groups import FieldType
from .nn import (
    FieldBatchNorm,
    GatedNonlinearity,
    GaugeConv,
    InvariantReadout,
    NormNonlinearity,
    OperatorCache,
    RegularNonlinearity,
    global_pool,
)
from .unet import GaugeUNet  # noqa: F401  (re-exported: gaugeconv.models.GaugeUNet)

NONLINEARITIES = ("gated", "norm", "regular")


def _nonlinearity(kind: str, ftype: FieldType, samples: int) -> nn.Module:
    if kind == "gated":
        return GatedNonlinearity(ftype)
    if kind == "norm":
        return NormNonlinearity(ftype)
    if kind == "regular":
        return RegularNonlinearity(ftype, samples=samples)
    raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {kind!r}")


class GaugeResBlock(nn.Module):
    """``x + conv2(act(norm(conv1(x))))`` with ``ftype`` in and out.

    ``conv1`` outputs ``act.in_type`` (the gates as extra trivial channels for "gated").
    """

    def __init__(
        self, ftype: FieldType, rings=2, band_limit=None, nonlinearity="gated", samples=15, radius=None, cache=None
    ):
        super().__init__()
        kw = {"rings": rings, "band_limit": band_limit, "radius": radius, "cache": cache}
        self.act = _nonlinearity(nonlinearity, ftype, samples)
        self.conv1 = GaugeConv(ftype, self.act.in_type, **kw)
        self.norm = FieldBatchNorm(self.act.in_type)
        self.conv2 = GaugeConv(ftype, ftype, **kw)

    def forward(self, x: torch.Tensor, geometry) -> torch.Tensor:
        """x (V, C) or (B, V, C) -> same shape."""
        return x + self.conv2(self.act(self.norm(self.conv1(x, geometry))), geometry)


class GaugeResNet(nn.Module):
    """Residual gauge-equivariant network.

    Parameters
    ----------
    in_type : FieldType of the input features (e.g. ``FieldType("1x0")`` for a constant, or
        ``"3x0"`` for invariant descriptors)
    hidden_type : FieldType of the hidden features, e.g. ``FieldType("16x0 + 8x1 + 8x2")``
    out_dim : number of invariant outputs (class logits); used when ``out_type`` is None
    out_type : if given, the network ends with a GaugeConv to this type (equivariant per-vertex
        output) instead of the invariant head
    depth : number of residual blocks
    rings, band_limit, radius : passed to every GaugeConv
    nonlinearity : "gated", "norm" or "regular" (``samples`` sampled rotations)
    pool : "mean", "max", "area" or None; with a pool the output is one row per mesh
        (``geometry.n_graphs``), without one row per vertex
    head_width : width of the MLP hidden layer of the invariant head
    cache : the :class:`~gaugeconv.nn.OperatorCache` shared by all convolutions; default
        ``OperatorCache()`` (latest geometry only); ``OperatorCache(max_geometries=None)`` keeps
        every live geometry's operators, e.g. when training cycles through fixed batches

    Shapes
    ------
    x : (V, C_in) or (B, V, C_in)
    output : (G, out_dim) pooled, (V, out_dim) unpooled, (V, out_type.dim) with out_type;
        with a leading B if x had one
    """

    def __init__(
        self,
        in_type: FieldType,
        hidden_type: FieldType,
        out_dim: int = 1,
        *,
        out_type: FieldType | None = None,
        depth: int = 2,
        rings: int = 2,
        band_limit: int | None = None,
        radius: float | None = None,
        nonlinearity: str = "gated",
        samples: int = 15,
        pool: str | None = "mean",
        head_width: int = 64,
        cache: OperatorCache | None = None,
    ):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.in_type, self.hidden_type, self.out_type, self.pool = in_type, hidden_type, out_type, pool
        # one operator cache for all convolutions: those with equal input types share operators
        kw = {"rings": rings, "band_limit": band_limit, "radius": radius, "cache": cache or OperatorCache()}
        self.lift = GaugeConv(in_type, hidden_type, **kw)
        self.blocks = nn.ModuleList(
            GaugeResBlock(hidden_type, nonlinearity=nonlinearity, samples=samples, **kw) for _ in range(depth)
        )
        if out_type is not None:
            self.out_conv = GaugeConv(hidden_type, out_type, **kw)
            return
        self.readout = InvariantReadout(hidden_type)
        self.head = nn.Sequential(
            nn.Linear(self.readout.out_dim, head_width), nn.ReLU(), nn.Linear(head_width, out_dim)
        )

    def forward(self, x: torch.Tensor, geometry) -> torch.Tensor:
        h = self.lift(x, geometry)
        for block in self.blocks:
            h = block(h, geometry)
        if self.out_type is not None:
            return self.out_conv(h, geometry)
        inv = self.readout(h)
        if self.pool is not None:
            inv = global_pool(inv, geometry, self.pool)
        return self.head(inv)
