"""Ready-made networks of gauge-equivariant layers on meshes, configured by field types.

* :class:`GaugeResNet`: a lifting :class:`~gaugeconv.nn.GaugeConv`, residual blocks
  (:class:`GaugeResBlock`: conv -> batch norm -> nonlinearity -> conv, plus the skip connection),
  then either an invariant head (readout of invariants, optional global pooling over each mesh, a
  small MLP) or a final equivariant convolution to an output field type.
* :class:`GaugeUNet`: :class:`ConvBlock` s on the coarse levels of a Geometry, transport pooling
  down, unpooling up, skip connections.

Every model has ``in_type`` and ``out_type`` (None for an invariant output), which
:func:`gaugeconv.testing.assert_gauge_equivariant` reads.
"""

from __future__ import annotations

import torch
from torch import nn

from .buffers import Geometry
from .groups import FieldType
from .nn import (
    FieldBatchNorm,
    GatedNonlinearity,
    GaugeConv,
    InvariantReadout,
    NormNonlinearity,
    RegularNonlinearity,
    TransportPool,
    TransportUnpool,
    global_pool,
)

__all__ = ["NONLINEARITIES", "ConvBlock", "GaugeResBlock", "GaugeResNet", "GaugeUNet"]

NONLINEARITIES = ("gated", "norm", "regular")


def _nonlinearity(kind: str, field_type: FieldType, samples: int) -> nn.Module:
    if kind == "gated":
        return GatedNonlinearity(field_type)
    if kind == "norm":
        return NormNonlinearity(field_type)
    if kind == "regular":
        return RegularNonlinearity(field_type, samples=samples)
    raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {kind!r}")


class GaugeResBlock(nn.Module):
    """``x + conv2(act(norm(conv1(x))))`` with ``field_type`` in and out.

    ``conv1`` outputs ``act.in_type`` (the gates as extra trivial channels for "gated").

    Parameters
    ----------
    field_type : FieldType of input and output
    rings, band_limit, radius : passed to both GaugeConv
    nonlinearity : "gated", "norm" or "regular" (``samples`` sampled rotations)
    """

    def __init__(
        self,
        field_type: FieldType,
        rings: int = 2,
        band_limit: int | None = None,
        nonlinearity: str = "gated",
        samples: int = 15,
        radius: float | None = None,
    ):
        super().__init__()
        self.in_type = self.out_type = field_type
        kw = {"rings": rings, "band_limit": band_limit, "radius": radius}
        self.act = _nonlinearity(nonlinearity, field_type, samples)
        self.conv1 = GaugeConv(field_type, self.act.in_type, **kw)
        self.norm = FieldBatchNorm(self.act.in_type)
        self.conv2 = GaugeConv(field_type, field_type, **kw)

    def forward(self, x: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        """x (V, C) or (B, V, C) -> same shape."""
        return x + self.conv2(self.act(self.norm(self.conv1(x, geometry))), geometry)

    def extra_repr(self) -> str:
        return f"{self.in_type}, group={self.in_type.group}"


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

    The convolutions with the same input type share their sparse operators, which every geometry
    keeps for as long as it lives (:mod:`gaugeconv.nn.operators`).

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
    ):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        self.in_type, self.hidden_type, self.out_type, self.pool = in_type, hidden_type, out_type, pool
        kw = {"rings": rings, "band_limit": band_limit, "radius": radius}
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

    def forward(self, x: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        h = self.lift(x, geometry)
        for block in self.blocks:
            h = block(h, geometry)
        if self.out_type is not None:
            return self.out_conv(h, geometry)
        inv = self.readout(h)
        if self.pool is not None:
            inv = global_pool(inv, geometry, self.pool)
        return self.head(inv)

    def extra_repr(self) -> str:
        head = f"out_type={self.out_type}" if self.out_type is not None else f"pool={self.pool!r}"
        return f"{self.in_type} -> {self.hidden_type}, depth={len(self.blocks)}, {head}"


class ConvBlock(nn.Module):
    """``depth`` x (GaugeConv -> NormNonlinearity); ``forward(x, geometry)``.

    Parameters
    ----------
    in_type, out_type : FieldType
    depth : number of GaugeConv layers (the first maps in_type -> out_type)
    **conv : passed to every :class:`~gaugeconv.nn.GaugeConv`
    """

    def __init__(self, in_type: FieldType, out_type: FieldType, depth: int = 1, **conv):
        super().__init__()
        self.in_type, self.out_type = in_type, out_type
        types = [in_type] + [out_type] * depth
        self.convs = nn.ModuleList(GaugeConv(a, b, **conv) for a, b in zip(types[:-1], types[1:]))
        self.acts = nn.ModuleList(NormNonlinearity(out_type) for _ in range(depth))

    def forward(self, x: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x, geometry))
        return x

    def extra_repr(self) -> str:
        return f"{self.in_type} -> {self.out_type}, depth={len(self.convs)}"


