"""The plumbing every picture shares: options, plotters, panels, camera fitting, text, PNG files.

A plot function checks its data, builds a :class:`Scene` (a ``draw`` callback that adds the
actors, the points the camera frames, a default title) and hands it to :func:`render`, which
makes the plotter (one panel, or a grid for several views), draws, frames the camera and writes
the PNG. With ``plotter=`` the scene is drawn into the active subplot of an existing plotter
instead (that is how :func:`gaugeconv.viz.plot_panels` combines pictures).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields
from typing import Callable, Optional

import numpy as np

from .camera import auto_view, orbit, up_vector

__all__ = ["Options", "Scene", "has_display", "render"]

#: the size of a one-panel picture, and of each panel of a several-panel one
WINDOW_SIZE = (800, 600)
PANEL_SIZE = (520, 440)
MAX_PANELS = 24


def has_display() -> bool:
    """True when an interactive window can be opened (X11/Wayland display, or macOS/Windows)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in ("darwin", "win32")


def pyvista():
    """pyvista, imported on first use (EGL off-screen rendering when there is no display)."""
    if not has_display():
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        import pyvista
    except ImportError:
        raise ImportError("gaugeconv.viz needs pyvista: pip install gaugeconv[viz]") from None
    return pyvista


def numpy_geometry(geometry):
    return geometry if isinstance(geometry.log_r, np.ndarray) else geometry.numpy()


