"""Scale: preprocessing works on coordinates brought to unit size by a power of two.

Multiplying by a power of two is exact in floating point, and every formula of the
preprocessing is homogeneous: lengths scale by the factor, areas by its square, angles, frames
and transporters not at all. So the buffers of a mesh are computed on a copy whose largest
coordinate (and largest intrinsic side length) lies in [0.5, 1), where no square, product or
Heron term can overflow or underflow, and the lengths and areas are scaled back at the end.
For a mesh scaled by a power of two the results are then identical bit for bit, and for any
other factor they differ only by the rounding of the scaled coordinates themselves.

What cannot be scaled back is a mesh whose areas do not fit float64 (sides beyond about 1e154
or below about 1e-154): :func:`restore_scale` refuses it with one line.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..mesh import Mesh, MeshError

__all__ = ["check_representable", "restore_scale", "scale_exponent", "to_unit_scale", "with_scale"]

#: Buffers that are lengths (scale by the factor) and areas (scale by its square).
LENGTHS = ("log_r",)
AREAS = ("vertex_area",)


def scale_exponent(values) -> int:
    """The power of two ``e`` with ``max |values| * 2**-e`` in [0.5, 1) (0 when all are zero)."""
    values = np.asarray(values)
    largest = float(np.max(np.abs(values))) if values.size else 0.0
    return int(np.frexp(largest)[1]) if largest > 0 and np.isfinite(largest) else 0


def to_unit_scale(mesh: Mesh) -> tuple[Mesh, int, int]:
    """``(unit_mesh, vertex_exponent, length_exponent)``: ``mesh`` with its vertices divided by
    ``2**vertex_exponent`` and its intrinsic lengths (if any) by ``2**length_exponent``; the
    length exponent is the vertex exponent when the metric is the embedding's."""
    vertex_exponent = scale_exponent(mesh.vertices)
    vertices = np.ldexp(mesh.vertices, -vertex_exponent)
    if mesh.lengths is None:
        return replace(mesh, vertices=vertices), vertex_exponent, vertex_exponent
    length_exponent = scale_exponent(mesh.lengths)
    return (
        replace(mesh, vertices=vertices, lengths=np.ldexp(mesh.lengths, -length_exponent)),
        vertex_exponent,
        (length_exponent),
    )


def with_scale(buffers: dict, vertex_exponent: int, length_exponent: int) -> dict:
    """A copy of a buffer dict (a level or a pooling map) with its positions multiplied by
    ``2**vertex_exponent``, its lengths by ``2**length_exponent`` and its areas by the square."""
    out = dict(buffers)
    with np.errstate(over="ignore", under="ignore"):  # judged by check_representable
        _scale_in_place(out, vertex_exponent, length_exponent)
    return out


def _scale_in_place(out: dict, vertex_exponent: int, length_exponent: int) -> None:
    if "vertices" in out:
        out["vertices"] = np.ldexp(out["vertices"], vertex_exponent)
    for name in LENGTHS:
        if name in out:
            out[name] = np.ldexp(out[name], length_exponent)
    for name in AREAS:
        if name in out:
            out[name] = np.ldexp(out[name], 2 * length_exponent)
    if "radius" in out:  # a neighbourhood radius in mesh units (a scalar)
        out["radius"] = float(np.ldexp(out["radius"], length_exponent))


def restore_scale(buffers: dict, source: Mesh, length_exponent: int) -> dict:
    """The buffers computed on the unit-scale copy of ``source``, at the scale of ``source``:
    its own vertices (exactly), lengths and areas scaled back in place (the dict and its arrays
    are the caller's fresh results; no copies, so the peak memory of preprocessing is unchanged).

    Raises
    ------
    MeshError
        if the scaled-back lengths or areas do not fit float64 (overflow to inf, or underflow
        below the smallest normal number), saying to rescale the coordinates.
    """
    with np.errstate(over="ignore", under="ignore"):  # judged by check_representable
        for name, exponent in [(n, length_exponent) for n in LENGTHS] + [(n, 2 * length_exponent) for n in AREAS]:
            np.ldexp(buffers[name], exponent, out=buffers[name])
    buffers["vertices"] = np.asarray(source.vertices, dtype=np.float64)
    check_representable(buffers, source.name)
    return buffers


def check_representable(buffers: dict, name: str) -> None:
    """Raise MeshError if a length or area of ``buffers`` overflowed to inf or underflowed below
    the smallest normal float64 when scaled back (two reductions per array, no temporaries)."""
    tiny = np.finfo(np.float64).tiny
    for key in LENGTHS + AREAS:
        values = buffers.get(key)
        if values is None or values.size == 0:
            continue
        low, high = np.min(values), np.max(values)  # NaN propagates into both
        if high < np.inf and low >= tiny:
            continue
        # a length may be 0 (a pooling map's distance of a vertex to itself), an area may not
        if key in LENGTHS and high < np.inf and low == 0 and not np.any((values > 0) & (values < tiny)):
            continue
        with np.errstate(all="ignore"):
            lengths = np.abs(buffers["log_r"][buffers["log_r"] != 0])
            low, high = np.log10(np.min(lengths)), np.log10(np.max(lengths))
        raise MeshError(
            f"{name}: edge lengths from 1e{low:.0f} to 1e{high:.0f} give {key} values outside what float64 can "
            f"hold; scale the coordinates so that edges lie within [1e-150, 1e150]"
        )
