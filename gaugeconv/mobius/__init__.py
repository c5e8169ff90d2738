"""The Möbius strip's grid fast path: one chart, a reflection at the seam, one ``conv2d``.

See ``docs/mobius.md``. Features have shape ``(B, C, W, L)`` (W across, L along the strip);
field types are :class:`gaugeconv.groups.FieldType` of group ``"D1"`` or ``"O2"``.
"""

from .conv import MobiusConv, reflection_basis
from .grid import FieldLayout, field_layout, periodic_pad, seam_matrix, seam_pad, shift, unroll
from .mesh import flip_reduction, grid_to_vertices, vertices_to_grid
from .nonlinearity import MobiusBatchNorm, MobiusNonlinearity
from .pool import MobiusGlobalPool, MobiusPool, pooled_width

__all__ = [
    "FieldLayout",
    "MobiusBatchNorm",
    "MobiusConv",
    "MobiusGlobalPool",
    "MobiusNonlinearity",
    "MobiusPool",
    "field_layout",
    "flip_reduction",
    "grid_to_vertices",
    "periodic_pad",
    "pooled_width",
    "reflection_basis",
    "seam_matrix",
    "seam_pad",
    "shift",
    "unroll",
    "vertices_to_grid",
]
