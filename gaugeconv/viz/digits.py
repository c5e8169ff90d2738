"""Pictures of the digits examples' inputs: signals on the icosphere, images on the Möbius strip."""

from __future__ import annotations

from functools import partial
from typing import Optional, Sequence

import numpy as np

from ..shapes import icosahedron
from ._render import Scene, add_surface, array, check_clim, options, pyvista, render
from .colour import colour_range
from .panels import plot_panels

__all__ = ["plot_sphere_signals", "plot_strip_images"]

#: panel size of the digits' grids
DIGIT_PANEL = (300, 300)
SEAM = "#ff7f0e"


def _draw_scene(scene, **opts):
    return render(scene, options(opts))


def _titles(titles, count):
    if titles is None:
        return [None] * count
    titles = [None if t is None else str(t) for t in titles]
    if len(titles) != count:
        raise ValueError(f"titles must have one entry per picture ({count}), got {len(titles)}")
    return titles


def _window(count, shape, window_size):
    from ._render import grid

    rows, cols = grid(count) if shape is None else shape
    return window_size or (DIGIT_PANEL[0] * cols, DIGIT_PANEL[1] * rows)


def _stack(values, name, ndim):
    """``values`` (B, ...) or a list of arrays as a float64 array with ``ndim`` dimensions."""
    if isinstance(values, (list, tuple)):
        values = [array(v, name) for v in values]
        shapes = {v.shape for v in values}
        if len(shapes) != 1:
            raise ValueError(f"{name} must all have the same shape, got {sorted(shapes)}")
        values = np.stack(values) if values else np.zeros((0,))
    else:
        values = array(values, name)
    if values.ndim == ndim + 1 and values.shape[-1 if name == "signals" else 1] == 1:
        values = values[..., 0] if name == "signals" else values[:, 0]
    if values.ndim != ndim or len(values) == 0:
        return None, values.shape
    return values, values.shape


def plot_sphere_signals(
    signals,
    titles: Optional[Sequence[str]] = None,
    *,
    rotations=None,
    cmap: str = "viridis",
    clim=None,
    shape: Optional[tuple] = None,
    window_size: Optional[tuple] = None,
    screenshot=None,
    off_screen: Optional[bool] = None,
):
    """Signals on the icosahedral grid, one sphere per panel, each seen from where its signal is.

    Parameters
    ----------
    signals : (B, V) or (B, V, 1), or a list of B arrays (V,): values at the vertices of
        ``shapes.icosahedron(level, sphere=True)`` (the order of :mod:`gaugeconv.ico.signals`),
        ``V = 10 * 4**level + 2``
    titles : B captions (e.g. ``"7 -> 7"``: label and prediction), or None
    rotations : B rotation matrices (3, 3) (or None entries) the signals were rotated by with
        :func:`~gaugeconv.ico.signals.project_planar_image`: each camera then looks at the
        projected image's centre with its top up. Without them the camera looks at the
        signal's centre of mass (of ``|value - median|``), with +z up.
    cmap, clim : colour map and (low, high), the same for every panel (default
        :func:`~gaugeconv.viz.colour_range` of all signals)
    shape : (rows, columns) of panels; default about 4:3
    window_size : (width, height); default 300x300 per panel
    screenshot, off_screen : see :class:`~gaugeconv.viz.Options`

    Returns
    -------
    pyvista.Plotter

    Notes
    -----
    :func:`~gaugeconv.ico.signals.project_planar_image` puts the image on the plane below the
    south pole with its rows along x and columns along y: seen from outside the sphere the
    digits are mirror images, as the network sees them.
    """
    stacked, got = _stack(signals, "signals", 2)
    if stacked is None:
        raise ValueError(f"signals must have shape (B, V) or (B, V, 1) with B >= 1, got {got}")
    count, n_vertices = stacked.shape
    level = int(round(np.log((n_vertices - 2) / 10) / np.log(4))) if n_vertices > 12 else 0
    if 10 * 4**level + 2 != n_vertices or level > 8:
        raise ValueError(f"signals must have V = 10 * 4**level + 2 values (12, 42, 162, 642, ...), got {n_vertices}")
    titles = _titles(titles, count)
    rotations = [None] * count if rotations is None else list(rotations)
    if len(rotations) != count:
        raise ValueError(f"rotations must have one entry per signal ({count}), got {len(rotations)}")
    clim = check_clim(clim)
    if clim is None:
        clim, _ = colour_range(stacked.reshape(-1))
    sphere = icosahedron(level, sphere=True)
    pv = pyvista()
    panels = []
    for values, title, rotation in zip(stacked, titles, rotations):
        if rotation is not None:
            rotation = np.asarray(rotation, np.float64)
            if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6):
                raise ValueError(f"rotations must be (3, 3) rotation matrices, got shape {rotation.shape}")
            camera = (rotation @ [0.0, 0.0, -1.0], rotation @ [-1.0, 0.0, 0.0])  # the image's centre and top
        else:
            weight = np.abs(values - np.median(values))
            centre = weight @ sphere.vertices
            direction = centre / np.linalg.norm(centre) if np.linalg.norm(centre) > 1e-9 * weight.sum() else None
            camera = None if direction is None else (direction, np.array([0.0, 0.0, 1.0]))

        def draw(plotter, legend, direction, values=values):
            add_surface(plotter, pv, sphere.vertices, sphere.faces, values, cmap=cmap, clim=clim, show_scalar_bar=False)

        scene = Scene(draw, sphere.vertices, title=title, camera=camera)
        panels.append(partial(_draw_scene, scene))
    return plot_panels(
        panels,
        shape=shape,
        window_size=_window(count, shape, window_size),
        screenshot=screenshot,
        off_screen=off_screen,
    )


