"""The Möbius strip's grid fast path: one chart, a reflection at the seam, one ``conv2d``.

See ``docs/mobius.md``. Features have shape ``(B, C, W, L)`` (W across, L along the strip);
field types are :class:`gaugeconv.groups.FieldType` of group ``"D1"`` or ``"O2"``.
"""

from .conv import MobiusConv, reflection_basis
from .grid import FieldLayout, field_layout, periodic_pad, seam_matrix, seam_pad, shift, unroll

__all__ = [
    "FieldLayout",
    "MobiusConv",
    "field_layout",
    "periodic_pad",
    "reflection_basis",
    "seam_matrix",
    "seam_pad",
    "shift",
    "unroll",
]
