"""Gauge-equivariant layers (torch). They read only :class:`gaugeconv.Geometry` buffers.

Feature layout: mesh features are ``(V, C)`` or ``(B, V, C)`` (channels last); the pointwise layers
(nonlinearities, batch norm, readout) take the channel axis as ``dim`` so that they serve the grid
paths too (``dim=1`` for icosahedral atlas tensors ``(B, C, V)`` and Möbius strip maps ``(B, C, W, L)``).
"""

from .conditional import ConditionalGaugeConv
from .conv import GaugeConv
from .nonlinearity import GatedNonlinearity, NormNonlinearity, RegularNonlinearity
from .norm import FieldBatchNorm
from .operators import clear_operators, operator_nbytes
from .pooling import TransportPool, TransportUnpool, max_scores
from .readout import GlobalPool, InvariantReadout, global_pool

__all__ = [
    "ConditionalGaugeConv",
    "FieldBatchNorm",
    "GatedNonlinearity",
    "GaugeConv",
    "GlobalPool",
    "InvariantReadout",
    "NormNonlinearity",
    "RegularNonlinearity",
    "TransportPool",
    "TransportUnpool",
    "clear_operators",
    "global_pool",
    "max_scores",
    "operator_nbytes",
]
