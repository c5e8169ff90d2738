"""Pictures of features, gauges, transport and curvature on a surface (pyvista): plots only.

Every ``plot_*`` function takes a :class:`gaugeconv.Geometry` (numpy or torch) and returns the
``pyvista.Plotter``. With ``screenshot="out.png"`` it renders off-screen, writes the PNG
(atomically: no partial file on failure) and closes the plotter; otherwise call ``.show()``.
Tangent features are drawn in 3D through the gauges: coordinates ``(c, s)`` at p become the
arrow ``c * e1_p + s * e2_p`` with ``frames[p] = (e1, e2, n)``. The transport maths behind
:func:`plot_transport` and :func:`plot_structure` lives in :mod:`gaugeconv.preprocessing.transport`;
the ``gaugeconv render`` command in :mod:`gaugeconv.cli.render`.

Headless machines render through EGL (``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow``, set
here when no display is present); on Debian/Ubuntu that needs ``libegl1 libegl-mesa0
libgl1-mesa-dri``. pyvista is imported lazily: ``pip install gaugeconv[viz]``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .groups import FieldType
from .preprocessing.transport import loop_through, shortest_paths, transport_path, transport_tree

__all__ = [
    "has_display",
    "plot_curvature",
    "plot_field",
    "plot_frames",
    "plot_scalar",
    "plot_structure",
    "plot_transport",
    "tangent_to_3d",
]

WINDOW_SIZE = (800, 600)
_E1, _E2, _N = "#d62728", "#1f77b4", "#7f7f7f"


# ---------------------------------------------------------------------------- plumbing
def has_display() -> bool:
    """True when an interactive window can be opened (X11/Wayland display, or macOS/Windows)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")


def _pyvista():
    if not has_display():
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        import pyvista
    except ImportError:
        raise ImportError("gaugeconv.viz needs pyvista: pip install gaugeconv[viz]") from None
    return pyvista


def _numpy_geometry(geometry):
    return geometry if isinstance(geometry.log_r, np.ndarray) else geometry.numpy()


def _array(values, name: str) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if values.dtype == bool:
        values = values.astype(np.float64)
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {values.dtype}")
    return values.astype(np.float64)


def _surface(pv, g):
    faces = np.hstack([np.full((g.n_faces, 1), 3), g.faces]).ravel()
    return pv.PolyData(np.asarray(g.vertices, np.float64), faces)


def _edge_length(g) -> float:
    return float(np.mean(g.log_r)) if g.n_edges else 1.0


def _subsample(g, max_glyphs: int) -> np.ndarray:
    """At most ``max_glyphs`` evenly spread vertices: farthest-point sampling from vertex 0."""
    if g.n_vertices <= max_glyphs:
        return np.arange(g.n_vertices)
    chosen = np.zeros(max_glyphs, dtype=np.int64)
    distance = np.linalg.norm(g.vertices - g.vertices[0], axis=1)
    for i in range(1, max_glyphs):
        chosen[i] = np.argmax(distance)
        distance = np.minimum(distance, np.linalg.norm(g.vertices - g.vertices[chosen[i]], axis=1))
    return np.sort(chosen)


def _glyph_length(g, index) -> float:
    """Arrow length: the mean edge length, or the glyph spacing when arrows are subsampled."""
    spacing = np.sqrt(np.sum(g.vertex_area) / max(len(index), 1))
    return 0.7 * max(_edge_length(g), float(spacing) if len(index) < g.n_vertices else 0.0)


def _plotter(g, window_size, screenshot, off_screen, view, zoom):
    """A plotter for ``g``, after checking every drawing option (nothing is written on error)."""
    _check_png(screenshot)
    if view is not None:
        direction = np.asarray(view, dtype=np.float64).reshape(-1)
        if direction.shape != (3,) or not np.all(np.isfinite(direction)) or not np.any(direction):
            raise ValueError(f"view must be a non-zero direction (x, y, z) towards the camera, got {view!r}")
    if not (isinstance(zoom, (int, float, np.number)) and np.isfinite(zoom) and zoom > 0):
        raise ValueError(f"zoom must be a finite number > 0, got {zoom!r}")
    pv = _pyvista()
    if len(window_size) != 2 or min(window_size) < 16:
        raise ValueError(f"window_size must be (width, height) of at least 16 pixels, got {window_size}")
    off = (screenshot is not None or not has_display()) if off_screen is None else off_screen
    plotter = pv.Plotter(off_screen=off, window_size=[int(w) for w in window_size], theme=pv.themes.DocumentTheme())
    plotter.enable_anti_aliasing("ssaa")
    return pv, plotter


