"""Checks of rendered pictures by their structure, not their exact pixels (helpers for the viz tests).

A picture is read as (height, width, 3) uint8 pixels on a white background. The checks ask what a
reader would: is the mesh in the frame and not cut off, does its colour spread over the colour
map (or sit at one end of it), are the glyphs there (a share of glyph-coloured pixels), are the
panels all drawn.
"""

import numpy as np

BACKGROUND = 245  # channels above this on every channel: the white background


def read_png(path) -> np.ndarray:
    """(height, width, 3) uint8 pixels of a PNG, read with vtk (through pyvista)."""
    import pyvista

    image = pyvista.read(path)
    width, height, _ = image.dimensions
    pixels = np.asarray(image.point_data[image.point_data.keys()[0]])
    return pixels.reshape(height, width, -1)[::-1, :, :3]


def drawn(pixels) -> np.ndarray:
    """(H, W) bool: pixels that are not background."""
    return np.any(pixels < BACKGROUND, axis=2)


def box(mask):
    """(top, bottom, left, right) of the True pixels, inclusive."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return rows[0], rows[-1], cols[0], cols[-1]


def check_in_frame(pixels, region=None, least=0.05, most=0.95):
    """The drawing covers between ``least`` and ``most`` of the frame (or of ``region``, a pair of
    slices) and does not touch its left, right or top edges (the colour bar may be near the bottom)."""
    if region is not None:
        pixels = pixels[region]
    mask = drawn(pixels)
    covered = mask.mean()
    assert least < covered < most, f"the drawing covers {covered:.0%} of the frame"
    top, _, left, right = box(mask)
    assert top > 0 and left > 0 and right < mask.shape[1] - 1, "the drawing touches the frame's edge"
    return mask


def colour_positions(pixels, cmap, mask) -> np.ndarray:
    """Position in [0, 1] on the colour map ``cmap`` (a name) of each ``mask`` pixel: the nearest
    map colour by chromaticity (r, g, b) / (r + g + b), which shading changes little."""
    from matplotlib import colormaps

    table = colormaps[cmap](np.linspace(0, 1, 64))[:, :3]
    chroma = lambda c: c / np.maximum(c.sum(-1, keepdims=True), 1e-9)  # noqa: E731
    seen = chroma(pixels[mask].astype(np.float64) / 255.0)
    distance = np.linalg.norm(seen[:, None, :] - chroma(table)[None], axis=2)
    return np.argmin(distance, axis=1) / 63.0


def colour_spread(pixels, cmap, mask) -> np.ndarray:
    """The shares (3,) of ``mask`` pixels in the lower, middle and upper third of the colour map."""
    position = colour_positions(pixels, cmap, mask)
    return np.histogram(position, bins=[0, 1 / 3, 2 / 3, 1.0 + 1e-9])[0] / max(len(position), 1)


def dark(pixels, level=60) -> np.ndarray:
    """(H, W) bool: near-black pixels (black glyphs on a light colour map)."""
    return np.all(pixels < level, axis=2)


def difference(a, b) -> float:
    return float(np.mean(np.abs(a.astype(float) - b.astype(float))))