def array(values, name: str) -> np.ndarray:
    """``values`` (numpy or torch, numbers or bools) as a float64 array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    values = np.asarray(values)
    if values.dtype == bool:
        values = values.astype(np.float64)
    if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
        raise ValueError(f"{name} must be real numbers, got dtype {values.dtype}")
    return values.astype(np.float64)


# ---------------------------------------------------------------------------- options
@dataclass(frozen=True)
class Options:
    """The drawing options every ``plot_*`` function takes as keyword arguments.

    Attributes
    ----------
    window_size : (width, height) of the PNG in pixels; default 800x600 for one panel, 520x440
        per panel for several
    screenshot : PNG path: render off-screen, write it (atomically) and close the plotter
    off_screen : force off-screen rendering (default: when writing a screenshot or without display)
    view : (3,) direction from the mesh towards the camera; default :func:`~gaugeconv.viz.auto_view`
    up : ``"x"``, ``"y"``, ``"z"``, ``"-y"``, ... or a direction (3,): the mesh's up axis
        (default detected)
    views : several views in one picture, turned round the up axis by ``360 / views`` degrees
    zoom : camera zoom after the mesh is fitted to the panel (default 1)
    title : text in the panel's upper left corner (default: the plot's own)
    plotter : draw into the active subplot of this pyvista plotter (nothing is written)
    """

    window_size: Optional[tuple] = None
    screenshot: object = None
    off_screen: Optional[bool] = None
    view: object = None
    up: object = None
    views: int = 1
    zoom: float = 1.0
    title: Optional[str] = None
    plotter: object = None


def options(kwargs: dict) -> Options:
    """Options from keyword arguments, checked (ValueError/TypeError; nothing is drawn or written)."""
    names = {f.name for f in fields(Options)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise TypeError(f"unknown drawing option {unknown[0]!r}; the options are {', '.join(sorted(names))}")
    o = Options(**kwargs)
    check_png(o.screenshot)
    if o.view is not None:
        direction = np.asarray(o.view, dtype=np.float64).reshape(-1)
        if direction.shape != (3,) or not np.all(np.isfinite(direction)) or not np.any(direction):
            raise ValueError(f"view must be a non-zero direction (x, y, z) towards the camera, got {o.view!r}")
    if o.up is not None:
        up_vector(o.up)
    if not (isinstance(o.zoom, (int, float, np.number)) and np.isfinite(o.zoom) and o.zoom > 0):
        raise ValueError(f"zoom must be a finite number > 0, got {o.zoom!r}")
    if not (isinstance(o.views, (int, np.integer)) and 1 <= o.views <= MAX_PANELS):
        raise ValueError(f"views must be a whole number from 1 to {MAX_PANELS}, got {o.views!r}")
    if o.window_size is not None and (len(o.window_size) != 2 or min(o.window_size) < 16):
        raise ValueError(f"window_size must be (width, height) of at least 16 pixels, got {o.window_size}")
    if o.plotter is not None and (o.screenshot is not None or o.views != 1 or o.window_size is not None):
        raise ValueError("with plotter= the picture is a panel of that plotter: no screenshot, views or window_size")
    return o


# ---------------------------------------------------------------------------- scenes
@dataclass
class Scene:
    """What one panel shows.

    ``draw(plotter, legend, direction)`` adds the actors to the active subplot (the colour bar
    or legend only when ``legend`` is true; ``direction`` (3,) points towards the camera, for
    glyphs to face it) and returns the margins it needs: a dict with ``bottom`` and/or ``right``
    as fractions of the panel. ``points`` (N, 3) are framed by the camera,
    ``weights`` (N,) weigh them for :func:`~gaugeconv.viz.auto_view`; ``camera`` fixes
    ``(direction, up)`` instead; ``parallel`` uses a parallel projection (flat images).
    """

    draw: Callable
    points: np.ndarray
    weights: Optional[np.ndarray] = None
    title: Optional[str] = None
    camera: Optional[tuple] = None
    parallel: bool = False


def grid(count: int, aspect: float = 4 / 3) -> tuple:
    """(rows, columns) for ``count`` panels: one row up to 4, else about ``aspect`` wide."""
    if count <= 4:
        return 1, count
    cols = int(np.ceil(np.sqrt(count * aspect)))
    return int(np.ceil(count / cols)), cols


def picture_size(count: int, window_size=None, panel=PANEL_SIZE) -> tuple:
    """The size of a picture of ``count`` panels: ``window_size``, or 800x600 for one panel, else
    ``panel`` per panel of the :func:`grid`."""
    if window_size is not None:
        return tuple(int(w) for w in window_size)
    if count == 1:
        return WINDOW_SIZE
    rows, cols = grid(count)
    return panel[0] * cols, panel[1] * rows


def check_clim(clim):
    """``clim`` as (low, high) floats, or None; ValueError unless finite with low < high."""
    if clim is None:
        return None
    try:
        low, high = (float(c) for c in clim)
    except (TypeError, ValueError):
        raise ValueError(f"clim must be (low, high), got {clim!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"clim must be finite (low, high) with low < high, got {clim!r}")
    return low, high


def new_plotter(pv, window_size, shape=(1, 1), off_screen=None, screenshot=None):
    off = (screenshot is not None or not has_display()) if off_screen is None else off_screen
    plotter = pv.Plotter(
        off_screen=off,
        window_size=[int(w) for w in window_size],
        shape=shape,
        border=False,
        theme=pv.themes.DocumentTheme(),
    )
    plotter.enable_anti_aliasing("ssaa")
    return plotter


def render(scene: Scene, o: Options):
    """Draw ``scene`` as a picture (``o.views`` panels) or into ``o.plotter``; returns the plotter."""
    pv = pyvista()
    if o.plotter is not None:
        draw_panel(o.plotter, scene, o)
        return o.plotter
    rows, cols = grid(o.views)
    plotter = new_plotter(pv, picture_size(o.views, o.window_size), (rows, cols), o.off_screen, o.screenshot)
    try:
        for k in range(o.views):
            plotter.subplot(k // cols, k % cols)
            draw_panel(plotter, scene, o, k)
    except BaseException:
        plotter.close()
        raise
    return finish(plotter, o.screenshot)


def finish(plotter, screenshot):
    if screenshot is not None:
        write_png(plotter, screenshot)
    return plotter


def panel_size(plotter) -> tuple:
    """(width, height) in pixels of the active subplot."""
    width, height = plotter.window_size
    x0, y0, x1, y1 = plotter.renderer.GetViewport()
    return max((x1 - x0) * width, 1.0), max((y1 - y0) * height, 1.0)


def draw_panel(plotter, scene: Scene, o: Options, index: int = 0) -> None:
    """Draw ``scene`` into the active subplot: camera (view ``index`` of ``o.views``), actors, title."""
    width, height = panel_size(plotter)
    if o.view is not None:
        direction = np.asarray(o.view, np.float64) / np.linalg.norm(o.view)
        up = up_vector(o.up) if o.up is not None else auto_view(scene.points, weights=scene.weights)[1]
    elif scene.camera is not None:
        direction, up = (np.asarray(v, np.float64) for v in scene.camera)
    else:
        direction, up = auto_view(scene.points, weights=scene.weights, up=o.up, aspect=width / height)
    if o.views > 1:
        direction = orbit(direction, up, o.views)[index]
    if abs(direction @ up) > 0.999 * np.linalg.norm(up):  # looking along the up axis
        up = np.cross(direction, np.eye(3)[np.argmin(np.abs(direction))])
    margins = scene.draw(plotter, index == 0, direction) or {}
    title = o.title if o.title is not None else scene.title
    if title and index == 0:
        plotter.add_text(title, position="upper_left", font_size=font_size(height), color="black")
    plotter.camera.parallel_projection = scene.parallel
    plotter.view_vector(direction, viewup=up)
    plotter.reset_camera()
    top = (0.045 + 1.6 * font_size(height) / height) if title and index == 0 else 0.03
    bottom, right = margins.get("bottom", 0.03), margins.get("right", 0.0)
    fit_camera(plotter, drawn_points(plotter, scene.points), o.zoom, top=top, bottom=bottom, right=right)


def drawn_points(plotter, points, most: int = 20000) -> np.ndarray:
    """``points`` and the points of every 3D actor in the active subplot (glyphs stick out of the
    surface: the camera must frame them too), at most about ``most`` of them."""
    parts = [np.asarray(points, np.float64).reshape(-1, 3)]
    for actor in plotter.renderer.actors.values():
        dataset = getattr(getattr(actor, "mapper", None), "dataset", None)
        if dataset is not None and getattr(dataset, "n_points", 0):
            parts.append(np.asarray(dataset.points, np.float64))
    everything = np.concatenate(parts)
    step = max(len(everything) // most, 1)
    return everything[::step]


def font_size(height: float) -> int:
    """Title font size (points) for a panel ``height`` pixels high."""
    return int(np.clip(round(height / 42), 7, 14))


def projected(plotter, points) -> np.ndarray:
    """Normalised device coordinates (N, 2) of ``points`` (N, 3), in [-1, 1] inside the subplot."""
    width, height = panel_size(plotter)
    matrix = plotter.camera.GetCompositeProjectionTransformMatrix(width / height, -1, 1)
    m = np.array([[matrix.GetElement(i, j) for j in range(4)] for i in range(4)])
    h = np.c_[points, np.ones(len(points))] @ m.T
    return h[:, :2] / h[:, 3:]


def fit_camera(plotter, points, zoom, top, bottom, right=0.0, side=0.03) -> None:
    """Zoom and shift the view so the projected points fill the subplot between the margins
    (fractions of the subplot), then apply the user's ``zoom``."""
    camera = plotter.camera
    ndc = projected(plotter, points)
    lo, hi = ndc.min(0), ndc.max(0)
    box_lo = np.array([2 * side - 1, 2 * bottom - 1])
    box_hi = np.array([1 - 2 * max(side, right), 1 - 2 * top])
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


