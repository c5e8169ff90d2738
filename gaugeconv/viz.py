"""Pictures of features, gauges, transport and curvature on a surface (pyvista).

Every ``plot_*`` function takes a :class:`gaugeconv.Geometry` (numpy or torch) and returns the
``pyvista.Plotter``. With ``screenshot="out.png"`` it renders off-screen, writes the PNG
(atomically: no partial file on failure) and closes the plotter; otherwise call ``.show()``.
Tangent features are drawn in 3D through the gauges: coordinates ``(c, s)`` at p become the
arrow ``c * e1_p + s * e2_p`` with ``frames[p] = (e1, e2, n)``.

Headless machines render through EGL (``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow``, set
here when no display is present); on Debian/Ubuntu that needs ``libegl1 libegl-mesa0
libgl1-mesa-dri``. pyvista is imported lazily: ``pip install gaugeconv[viz]``.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .groups import o2_compose, o2_matrix

__all__ = [
    "loop_through",
    "plot_curvature",
    "plot_field",
    "plot_frames",
    "plot_scalar",
    "plot_structure",
    "plot_transport",
    "tangent_to_3d",
    "transport_path",
    "transport_tree",
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


def _plotter(g, window_size, screenshot, off_screen):
    _check_png(screenshot)
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
    from .fileformat import atomic_write

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


def _edge_ids(g, sources, targets) -> np.ndarray:
    """Index of the directed edge ``sources[i] -> targets[i]``, or -1 where there is none."""
    import scipy.sparse as sp

    q, p = g.edge_index
    ids = sp.csr_matrix((np.arange(1, g.n_edges + 1), (q, p)), shape=(g.n_vertices,) * 2)
    return np.asarray(ids[np.asarray(sources), np.asarray(targets)]).reshape(-1).astype(np.int64) - 1


def _check_vertex(g, vertex, name):
    if not (isinstance(vertex, (int, np.integer)) and 0 <= vertex < g.n_vertices):
        raise ValueError(f"{name} must be a vertex index in [0, {g.n_vertices}), got {vertex!r}")
    return int(vertex)


def _check_vector(vector):
    vector = _array(vector, "vector").reshape(-1)
    if vector.shape != (2,) or not np.any(vector):
        raise ValueError(f"vector must be 2 non-zero gauge coordinates (c, s), got {vector.tolist()}")
    return vector


def _shortest_paths(g, source):
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    q, p = g.edge_index
    graph = sp.csr_matrix((np.maximum(g.log_r, 1e-12), (q, p)), shape=(g.n_vertices,) * 2)
    return dijkstra(graph, indices=source, return_predecessors=True)


def transport_tree(geometry, source: int, vector) -> np.ndarray:
    """Transport a tangent vector from ``source`` to every vertex along a shortest-path tree.

    Along each tree edge q -> p, ``v_p = T_e v_q`` with ``T_e = R(transport_angle) F**flip``.
    Where branches of the tree meet, their vectors differ by the holonomy of the loop they close.

    Parameters
    ----------
    source : vertex index
    vector : (2,) gauge coordinates at ``source``

    Returns
    -------
    (V, 2) gauge coordinates at every vertex; NaN where the vertex is not reachable.
    """
    g = _numpy_geometry(geometry)
    source, vector = _check_vertex(g, source, "source"), _check_vector(vector)
    dist, pred = _shortest_paths(g, source)
    T = o2_matrix(g.transport_angle, g.transport_flip)  # (E, 2, 2)
    order = np.argsort(dist, kind="stable")
    order = order[np.isfinite(dist[order]) & (order != source)]  # parents before children
    edge = _edge_ids(g, pred[order], order)
    out = np.full((g.n_vertices, 2), np.nan)
    out[source] = vector
    for p, e in zip(order, edge):
        out[p] = T[e] @ out[pred[p]]
    return out


def loop_through(geometry, waypoints) -> np.ndarray:
    """A closed edge path ``w0 -> w1 -> ... -> w0`` joining the waypoints by shortest paths.

    Returns
    -------
    (L + 1,) vertex indices, first and last equal to ``waypoints[0]``.
    """
    g = _numpy_geometry(geometry)
    waypoints = [_check_vertex(g, int(w), "waypoint") for w in waypoints]
    if len(waypoints) < 2:
        raise ValueError("a loop needs at least 2 waypoints")
    path = [waypoints[0]]
    for a, b in zip(waypoints, waypoints[1:] + waypoints[:1]):
        dist, pred = _shortest_paths(g, b)
        if not np.isfinite(dist[a]):
            raise ValueError(f"waypoints {a} and {b} lie on different components")
        while a != b:  # walk from a towards b along b's tree
            a = int(pred[a])
            path.append(a)
    return np.asarray(path, dtype=np.int64)


def transport_path(geometry, path, vector):
    """Transport a vector along an edge path ``path[0] -> path[1] -> ...``.

    Returns
    -------
    vectors : (L, 2) gauge coordinates at each vertex of the path
    holonomy : (angle, flip), the O(2) element ``T_{L-1} ... T_1`` composed along the path;
        for a closed path it maps the start vector to the returned one.
    """
    g = _numpy_geometry(geometry)
    path = [_check_vertex(g, int(v), "path vertex") for v in path]
    vector = _check_vector(vector)
    path = np.asarray(path, dtype=np.int64)
    edge = _edge_ids(g, path[:-1], path[1:])
    if np.any(edge < 0):
        i = int(np.flatnonzero(edge < 0)[0])
        raise ValueError(f"path vertices {path[i]} and {path[i + 1]} are not joined by an edge")
    angle, flip = 0.0, False
    out = [vector]
    for e in edge:
        out.append(o2_matrix(g.transport_angle[e], g.transport_flip[e]) @ out[-1])
        angle, flip = o2_compose(g.transport_angle[e], g.transport_flip[e], angle, flip)
    return np.asarray(out), (float(angle), bool(flip))


# ---------------------------------------------------------------------------- field types
def _field_layout(field_type, geometry) -> list:
    """The fields of a FieldType (or spec string) one by one: ``[(kind, start, width), ...]``."""
    from . import groups

    if isinstance(field_type, str):
        field_type = groups.FieldType(field_type, group=geometry.structure_group)
    group = str(field_type.group)
    n = int(group[1:]) if group[:1] in ("C", "D") else 0
    layout, start = [], 0
    for multiplicity, kind in field_type.fields:
        kind = str(kind)
        width = 1 if kind in ("0", "0-") else (n * (2 if group[0] == "D" else 1) if kind == "reg" else 2)
        for _ in range(int(multiplicity)):
            layout.append((kind, start, width))
            start += width
    if start != field_type.dim:
        raise ValueError(f"cannot lay out field type {field_type}: {start} channels, dim {field_type.dim}")
    return layout


def _field_parts(g, x, kind: str, group: str):
    """Colour values (V,) and gauge-coordinate glyph directions [(V, 2), ...] of one field."""
    if kind in ("0", "0-"):
        return x[:, 0], []
    if kind == "reg":
        # channel i (and i + N for D_N's flipped copy) points along the gauge angle i 2pi/N; the
        # order-1 Fourier coefficient over these directions is an order-1 field (the preferred one)
        n = int(group[1:])
        if group[0] == "D":
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
    pv, plotter = _plotter(g, window_size, screenshot, off_screen)
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
    layout = _field_layout(field_type, g)
    dim = sum(w for _, _, w in layout)
    if x.shape != (g.n_vertices, dim):
        raise ValueError(f"features must have shape (V, C) = ({g.n_vertices}, {dim}) for {field_type}, got {x.shape}")
    if field is not None and not (isinstance(field, (int, np.integer)) and 0 <= field < len(layout)):
        raise ValueError(f"field must be an index in [0, {len(layout)}), got {field!r}")
    scalars = [i for i, f in enumerate(layout) if f[0] in ("0", "0-")]
    others = [i for i, f in enumerate(layout) if f[0] not in ("0", "0-")]
    group = str(getattr(field_type, "group", g.structure_group))
    chosen = field if field is not None else (others or scalars)[0]
    kind, start, width = layout[chosen]
    colour, glyphs = _field_parts(g, x[:, start : start + width], kind, group)
    label = f"{name}[{chosen}]"
    if field is None and glyphs and scalars:
        colour, label = x[:, layout[scalars[0]][1]], f"{name}[{scalars[0]}]"
    elif glyphs and kind != "reg":
        label = f"|{name}[{chosen}]|"
    signed = kind == "0-" or (not label.startswith("|") and colour.min() < 0 < colour.max())
    # light colour maps under black glyphs
    cmap = cmap or ("RdBu_r" if signed else ("YlOrRd" if glyphs else "viridis"))
    limit = float(np.max(np.abs(colour))) or 1.0
    pv, plotter = _plotter(g, window_size, screenshot, off_screen)
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
    pv, plotter = _plotter(g, window_size, screenshot, off_screen)
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

    Without ``loop``: along a shortest-path tree to every vertex (:func:`transport_tree`);
    where branches meet, the arrows disagree by the holonomy in between. With ``loop`` (a list
    of waypoint vertices): around the closed path ``source -> loop... -> source``
    (:func:`loop_through`); the start vector is red, the returned one green, and the title
    states the holonomy.

    Parameters
    ----------
    source : vertex index
    vector : (2,) gauge coordinates at ``source``
    loop : sequence of vertex indices, or None
    max_glyphs, glyph_scale : see :func:`plot_field`
    window_size, screenshot, off_screen, view, zoom, title : see :func:`plot_scalar`
    """
    g = _numpy_geometry(geometry)
    source = _check_vertex(g, source, "source")
    vector = _check_vector(vector)
    vector = vector / np.linalg.norm(vector)
    lift = 0.03 * _edge_length(g)
    if loop is None:
        coords = transport_tree(g, source, vector)
        index = _subsample(g, max_glyphs)
        index = index[np.isfinite(coords[index, 0]) & (index != source)]
        length = glyph_scale * _glyph_length(g, index)
        path, returned, text = None, None, f"transport from vertex {source}"
    else:
        path = loop_through(g, [source] + [int(v) for v in loop])
        coords_path, (angle, flip) = transport_path(g, path, vector)
        coords = np.zeros((g.n_vertices, 2))
        coords[path[:-1]] = coords_path[:-1]
        index = np.unique(path[1:-1])
        length = glyph_scale * 1.2 * _edge_length(g)
        returned = coords_path[-1]
        kind = "reflection" if flip else "rotation"
        text = f"holonomy around the loop: {kind} by {np.degrees(angle):.1f} deg"
    pv, plotter = _plotter(g, window_size, screenshot, off_screen)
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
    pv, plotter = _plotter(g, window_size, screenshot, off_screen)
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
    shortest-path tree (:func:`transport_tree`; the stored gauges where it does not reach). On a
    non-orientable mesh no gauge is smooth everywhere: where the tree's branches meet, e2 points
    opposite ways. The default source is the vertex farthest from the flipped edges, so that on a
    Möbius strip the branches meet at the seam.

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
        distance = _shortest_paths(g, np.unique(seam))[0].min(0)  # to the nearest seam vertex
        source = int(np.argmax(np.where(np.isfinite(distance), distance, -1.0)))
    source = _check_vertex(g, 0 if source is None else source, "source")
    frames = g.frames.copy()
    for axis, vector in ((0, (1.0, 0.0)), (1, (0.0, 1.0))):
        carried = transport_tree(g, source, vector)
        reached = np.isfinite(carried[:, 0])
        frames[reached, axis] = tangent_to_3d(g, np.nan_to_num(carried))[reached]
    pv, plotter = _plotter(g, window_size, screenshot, off_screen)
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