class GaugeUNet(nn.Module):
    """Gauge-equivariant U-Net with K = ``len(widths) - 1`` pooling steps.

    Encoder: at level 0 a block maps the input to ``widths[0]``; at every level k = 1..K the
    features are pooled by parallel transport (:class:`~gaugeconv.nn.TransportPool`) and a block
    maps them to ``widths[k]``. Decoder: from level K down to 0 the features are unpooled
    (:class:`~gaugeconv.nn.TransportUnpool`), concatenated with the encoder's features of that
    level (the skip connection; field types add) and mapped back to ``widths[k]``. A last
    :class:`~gaugeconv.nn.GaugeConv` gives ``out_type``. Every part is gauge equivariant, so the
    network is, for gauge changes of all levels at once (:meth:`Geometry.gauge_transform` moves
    them together). With only trivial fields (``"16x0"``) every kernel is isotropic: that is the
    isotropic baseline.

    Parameters
    ----------
    in_type, out_type : FieldType of input and per-vertex output
    widths : FieldType per level 0..K (same group as in_type), e.g.
        ``[FieldType("8x0 + 4x1 + 2x2"), FieldType("16x0 + 8x1 + 4x2")]``
    depth : GaugeConv layers per block
    reduce : pooling, "mean" or "max"
    **conv : passed to every :class:`~gaugeconv.nn.GaugeConv` (rings, band_limit, aggr, ...)

    Shapes
    ------
    x : (V, C_in) or (B, V, C_in); geometry : torch Geometry with at least K levels
    (``preprocess(mesh, levels=K)``); output (V, C_out) or (B, V, C_out)
    """

    def __init__(
        self,
        in_type: FieldType,
        out_type: FieldType,
        widths,
        depth: int = 1,
        reduce: str = "mean",
        **conv,
    ):
        super().__init__()
        widths = list(widths)
        if not widths or not all(isinstance(w, FieldType) for w in widths):
            raise ValueError("widths must be a non-empty list of FieldType, one per level")
        groups = {t.group for t in [in_type, out_type, *widths]}
        if len(groups) != 1:
            raise ValueError(f"all field types must share one group, got {sorted(groups)}")
        self.in_type, self.out_type, self.widths = in_type, out_type, widths
        self.n_levels = len(widths) - 1
        self.down = nn.ModuleList([ConvBlock(in_type, widths[0], depth, **conv)])
        self.pool = nn.ModuleList()
        for k in range(1, len(widths)):
            self.pool.append(TransportPool(widths[k - 1], reduce=reduce))
            self.down.append(ConvBlock(widths[k - 1], widths[k], depth, **conv))
        self.unpool = nn.ModuleList()
        self.up = nn.ModuleList()
        for k in range(self.n_levels - 1, -1, -1):
            self.unpool.append(TransportUnpool(widths[k + 1]))
            self.up.append(ConvBlock(widths[k + 1] + widths[k], widths[k], depth, **conv))
        self.head = GaugeConv(widths[0], out_type, **conv)

    def forward(self, x: torch.Tensor, geometry: Geometry) -> torch.Tensor:
        """x (V, C_in) or (B, V, C_in) -> (V, C_out) or (B, V, C_out)."""
        if len(getattr(geometry, "levels", ())) < self.n_levels:
            raise ValueError(
                f"GaugeUNet needs a geometry with {self.n_levels} coarse levels; "
                f"use preprocess(mesh, levels={self.n_levels}) (or gaugeconv preprocess --levels {self.n_levels})"
            )
        geos = [geometry, *geometry.levels[: self.n_levels]]
        skips = []
        h = self.down[0](x, geos[0])
        for k in range(1, self.n_levels + 1):
            skips.append(h)
            h = self.down[k](self.pool[k - 1](h, geometry.pools[k - 1]), geos[k])
        for i, k in enumerate(range(self.n_levels - 1, -1, -1)):
            h = self.unpool[i](h, geometry.pools[k])
            h = self.up[i](torch.cat([h, skips[k]], dim=-1), geos[k])
        return self.head(h, geos[0])

    def extra_repr(self) -> str:
        widths = ", ".join(str(w) for w in self.widths)
        return f"{self.in_type} -> {self.out_type}, widths=[{widths}], levels={self.n_levels}"