def _add_surface(plotter, pv, g, scalars=None, **kwargs):
    mesh = _surface(pv, g)
    # vtk's smoothed normals are meaningless across a non-orientable seam
    kwargs.setdefault("smooth_shading", bool(g.orientable))
    kwargs.setdefault("color", "#d9d9d9" if scalars is None else None)
    if scalars is not None:  # one value per vertex, else per face
        data = mesh.point_data if len(scalars) == g.n_vertices else mesh.cell_data
        data["values"] = scalars
        kwargs["scalars"] = "values"
    plotter.add_mesh(mesh, **kwargs)
    return mesh


def _bar(title: str) -> dict:
    """Colour bar arguments: centred below the mesh, three significant digits."""
    return {"title": title, "fmt": "%.3g", "position_x": 0.2, "position_y": 0.03, "width": 0.6, "height": 0.08}


def _add_arrows(plotter, pv, points, vectors, length, color, shaft=0.07):
    """Arrows from ``points`` (N, 3) along ``vectors`` (N, 3); a unit vector gets ``length``."""
    keep = np.linalg.norm(vectors, axis=1) > 1e-12
    if not keep.any():
        return
    cloud = pv.PolyData(np.asarray(points[keep], np.float64))
    cloud["vectors"] = np.asarray(vectors[keep], np.float64)
    arrow = pv.Arrow(tip_length=0.3, tip_radius=2.4 * shaft, shaft_radius=shaft)
    plotter.add_mesh(cloud.glyph(orient="vectors", scale="vectors", factor=length, geom=arrow), color=color)


def _finish(plotter, points, title, view, zoom, screenshot):
    if title:
        plotter.add_text(title, position="upper_left", font_size=11, color="black")
    if view is not None:
        plotter.view_vector(np.asarray(view, np.float64))
    plotter.reset_camera()
    # leave room for the title above and the colour bar below
    _fit_camera(plotter, points, zoom, top=0.07 if title else 0.03, bottom=0.19 if plotter.scalar_bars else 0.03)
    if screenshot is not None:
        _write_png(plotter, screenshot)
    return plotter


def _projected(plotter, points) -> np.ndarray:
    """Normalised device coordinates (N, 2) of ``points`` (N, 3), in [-1, 1] inside the window."""
    width, height = plotter.window_size
    matrix = plotter.camera.GetCompositeProjectionTransformMatrix(width / height, -1, 1)
    m = np.array([[matrix.GetElement(i, j) for j in range(4)] for i in range(4)])
    h = np.c_[points, np.ones(len(points))] @ m.T
    return h[:, :2] / h[:, 3:]


def _fit_camera(plotter, points, zoom, top, bottom, side=0.04) -> None:
    """Zoom and shift the view so the projected mesh fills the window between the margins
    (fractions of the window), then apply the user's ``zoom``."""
    camera = plotter.camera
    ndc = _projected(plotter, points)
    lo, hi = ndc.min(0), ndc.max(0)
    box_lo, box_hi = np.array([2 * side - 1, 2 * bottom - 1]), np.array([1 - 2 * side, 1 - 2 * top])
    if not (np.all(np.isfinite(ndc)) and np.all(hi - lo > 1e-9)):
        return
    scale = zoom * float(np.min((box_hi - box_lo) / (hi - lo)))
    if camera.parallel_projection:
        camera.parallel_scale = camera.parallel_scale / scale
    else:
        half = np.arctan(np.tan(np.radians(camera.view_angle) / 2) / scale)
        camera.view_angle = float(np.degrees(2 * half))
    shift = scale * (lo + hi) / 2 - (box_lo + box_hi) / 2
    camera.SetWindowCenter(float(shift[0]), float(shift[1]))


def _check_png(path):
    if path is None:
        return
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"screenshot must be a .png path, got {path!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"screenshot directory {directory} does not exist")


def _write_png(plotter, path) -> None:
    from .atomic import atomic_write

    try:
        with atomic_write(path, suffix=".png") as tmp:
            plotter.screenshot(tmp, return_img=False)
    finally:
        plotter.close()


