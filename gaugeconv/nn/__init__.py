"""Gauge-equivariant layers (torch). They read only :class:`gaugeconv.Geometry` buffers."""

from .conditional import ConditionalGaugeConv
from .conv import GaugeConv, OperatorCache
from .nonlinearity import GatedNonlinearity, NormNonlinearity, RegularNonlinearity
from .norm import FieldBatchNorm
from .pooling import GroupAction, TransportPool, TransportUnpool
from .readout import GlobalPool, InvariantReadout, global_pool

__all__ = [
    "ConditionalGaugeConv",
    "FieldBatchNorm",
    "GatedNonlinearity",
    "GaugeConv",
    "GlobalPool",
    "GroupAction",
    "InvariantReadout",
    "NormNonlinearity",
    "OperatorCache",
    "RegularNonlinearity",
    "TransportPool",
    "TransportUnpool",
    "global_pool",
]