# ---------------------------------------------------------------------------- command line
_GEOMETRY_FIELDS = ("angle_defect", "vertex_area", "degree", "boundary")


def render_arguments(parser) -> None:
    """Add the arguments of ``gaugeconv render`` to an argparse parser."""
    parser.add_argument("file", help="a mesh file (obj, ply, off, stl, glb, gltf) or a saved Geometry (.npz)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--field",
        metavar="NAME",
        help=f"draw the array NAME of --features, or a Geometry array ({', '.join(_GEOMETRY_FIELDS)})",
    )
    what.add_argument("--frames", action="store_true", help="draw the gauges: e1 red, e2 blue")
    what.add_argument("--curvature", action="store_true", help="colour by Gaussian curvature (angle defect / area)")
    what.add_argument("--transport", metavar="VERTEX", type=int, help="transport a vector from VERTEX over the surface")
    what.add_argument("--structure", action="store_true", help="frames and flipped edges (the default view)")
    parser.add_argument("--features", metavar="FILE.npz", help="named arrays (V,) or (V, C), e.g. a model's outputs")
    parser.add_argument("--type", dest="field_type", metavar="SPEC", help='field type of a (V, C) array: "1x0 + 1x1"')
    parser.add_argument("--group", help="group of --type: SO2, O2, C<N>, D<N> (default: the geometry's)")
    parser.add_argument("--index", type=int, help="with --type: draw this field (spec order)")
    parser.add_argument("--loop", metavar="V1,V2,...", help="with --transport: go around VERTEX -> V1 -> ... -> VERTEX")
    parser.add_argument(
        "--view", nargs=3, type=float, metavar=("X", "Y", "Z"), help="direction from the mesh towards the camera"
    )
    parser.add_argument("--zoom", type=float, default=1.0, help="zoom after fitting the mesh (default 1)")
    parser.add_argument("--size", default="800x600", metavar="WxH", help="picture size in pixels (default 800x600)")
    parser.add_argument("--repair", action="store_true", help="repair the mesh (see gaugeconv preprocess)")
    parser.add_argument("-o", "--output", metavar="OUT.png", help="write a PNG (no window)")


