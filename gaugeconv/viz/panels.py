"""Several pictures side by side in one PNG: inputs against outputs, predictions against truth."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from ._render import PANEL_SIZE, check_png, finish, grid, new_plotter, pyvista

__all__ = ["plot_panels"]


def plot_panels(
    panels: Sequence[Callable],
    *,
    shape: Optional[tuple] = None,
    window_size: Optional[tuple] = None,
    screenshot=None,
    off_screen: Optional[bool] = None,
):
    """Draw several pictures as panels of one: each panel is a ``plot_*`` call waiting for its plotter.

    Each entry of ``panels`` is called as ``panel(plotter=plotter)`` with the panel's subplot
    active; a ``functools.partial`` of any ``plot_*`` function of :mod:`gaugeconv.viz` does that:

    .. code-block:: python

        from functools import partial
        viz.plot_panels([
            partial(viz.plot_scalar, g, curvature, "input"),
            partial(viz.plot_labels, g, predicted, CLASSES, title="prediction"),
            partial(viz.plot_labels, g, truth, CLASSES, title="ground truth"),
        ], screenshot="segmentation.png")

    Each panel frames its own camera (the same mesh gets the same view in every panel) and
    has its own colour bar or legend; pass the same ``clim`` to compare colours across panels.

    Parameters
    ----------
    panels : sequence of callables taking the keyword ``plotter``
    shape : (rows, columns); default one row for up to 4 panels, else a grid about 4:3 wide
    window_size : (width, height) of the whole picture; default 520x440 per panel
    screenshot : PNG path: render off-screen, write it (atomically) and close the plotter
    off_screen : force off-screen rendering (default: when writing a screenshot or without display)

    Returns
    -------
    pyvista.Plotter
    """
    panels = list(panels)
    if not panels or not all(callable(p) for p in panels):
        raise ValueError(
            "panels must be a non-empty sequence of callables (e.g. functools.partial(viz.plot_scalar, ...))"
        )
    rows, cols = grid(len(panels)) if shape is None else tuple(int(s) for s in shape)
    if rows * cols < len(panels) or min(rows, cols) < 1:
        raise ValueError(f"shape {shape} has room for {max(rows * cols, 0)} panels, not {len(panels)}")
    check_png(screenshot)
    size = window_size or (PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows)
    if len(size) != 2 or min(size) < 16:
        raise ValueError(f"window_size must be (width, height) of at least 16 pixels, got {size}")
    plotter = new_plotter(pyvista(), size, (rows, cols), off_screen, screenshot)
    try:
        for k, panel in enumerate(panels):
            plotter.subplot(k // cols, k % cols)
            panel(plotter=plotter)
    except BaseException:
        plotter.close()
        raise
    return finish(plotter, screenshot)
