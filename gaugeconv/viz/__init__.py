"""Pictures of features, gauges, transport and curvature on a surface (pyvista): plots only.

Every ``plot_*`` function takes a :class:`gaugeconv.Geometry` (numpy or torch) and returns the
``pyvista.Plotter``. With ``screenshot="out.png"`` it renders off-screen, writes the PNG
(atomically: no partial file on failure) and closes the plotter; otherwise call ``.show()``.
They share the drawing options of :class:`Options` (``window_size``, ``screenshot``, ``view``,
``up``, ``views``, ``zoom``, ``title``, ``plotter``, ``off_screen``) and good defaults for any
mesh: a camera fitted to its principal axes (:func:`auto_view`), colour ranges from robust
percentiles (:func:`colour_range`), smooth shading split at creases, and glyphs sized to the
local glyph spacing and to the field's norms (:mod:`gaugeconv.viz.glyphs`).
:func:`plot_panels` puts several pictures side by side; :func:`plot_sphere_signals` and
:func:`plot_strip_images` draw the inputs of the spherical and Möbius-strip examples.

Tangent features are drawn in 3D through the gauges: coordinates ``(c, s)`` at p become the
arrow ``c * e1_p + s * e2_p`` with ``frames[p] = (e1, e2, n)``. The transport maths behind
:func:`plot_transport` and :func:`plot_structure` lives in :mod:`gaugeconv.preprocessing.transport`;
the ``gaugeconv render`` command in :mod:`gaugeconv.cli.render`.

Headless machines render through EGL (``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow``, set
here when no display is present); on Debian/Ubuntu that needs ``libegl1 libegl-mesa0
libgl1-mesa-dri``. pyvista is imported lazily: ``pip install gaugeconv[viz]``.
"""

from ._render import Options, has_display
from .camera import auto_view
from .colour import colour_range
from .digits import plot_sphere_signals, plot_strip_images
from .fields import plot_colors, plot_field, plot_labels, plot_scalar
from .geometry import plot_curvature, plot_frames, plot_structure, plot_transport
from .glyphs import tangent_to_3d
from .panels import plot_panels

__all__ = [
    "Options",
    "auto_view",
    "colour_range",
    "has_display",
    "plot_colors",
    "plot_curvature",
    "plot_field",
    "plot_frames",
    "plot_labels",
    "plot_panels",
    "plot_scalar",
    "plot_sphere_signals",
    "plot_strip_images",
    "plot_structure",
    "plot_transport",
    "tangent_to_3d",
]