def _numbers(text, kind, name, count=None):
    try:
        values = [kind(t) for t in text.replace("x", ",").split(",")]
    except ValueError:
        raise ValueError(f"{name} must be numbers separated by commas, got {text!r}") from None
    if count is not None and len(values) != count:
        raise ValueError(f"{name} needs {count} numbers, got {text!r}")
    return values


def _features(args, g):
    """The array to draw (V,) or (V, C) and its name, from --features/--field."""
    if args.features is None:
        if args.field not in _GEOMETRY_FIELDS:
            raise ValueError(
                f"no array {args.field!r}: pass --features FILE.npz or one of {', '.join(_GEOMETRY_FIELDS)}"
            )
        return getattr(g, args.field), args.field
    try:
        with np.load(args.features, allow_pickle=False) as data:
            names = list(data.files)
            name = args.field if args.field is not None else (names[0] if len(names) == 1 else None)
            if name is None:
                raise ValueError(f"{args.features} holds arrays {', '.join(names)}: choose one with --field")
            if name not in names:
                raise ValueError(f"{args.features} has no array {name!r}; it holds {', '.join(names) or 'nothing'}")
            values = data[name]
    except (OSError, EOFError) as exc:
        raise ValueError(f"{args.features}: cannot read as .npz ({type(exc).__name__})") from None
    return values, name