# ---------------------------------------------------------------------------- tangent vectors
def tangent_to_3d(geometry, coords) -> np.ndarray:
    """Tangent vectors in 3D from gauge coordinates: ``c * e1_p + s * e2_p``.

    Parameters
    ----------
    geometry : Geometry
    coords : (V, 2) or (N, 2) with ``N == V``, numpy or torch

    Returns
    -------
    (V, 3) ndarray
    """
    g = _numpy_geometry(geometry)
    coords = _array(coords, "coords")
    if coords.shape != (g.n_vertices, 2):
        raise ValueError(f"coords must have shape ({g.n_vertices}, 2), got {coords.shape}")
    return coords[:, :1] * g.frames[:, 0] + coords[:, 1:] * g.frames[:, 1]


# ---------------------------------------------------------------------------- field types
def _field_type(field_type, g) -> FieldType:
    """A FieldType, or a spec string read in the geometry's structure group."""
    if isinstance(field_type, str):
        return FieldType(field_type, group=g.structure_group)
    if not isinstance(field_type, FieldType):
        raise ValueError(f"field_type must be a FieldType or a spec string, got {type(field_type).__name__}")
    return field_type


def _field_parts(x, kind: str, field_type: FieldType):
    """Colour values (V,) and gauge-coordinate glyph directions [(V, 2), ...] of one field
    ``x`` (V, width) of the given kind."""
    if kind in ("0", "0-"):
        return x[:, 0], []
    if kind == "reg":
        # channel i (and i + N for D_N's flipped copy) points along the gauge angle i 2pi/N; the
        # order-1 Fourier coefficient over these directions is an order-1 field (the preferred one)
        n = field_type.order
        if field_type.has_reflections:
            x = x.reshape(len(x), 2, n).sum(1)
        first = (x @ np.exp(2j * np.pi * np.arange(n) / n)) * (2.0 / n)
        return x.mean(1), [np.stack([first.real, first.imag], 1)]
    k = int(kind)
    radius, psi = np.hypot(x[:, 0], x[:, 1]), np.arctan2(x[:, 1], x[:, 0])
    angles = (psi[:, None] + 2 * np.pi * np.arange(k)) / k  # (V, k): the k-fold symmetric glyph
    return radius, [radius[:, None] * np.stack([np.cos(a), np.sin(a)], 1) for a in angles.T]


# ---------------------------------------------------------------------------- plots
def plot_scalar(
    geometry,
    values,
    name: str = "value",
    *,
    cmap: str = "viridis",
    clim=None,
    show_edges: bool = False,
    window_size=WINDOW_SIZE,
    screenshot=None,
    off_screen=None,
    view=None,
    zoom: float = 1.0,
    title=None,
):
    """Colour the surface by one value per vertex (V,) or per face (F,).

    Parameters
    ----------
    geometry : Geometry
    values : (V,), (V, 1) or (F,), numpy or torch
    name : colour bar title
    cmap, clim : colour map and (min, max); default the data range
    window_size : (width, height) in pixels
    screenshot : PNG path: render off-screen, write it and close the plotter
    off_screen : force off-screen rendering (default: when writing a screenshot or without display)
    view : (3,) direction from the mesh towards the camera (default isometric)
    zoom : camera zoom after fitting the mesh
    title : text in the upper left corner

    Returns
    -------
    pyvista.Plotter
    """
    g = _numpy_geometry(geometry)
    values = _array(values, "values")
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) not in (g.n_vertices, g.n_faces):
        raise ValueError(
            f"values must have shape (V,) = ({g.n_vertices},) or (F,) = ({g.n_faces},), got {values.shape}"
        )
    pv, plotter = _plotter(g, window_size, screenshot, off_screen, view, zoom)
    _add_surface(plotter, pv, g, values, cmap=cmap, clim=clim, show_edges=show_edges, scalar_bar_args=_bar(name))
    return _finish(plotter, g.vertices, title, view, zoom, screenshot)


