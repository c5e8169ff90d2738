"""Icosahedral fast path: the icosahedron as 5 charts of a hexagonal grid with C6 transport at the
seams (Cohen, Weiler, Kicanaoglu, Welling 2019); convolution as one ``conv2d``.

Features live in *atlas tensors* ``(B, C, V)`` (atlas order, see :mod:`gaugeconv.ico.atlas`);
:meth:`IcoAtlas.to_atlas` and :meth:`IcoAtlas.to_vertices` convert from and to per-vertex
features ``(B, V, C)`` in the vertex order of :func:`gaugeconv.shapes.icosahedron`.
"""

from .atlas import DIRECTIONS, IcoAtlas, ico_atlas
from .conv import IcoConv, bias_basis, kernel_basis
from .padding import ChartBorder, CornerRule, IcoPad, TransportGather
from .pool import GroupPool, IcoPool, IcoUnpool
from .symmetry import icosahedral_rotations, procrustes_rotation

__all__ = [
    "DIRECTIONS",
    "ChartBorder",
    "CornerRule",
    "GroupPool",
    "IcoAtlas",
    "IcoConv",
    "IcoPad",
    "IcoPool",
    "IcoUnpool",
    "TransportGather",
    "bias_basis",
    "ico_atlas",
    "icosahedral_rotations",
    "kernel_basis",
    "procrustes_rotation",
]
