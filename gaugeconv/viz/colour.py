"""Colour ranges that outliers cannot take over, and colour maps (numpy; matplotlib when drawing).

:func:`colour_range` is the default range of every colour bar: the 2nd to 98th percentile of
the finite values (or the 98th percentile of ``|value|`` either side of 0 for signed data),
widened out to the most extreme values that lie within 10% of that range beyond it. Smooth
data keeps its whole range; a few vertices with extreme values (the spikes of a noisy
scan, whose curvature can be a thousand times the rest) are clipped to the end colours, and the
colour bar's title says what share of the vertices that is.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PERCENTILES", "RANGES", "colour_range", "label_colours", "lighter", "range_note"]

#: the percentiles of :func:`colour_range`
PERCENTILES = (2.0, 98.0)
_SLACK = 0.1  # the data's min/max are kept when within this share of the range beyond it


def colour_range(values, *, symmetric: bool = False, from_zero: bool = False, percentiles=PERCENTILES):
    """A colour range for ``values`` that a few outliers do not set.

    Parameters
    ----------
    values : (N,) numbers; NaN and infinities are ignored
    symmetric : a range ``(-m, m)`` centred at 0 (for signed data with a diverging map)
    from_zero : a range ``(0, m)`` (for norms), ``m`` the robust top of the values
    percentiles : (low, high) percentiles; ``symmetric`` uses the high one of ``|values|``

    Returns
    -------
    low, high : floats with ``low < high``
    clipped : share of the finite values outside ``[low, high]``, in [0, 1]
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0), 0.0
    if symmetric or from_zero:
        size = np.abs(finite)
        top = float(np.percentile(size, percentiles[1]))
        top = float(size[size <= (1 + _SLACK) * top].max())
        top = top if top > 0 else 1.0
        low, high = (0.0 if from_zero else -top), top
    else:
        low, high = (float(p) for p in np.percentile(finite, percentiles))
        span = high - low
        # out to the most extreme values within 10% of the range beyond it: the data's own tails
        low = float(finite[finite >= low - _SLACK * span].min())
        high = float(finite[finite <= high + _SLACK * span].max())
        if not high > low:  # constant data
            pad = abs(low) * 1e-3 or 1.0
            low, high = low - pad, high + pad
    clipped = float(np.mean((finite < low) | (finite > high)))
    return (low, high), clipped


#: how :func:`colour_range` sets a range: plain, symmetric about 0, or from 0
RANGES = ("percentiles", "symmetric", "from zero")


def range_note(name: str, clipped: float, what: str = "vertices", kind: str = "percentiles") -> str:
    """A colour bar title: ``name``, and on a second line how the range of ``kind`` (one of
    :data:`RANGES`) was set and the share of ``what`` it clips, when it clips any."""
    if clipped <= 0:
        return name
    low, high = (f"{p:g}" for p in PERCENTILES)
    rule = {
        "percentiles": f"{low}-{high}th percentile",
        "symmetric": f"{high}th percentile of the magnitudes",
        "from zero": f"0 to the {high}th percentile",
    }[kind]
    return f"{name}\n({rule}: {100 * clipped:.1f}% of {what} beyond)"


def label_colours(count: int) -> np.ndarray:
    """``count`` distinct colours (count, 3) in [0, 1] for categories: tab10, then tab20, then hues."""
    from matplotlib import colormaps

    if count <= 10:
        return np.asarray(colormaps["tab10"].colors)[:count]
    if count <= 20:
        table = np.asarray(colormaps["tab20"].colors)
        return np.concatenate([table[0::2], table[1::2]])[:count]
    return np.asarray(colormaps["hsv"](np.arange(count) / count))[:, :3]


def lighter(cmap, amount: float = 0.35):
    """The colour map ``cmap`` (a name) blended towards white by ``amount``: a background for glyphs."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    base = colormaps[cmap] if isinstance(cmap, str) else cmap
    colours = base(np.linspace(0.0, 1.0, 256))[:, :3]
    return ListedColormap((1 - amount) * colours + amount, name=f"{base.name}_light")