def plot_field(
    geometry,
    features,
    field_type,
    field=None,
    name: str = "feature",
    *,
    cmap=None,
    max_glyphs: int = 300,
    glyph_scale: float = 1.0,
    window_size=WINDOW_SIZE,
    screenshot=None,
    off_screen=None,
    view=None,
    zoom: float = 1.0,
    title=None,
):
    """Draw features laid out by a field type: scalars as colour, order-k fields as glyphs.

    An order-k field ``(c, s)`` at p is drawn as k arrows at the gauge angles
    ``(psi + 2 pi j) / k`` with ``psi = atan2(s, c)``, of length proportional to its norm
    (one arrow for k = 1; arrows above the 95th percentile of the norms are shortened to it);
    the surface is coloured by the norm. A C_N or D_N regular field
    is coloured by its mean and drawn as one arrow: its order-1 Fourier coefficient over the
    directions ``i 2 pi / N`` of its channels.

    Parameters
    ----------
    features : (V, C), numpy or torch, ``C == field_type.dim``
    field_type : FieldType or spec string (group taken from the geometry)
    field : index of the field to draw (in spec order, multiplicities expanded); default the
        first non-scalar field, coloured by the first scalar field if there is one
    name : colour bar title, shown as ``name[i]`` for field i (``|name[i]|`` for a norm)
    max_glyphs : glyphs at about this many evenly spread vertices at most
    glyph_scale : arrow length relative to the default (the mean edge length)
    window_size, screenshot, off_screen, view, zoom, title : see :func:`plot_scalar`
    """
    g = _numpy_geometry(geometry)
    x = _array(features, "features")
    field_type = _field_type(field_type, g)
    # (kind, start, width) per field; FieldType is the one source of the channel layout
    layout = list(field_type)
    dim = field_type.dim
    if x.shape != (g.n_vertices, dim):
        raise ValueError(f"features must have shape (V, C) = ({g.n_vertices}, {dim}) for {field_type}, got {x.shape}")
    if field is not None and not (isinstance(field, (int, np.integer)) and 0 <= field < len(layout)):
        raise ValueError(f"field must be an index in [0, {len(layout)}), got {field!r}")
    scalars = [i for i, f in enumerate(layout) if f[0] in ("0", "0-")]
    others = [i for i, f in enumerate(layout) if f[0] not in ("0", "0-")]
    chosen = field if field is not None else (others or scalars)[0]
    kind, start, width = layout[chosen]
    colour, glyphs = _field_parts(x[:, start : start + width], kind, field_type)
    label = f"{name}[{chosen}]"
    if field is None and glyphs and scalars:
        colour, label = x[:, layout[scalars[0]][1]], f"{name}[{scalars[0]}]"
    elif glyphs and kind != "reg":
        label = f"|{name}[{chosen}]|"
    signed = kind == "0-" or (not label.startswith("|") and colour.min() < 0 < colour.max())
    # light colour maps under black glyphs
    cmap = cmap or ("RdBu_r" if signed else ("YlOrRd" if glyphs else "viridis"))
    limit = float(np.max(np.abs(colour))) or 1.0
    pv, plotter = _plotter(g, window_size, screenshot, off_screen, view, zoom)
    _add_surface(
        plotter, pv, g, colour, cmap=cmap, clim=(-limit, limit) if signed else None, scalar_bar_args=_bar(label)
    )
    if glyphs:
        index = _subsample(g, max_glyphs)
        vectors = np.stack(glyphs)[:, index]  # (k, n, 2): k arrows at each of n vertices
        size = np.hypot(vectors[..., 0], vectors[..., 1])
        top = float(np.percentile(size, 95)) or 1.0  # longer arrows are drawn at this length
        vectors = vectors * (np.minimum(size, top) / np.maximum(size, 1e-300))[..., None]
        length = glyph_scale * _glyph_length(g, index) / top
        lift = g.vertices[index] + 0.02 * _edge_length(g) * g.frames[index, 2]
        for v in vectors:
            _add_arrows(
                plotter, pv, lift, v[:, :1] * g.frames[index, 0] + v[:, 1:] * g.frames[index, 1], length, "black"
            )
    return _finish(plotter, g.vertices, title, view, zoom, screenshot)


def plot_frames(
    geometry,
    *,
    normals: bool = False,
    max_glyphs: int = 300,
    glyph_scale: float = 1.0,
    window_size=WINDOW_SIZE,
    screenshot=None,
    off_screen=None,
    view=None,
    zoom: float = 1.0,
    title=None,
):
    """Draw the gauges: e1 (red) and e2 (blue) at evenly spread vertices, n (grey) if ``normals``.

    Parameters
    ----------
    max_glyphs, glyph_scale : see :func:`plot_field`
    window_size, screenshot, off_screen, view, zoom, title : see :func:`plot_scalar`
    """
    g = _numpy_geometry(geometry)
    pv, plotter = _plotter(g, window_size, screenshot, off_screen, view, zoom)
    _add_surface(plotter, pv, g)
    _add_frames(plotter, pv, g, g.frames, max_glyphs, glyph_scale, normals)
    return _finish(plotter, g.vertices, title, view, zoom, screenshot)