# ---------------------------------------------------------------------------- actors
def surface(pv, vertices, faces):
    faces = np.asarray(faces)
    return pv.PolyData(np.asarray(vertices, np.float64), np.hstack([np.full((len(faces), 1), 3), faces]).ravel())


#: surface material: enough specular light to show the shape, not enough to wash out colours
MATERIAL = {"ambient": 0.18, "diffuse": 0.85, "specular": 0.18, "specular_power": 18}


def add_surface(plotter, pv, vertices, faces, scalars=None, smooth=True, **kwargs):
    """The surface, coloured by ``scalars`` (one per vertex or per face) or plain grey.

    Smooth shading with the normals split at edges sharper than 35 degrees: smooth where the
    mesh is smooth, creased at its creases (and at a non-orientable mesh's seam, where the two
    sides' normals are opposite)."""
    mesh = surface(pv, vertices, faces)
    kwargs.setdefault("color", "#d9d9d9" if scalars is None else None)
    if scalars is not None:
        data = mesh.point_data if len(scalars) == mesh.n_points else mesh.cell_data
        data["values"] = scalars
        kwargs["scalars"] = "values"
        kwargs["preference"] = "point" if data is mesh.point_data else "cell"
    for key, value in MATERIAL.items():
        kwargs.setdefault(key, value)
    if smooth:
        kwargs.update(smooth_shading=True, split_sharp_edges=True, feature_angle=35.0)
    return plotter.add_mesh(mesh, **kwargs)


def add_bar(plotter, actor, title: str) -> dict:
    """A horizontal colour bar for ``actor`` centred at the bottom of the active subplot, its
    title above it and its labels below (so a two-line title cannot run into them), three
    significant digits. Returns the margin it takes: ``{"bottom": fraction}``."""
    height = panel_size(plotter)[1]
    lines = title.count("\n") + 1
    size = int(np.clip(round(height / 40), 7, 14))
    bar = plotter.add_scalar_bar(
        title=title,
        mapper=actor.mapper,
        fmt="%.3g",
        n_labels=5,
        position_x=0.15,
        position_y=0.015,
        width=0.7,
        height=(2.2 + 1.2 * lines) * size / height,
        unique_bar=True,
        title_font_size=size,
        label_font_size=size,
    )
    bar.SetTextPositionToPrecedeScalarBar()
    bar.SetBarRatio(0.45 / (1 + 0.5 * lines))
    return {"bottom": 0.03 + (2.2 + 1.2 * lines) * size / height}


# ---------------------------------------------------------------------------- files
def check_png(path):
    if path is None:
        return
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise ValueError(f"screenshot must be a .png path, got {path!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"screenshot directory {directory} does not exist")


def write_png(plotter, path) -> None:
    from ..atomic import atomic_write

    try:
        with atomic_write(path, suffix=".png") as tmp:
            plotter.screenshot(tmp, return_img=False)
    finally:
        plotter.close()