def _flat_strip(pv, image):
    """The image (W, L) as a grid of unit squares: column j at x in [j, j + 1], row i at y in [-i - 1, -i]."""
    rows, length = image.shape
    x, y = np.meshgrid(np.arange(length + 1.0), -np.arange(rows + 1.0), indexing="ij")
    points = np.stack([x, y, np.zeros_like(x)], -1).reshape(-1, 3)
    index = np.arange(len(points)).reshape(length + 1, rows + 1)
    corners = np.stack([index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]], -1)  # cell (j, i)
    squares = pv.PolyData(points, np.hstack([np.full((length * rows, 1), 4), corners.reshape(-1, 4)]).ravel())
    squares.cell_data["values"] = image.T.reshape(-1)  # cell (j, i) holds pixel (i, j)
    return squares


def _mobius_strip(image, radius=1.0, width=0.9):
    """The image (W, L) on a Möbius strip of centre radius ``radius`` and width ``width`` (so the
    pixels are drawn narrower across than along): column j at angle 2 pi j / L, row i across;
    the last column's far edge meets the first column's near edge with the rows reversed.

    Returns
    -------
    points : ((L + 1) (W + 1), 3), faces : (2 W L, 3), values : (2 W L,) the pixel of each triangle
    """
    rows, length = image.shape
    u = 2 * np.pi * np.arange(length + 1) / length
    v = width * (0.5 - np.arange(rows + 1) / rows)  # row 0 at one edge of the strip
    uu, vv = np.meshgrid(u, v, indexing="ij")
    ring = radius + vv * np.cos(uu / 2)
    points = np.stack([ring * np.cos(uu), ring * np.sin(uu), vv * np.sin(uu / 2)], -1).reshape(-1, 3)
    index = np.arange((length + 1) * (rows + 1)).reshape(length + 1, rows + 1)
    a, b, c, d = index[:-1, :-1], index[1:, :-1], index[1:, 1:], index[:-1, 1:]  # cell (j, i)
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    values = np.tile(image.T.reshape(-1), 2)  # cell (j, i) holds pixel (i, j)
    return points, faces, values