def _add_frames(plotter, pv, g, frames, max_glyphs, glyph_scale, normals=False):
    """Arrows e1 (red), e2 (blue) and, if ``normals``, n (grey) of ``frames`` (V, 3, 3)."""
    index = _subsample(g, max_glyphs)
    length = 0.7 * glyph_scale * _glyph_length(g, index)
    points = g.vertices[index] + 0.02 * _edge_length(g) * g.frames[index, 2]
    axes = ((0, _E1), (1, _E2)) + (((2, _N),) if normals else ())
    for axis, colour in axes:
        _add_arrows(plotter, pv, points, frames[index, axis], length, colour)


def plot_transport(
    geometry,
    source: int,
    vector=(1.0, 0.0),
    loop=None,
    *,
    max_glyphs: int = 600,
    glyph_scale: float = 1.0,
    window_size=WINDOW_SIZE,
    screenshot=None,
    off_screen=None,
    view=None,
    zoom: float = 1.0,
    title=None,
):
    """Transport a tangent vector from ``source`` over the surface and draw it.

    Without ``loop``: along a shortest-path tree to every vertex
    (:func:`~gaugeconv.preprocessing.transport.transport_tree`); where branches meet, the arrows
    disagree by the holonomy in between. With ``loop`` (a list of waypoint vertices): around the
    closed path ``source -> loop... -> source`` (:func:`~gaugeconv.preprocessing.transport.loop_through`);
    the start vector is red, the returned one green, and the title states the holonomy.

    Parameters
    ----------
    source : vertex index
    vector : (2,) gauge coordinates at ``source``
    loop : sequence of vertex indices, or None
    max_glyphs, glyph_scale : see :func:`plot_field`
    window_size, screenshot, off_screen, view, zoom, title : see :func:`plot_scalar`
    """
    g = _numpy_geometry(geometry)
    connection = (g.edge_index, g.transport_angle, g.transport_flip)
    lift = 0.03 * _edge_length(g)
    if loop is None:
        coords = transport_tree(g.edge_index, g.log_r, g.transport_angle, g.transport_flip, source, vector)
        index = _subsample(g, max_glyphs)
        index = index[np.isfinite(coords[index, 0]) & (index != source)]
        length = glyph_scale * _glyph_length(g, index)
        path, returned, text = None, None, f"transport from vertex {source}"
    else:
        path = loop_through(g.edge_index, g.log_r, [source] + [int(v) for v in loop])
        coords_path, (angle, flip) = transport_path(*connection, path, vector)
        coords = np.zeros((g.n_vertices, 2))
        coords[path[:-1]] = coords_path[:-1]
        index = np.unique(path[1:-1])
        length = glyph_scale * 1.2 * _edge_length(g)
        returned = coords_path[-1]
        kind = "reflection" if flip else "rotation"
        text = f"holonomy around the loop: {kind} by {np.degrees(angle):.1f} deg"
    # transport is linear: draw the unit vector (the functions above have checked it is not zero)
    norm = np.linalg.norm(np.asarray(vector, np.float64))
    coords = coords / norm
    vector = coords[source]
    returned = None if returned is None else returned / norm
    pv, plotter = _plotter(g, window_size, screenshot, off_screen, view, zoom)
    _add_surface(plotter, pv, g)
    points = g.vertices + lift * g.frames[:, 2]
    _add_arrows(plotter, pv, points[index], tangent_to_3d(g, coords)[index], length, "#333333")
    start = vector[0] * g.frames[source, 0] + vector[1] * g.frames[source, 1]
    _add_arrows(plotter, pv, points[[source]], start[None], 1.6 * length, _E1, shaft=0.06)
    if path is not None:
        line = pv.lines_from_points(points[path]).tube(radius=0.12 * _edge_length(g))
        plotter.add_mesh(line, color="#ff7f0e")
        back = returned[0] * g.frames[source, 0] + returned[1] * g.frames[source, 1]
        _add_arrows(plotter, pv, points[[source]], back[None], 1.6 * length, "#2ca02c", shaft=0.06)
    return _finish(plotter, g.vertices, title or text, view, zoom, screenshot)