def _draw(args, g, common):
    if args.curvature:
        return plot_curvature(g, **common), "curvature"
    if args.frames:
        return plot_frames(g, **common), "frames"
    if args.transport is not None:
        if args.loop is None:
            return plot_transport(g, args.transport, **common), f"transport from {args.transport}"
        loop = _numbers(args.loop, int, "--loop")
        plotter = plot_transport(g, args.transport, loop=loop, **common)
        path = loop_through(g, [args.transport, *loop])
        _, (angle, flip) = transport_path(g, path, (1.0, 0.0))
        kind = "reflection" if flip else "rotation"
        return plotter, f"transport around a loop of {len(path) - 1} edges, holonomy {kind} {np.degrees(angle):.1f} deg"
    if args.field is None and args.features is None:
        return plot_structure(g, **common), "structure"
    values, name = _features(args, g)
    if args.field_type is None:
        if np.ndim(values) == 2 and np.shape(values)[1] > 1:
            raise ValueError(f"{name} has shape {np.shape(values)}: pass --type SPEC (e.g. '1x0 + 1x1') for its fields")
        return plot_scalar(g, values, name, **common), name
    from .groups import FieldType

    field_type = FieldType(args.field_type, group=args.group or g.structure_group)
    return plot_field(g, values, field_type, field=args.index, name=name, **common), f"{name} ({field_type})"


def render_command(args) -> int:
    """Run ``gaugeconv render`` for parsed arguments (see :func:`render_arguments`).

    Returns the exit status: 0, or 2 after one line on stderr for bad input (no file written).
    """
    from .fileformat import load as load_geometry
    from .mesh import MeshError, load_mesh

    try:
        if args.loop is not None and args.transport is None:
            raise ValueError("--loop needs --transport VERTEX")
        if (args.field_type or args.group or args.index is not None) and args.field is None and not args.features:
            raise ValueError("--type/--group/--index need --features (and --field)")
        width, height = _numbers(args.size, int, "--size", 2)
        if args.output is None and not has_display():
            raise ValueError("no display to open a window: pass -o OUT.png to write a picture")
        if args.output is not None:
            directory = os.path.dirname(os.path.abspath(args.output))
            if not args.output.lower().endswith(".png"):
                raise ValueError(f"-o must name a .png file, got {args.output!r}")
            if not os.path.isdir(directory):
                raise ValueError(f"-o: directory {directory} does not exist")
        if args.file.lower().endswith(".npz"):
            g = load_geometry(args.file)
        else:
            from .preprocessing import preprocess

            g = preprocess(load_mesh(args.file, repair=args.repair))
        common = {"window_size": (width, height), "screenshot": args.output, "view": args.view, "zoom": args.zoom}
        plotter, what = _draw(args, g, common)
    except (ValueError, MeshError, OSError, ImportError) as exc:
        print(f"gaugeconv: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.output is None:
        plotter.show()
    else:
        print(f"{args.output}: {what} of {g.name} ({g.n_vertices} vertices), {width}x{height}")
    return 0
