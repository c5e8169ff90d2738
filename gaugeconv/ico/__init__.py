"""Icosahedral fast path: the icosahedron as 5 charts of a hexagonal grid with C6 transport at the
seams (Cohen, Weiler, Kicanaoglu, Welling 2019); convolution as one ``conv2d``.

Build the atlas of a level once (numpy) and pass it to the layers::

    atlas = IcoAtlas(3)
    conv = IcoConv(FieldType("1x0", group="C6"), FieldType("8xreg", group="C6"), atlas)
    y = atlas.to_vertices(conv(atlas.to_atlas(x)))     # x (B, V, C) in mesh vertex order

Features live in *atlas tensors* ``(B, C, V)`` (atlas order, see :mod:`gaugeconv.ico.atlas`);
:meth:`IcoAtlas.to_atlas` and :meth:`IcoAtlas.to_vertices` convert from and to per-vertex
features ``(B, V, C)`` in the vertex order of :func:`gaugeconv.shapes.icosahedron`. The
nonlinearities, batch norm and invariant readout of :mod:`gaugeconv.nn` act on atlas tensors
with ``dim=1``.
"""

from .atlas import DIRECTIONS, IcoAtlas
from .conv import IcoConv, kernel_basis
from .padding import CornerRule, IcoPad
from .pool import IcoPool, IcoUnpool
from .symmetry import icosahedral_rotations, procrustes_rotation

__all__ = [
    "DIRECTIONS",
    "CornerRule",
    "IcoAtlas",
    "IcoConv",
    "IcoPad",
    "IcoPool",
    "IcoUnpool",
    "icosahedral_rotations",
    "kernel_basis",
    "procrustes_rotation",
]
