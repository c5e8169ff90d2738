"""`GaugeUNet`: a gauge-equivariant U-Net over the coarse levels of a Geometry.

Encoder: at level 0 a block maps the input to ``widths[0]``; at every level k = 1..K the features
are pooled by parallel transport (:class:`~gaugeconv.nn.TransportPool`) and a block maps them to
``widths[k]``. Decoder: from level K down to 0 the features are unpooled
(:class:`~gaugeconv.nn.TransportUnpool`), concatenated with the encoder's features of that level
(the skip connection; field types add) and mapped back to ``widths[k]``. A last
:class:`~gaugeconv.nn.GaugeConv` gives ``out_type``. A block is ``depth`` times GaugeConv followed
by :class:`~gaugeconv.nn.NormNonlinearity`. Every part is gauge equivariant, so the network is, for
gauge changes of all levels at once (:meth:`Geometry.gauge_transform` moves them together).

With only trivial fields (``"16x0"``) every kernel is isotropic: that is the isotropic baseline.
"""

from __future__ import annotations

import torch
from torch import nn

from .groups import FieldType
from .nn import GaugeConv, NormNonlinearity, TransportPool, TransportUnpool


class ConvBlock(nn.Module):
    """``depth`` x (GaugeConv -> NormNonlinearity); ``forward(x, geometry)``."""

    def __init__(self, in_type: FieldType, out_type: FieldType, depth: int = 1, **conv):
        super().__init__()
        self.in_type, self.out_type = in_type, out_type
        types = [in_type] + [out_type] * depth
        self.convs = nn.ModuleList(GaugeConv(a, b, **conv) for a, b in zip(types[:-1], types[1:]))
        self.acts = nn.ModuleList(NormNonlinearity(out_type) for _ in range(depth))

    def forward(self, x, geometry):
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x, geometry))
        return x


class GaugeUNet(nn.Module):
    """Gauge-equivariant U-Net with K = ``len(widths) - 1`` pooling steps.

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
        widths,
        out_type: FieldType,
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

    def forward(self, x, geometry):
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
