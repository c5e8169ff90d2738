"""The Möbius strip's grid fast path: one chart, a reflection at the seam, one ``conv2d``.

See ``docs/mobius.md``. Features are strip maps ``(B, C, W, L)`` (W across, L along the strip);
:func:`grid_to_vertices` / :func:`vertices_to_grid` convert from and to per-vertex features
``(B, V, C)`` of :func:`gaugeconv.shapes.mobius`. Field types are :class:`gaugeconv.FieldType` of
group ``"D1"`` or ``"O2"``. Nonlinearities, batch norm and the invariant readout are those of
:mod:`gaugeconv.nn` with ``dim=1``.
"""

from .conv import MobiusConv, mirror_kernel_basis
from .grid import check_strip_type, mirror, periodic_pad, seam_pad, shift, unroll
from .mesh import flip_reduction, grid_to_vertices, vertices_to_grid
from .pool import MobiusPool, pooled_width

__all__ = [
    "MobiusConv",
    "MobiusPool",
    "check_strip_type",
    "flip_reduction",
    "grid_to_vertices",
    "mirror",
    "mirror_kernel_basis",
    "periodic_pad",
    "pooled_width",
    "seam_pad",
    "shift",
    "unroll",
    "vertices_to_grid",
]