def plot_curvature(
    geometry,
    *,
    cmap: str = "RdBu_r",
    window_size=WINDOW_SIZE,
    screenshot=None,
    off_screen=None,
    view=None,
    zoom: float = 1.0,
    title=None,
):
    """Colour by the Gaussian curvature ``angle_defect / vertex_area`` (V,), centred at 0.

    Boundary vertices (whose defect is a boundary turning angle, not curvature) are grey; the
    colour range is symmetric, up to the 99th percentile of ``|K|``.

    Parameters
    ----------
    window_size, screenshot, off_screen, view, zoom, title : see :func:`plot_scalar`
    """
    g = _numpy_geometry(geometry)
    curvature = np.where(g.boundary, np.nan, g.angle_defect / np.maximum(g.vertex_area, 1e-300))
    finite = np.abs(curvature[np.isfinite(curvature)])
    limit = float(np.percentile(finite, 99)) if finite.size else 0.0
    limit = limit if limit > 1e-12 else 1.0
    pv, plotter = _plotter(g, window_size, screenshot, off_screen, view, zoom)
    args = _bar("Gaussian curvature")
    _add_surface(plotter, pv, g, curvature, cmap=cmap, clim=(-limit, limit), nan_color="#bdbdbd", scalar_bar_args=args)
    return _finish(plotter, g.vertices, title, view, zoom, screenshot)


def plot_structure(
    geometry,
    source=None,
    *,
    max_glyphs: int = 250,
    glyph_scale: float = 1.0,
    window_size=WINDOW_SIZE,
    screenshot=None,
    off_screen=None,
    view=None,
    zoom: float = 1.0,
    title=None,
):
    """The G-structure: the edges whose transporter flips (the seam, orange), the boundary
    (black) and frames e1 (red), e2 (blue).

    The frames drawn are a smooth gauge: the frame of ``source`` parallel-transported along a
    shortest-path tree (:func:`~gaugeconv.preprocessing.transport.transport_tree`; the stored
    gauges where it does not reach). On a non-orientable mesh no gauge is smooth everywhere:
    where the tree's branches meet, e2 points opposite ways. The default source is the vertex
    farthest from the flipped edges, so that on a Möbius strip the branches meet at the seam.

    Parameters
    ----------
    source : vertex index or None
    max_glyphs, glyph_scale : see :func:`plot_field`
    window_size, screenshot, off_screen, view, zoom, title : see :func:`plot_scalar`
    """
    g = _numpy_geometry(geometry)
    q, p = g.edge_index
    seam = np.unique(np.sort(np.stack([q, p], 1)[g.transport_flip], axis=1), axis=0)
    sides = np.sort(np.concatenate([g.faces[:, [0, 1]], g.faces[:, [1, 2]], g.faces[:, [2, 0]]]), axis=1)
    sides, count = np.unique(sides, axis=0, return_counts=True)
    if source is None and len(seam):
        distance = shortest_paths(g.edge_index, g.log_r, np.unique(seam))[0].min(0)  # to the nearest seam vertex
        source = int(np.argmax(np.where(np.isfinite(distance), distance, -1.0)))
    source = 0 if source is None else source
    frames = g.frames.copy()
    for axis, vector in ((0, (1.0, 0.0)), (1, (0.0, 1.0))):
        carried = transport_tree(g.edge_index, g.log_r, g.transport_angle, g.transport_flip, source, vector)
        reached = np.isfinite(carried[:, 0])
        frames[reached, axis] = tangent_to_3d(g, np.nan_to_num(carried))[reached]
    pv, plotter = _plotter(g, window_size, screenshot, off_screen, view, zoom)
    _add_surface(plotter, pv, g)
    radius = 0.08 * _edge_length(g)
    for edges, colour in ((seam, "#ff7f0e"), (sides[count == 1], "black")):
        if len(edges):
            lines = np.hstack([np.full((len(edges), 1), 2), edges]).ravel()
            mesh = pv.PolyData(np.asarray(g.vertices, np.float64), lines=lines)
            plotter.add_mesh(mesh.tube(radius=radius), color=colour)
    _add_frames(plotter, pv, g, frames, max_glyphs, glyph_scale)
    text = f"{g.name}: {'orientable' if g.orientable else 'non-orientable'}, {len(seam)} flipped edges"
    return _finish(plotter, g.vertices, title or text, view, zoom, screenshot)