def plot_strip_images(
    images,
    titles: Optional[Sequence[str]] = None,
    *,
    surface3d: bool = False,
    cmap: str = "gray_r",
    clim=None,
    shape: Optional[tuple] = None,
    window_size: Optional[tuple] = None,
    screenshot=None,
    off_screen: Optional[bool] = None,
):
    """Strip maps (the Möbius examples' images): flat with the glued edges marked, or on the strip.

    Flat (default), each image is drawn as it is stored, row 0 at the top, with orange arrows on
    its left and right edges: the right edge is glued to the left one with the arrows matching,
    i.e. the rows reversed (the usual diagram of a Möbius strip). With ``surface3d`` each image
    is drawn on a Möbius strip in 3D, its columns going once round (narrower across than along,
    for the strip to look like one), the glued edge orange.

    Parameters
    ----------
    images : (B, W, L) or (B, 1, W, L), numpy or torch: W across the strip, L along it
    titles : B captions (e.g. ``"shift 17: 4 -> 4"``), or None
    surface3d : draw on the strip in 3D instead of flat
    cmap, clim : colour map (default ``gray_r``: dark ink on white) and (low, high), shared
    shape, window_size, screenshot, off_screen : see :func:`plot_sphere_signals`

    Returns
    -------
    pyvista.Plotter
    """
    stacked, got = _stack(images, "images", 3)
    if stacked is None:
        raise ValueError(f"images must have shape (B, W, L) or (B, 1, W, L) with B >= 1, got {got}")
    count, width, length = stacked.shape
    if min(width, length) < 2:
        raise ValueError(f"images must be at least 2 x 2 pixels, got {width} x {length}")
    titles = _titles(titles, count)
    clim = check_clim(clim)
    if clim is None:
        clim, _ = colour_range(stacked.reshape(-1))
    pv = pyvista()
    panels = []
    for image, title in zip(stacked, titles):
        if surface3d:
            points, faces, values = _mobius_strip(image)

            def draw(plotter, legend, direction, points=points, faces=faces, values=values):
                add_surface(plotter, pv, points, faces, values, cmap=cmap, clim=clim, show_scalar_bar=False)
                edge = np.r_[np.arange(0, len(points), width + 1), np.arange(width, len(points), width + 1)]
                plotter.add_mesh(pv.lines_from_points(points[edge]).tube(radius=0.008), color="black")
                seam = pv.lines_from_points(points[: width + 1]).tube(radius=0.03)  # column 0's near edge
                plotter.add_mesh(seam, color=SEAM)

            scene = Scene(draw, points, title=title)
        else:
            corners = np.array([[0.0, 0.0, 0.0], [length, 0.0, 0.0], [0.0, -width, 0.0], [length, -width, 0.0]])

            def draw(plotter, legend, direction, image=image):
                mesh = _flat_strip(pv, image)
                plotter.add_mesh(mesh, scalars="values", cmap=cmap, clim=clim, show_scalar_bar=False, lighting=False)
                for y in (0.0, -float(width)):  # the strip's boundary: its top and bottom edges
                    edge = pv.Line((0.0, y, 0.01), (float(length), y, 0.01)).tube(radius=0.15)
                    plotter.add_mesh(edge, color="black", lighting=False)
                for x, sign in ((0.0, 1.0), (float(length), -1.0)):  # glued edges: left up, right down
                    start = np.array([x, -width / 2 - sign * width / 2, 0.02])
                    seam = pv.Line(start, start + [0, sign * width, 0]).tube(radius=0.4)
                    plotter.add_mesh(seam, color=SEAM, lighting=False)
                    tip = np.array([x, -width / 2 + sign * width * 0.12, 0.03])
                    cone = pv.Cone(center=tip, direction=(0, sign, 0), height=0.22 * width, radius=0.06 * width)
                    plotter.add_mesh(cone, color=SEAM, lighting=False)

            scene = Scene(draw, corners, title=title, camera=((0.0, 0.0, 1.0), (0.0, 1.0, 0.0)), parallel=True)
        panels.append(partial(_draw_scene, scene))
    return plot_panels(
        panels,
        shape=shape,
        window_size=_window(count, shape, window_size),
        screenshot=screenshot,
        off_screen=off_screen,
    )
