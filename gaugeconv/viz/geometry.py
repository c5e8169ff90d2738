"""Pictures of the geometry itself: gauges, parallel transport and holonomy, curvature, seams."""

from __future__ import annotations

import numpy as np

from ..preprocessing.transport import loop_through, shortest_paths, transport_path, transport_tree
from ._render import Scene, add_bar, add_surface, check_clim, numpy_geometry, options, pyvista, render
from .colour import colour_range, range_note
from .glyphs import add_arrows, facing, glyph_points, glyph_room, tangent_to_3d

__all__ = ["plot_curvature", "plot_frames", "plot_structure", "plot_transport"]

E1, E2, NORMAL, SEAM, PATH = "#d62728", "#1f77b4", "#7f7f7f", "#ff7f0e", "#ff7f0e"


def _check_glyphs(max_glyphs, glyph_scale):
    if not (isinstance(max_glyphs, (int, np.integer)) and max_glyphs >= 1):
        raise ValueError(f"max_glyphs must be a whole number >= 1, got {max_glyphs!r}")
    if not (np.isfinite(glyph_scale) and glyph_scale > 0):
        raise ValueError(f"glyph_scale must be a finite number > 0, got {glyph_scale!r}")


def _add_frames(plotter, pv, g, frames, max_glyphs, glyph_scale, camera, normals=False):
    """Arrows e1 (red), e2 (blue) and, if ``normals``, n (grey) of ``frames`` (V, 3, 3) at evenly
    spread vertices, each half the distance to the nearest other frame drawn, on the side of the
    surface that faces the ``camera`` direction (3,)."""
    index = glyph_points(g.vertices, max_glyphs)
    room = glyph_room(g.vertices[index])
    side, shown = facing(g.frames[index, 2], camera)
    points = g.vertices[index] + (0.06 * room * side)[:, None] * g.frames[index, 2]
    axes = ((0, E1), (1, E2)) + (((2, NORMAL),) if normals else ())
    for axis, colour in axes:
        add_arrows(plotter, pv, points[shown], frames[index, axis][shown], 0.5 * glyph_scale * room[shown], colour)


def plot_frames(geometry, *, normals: bool = False, max_glyphs: int = 300, glyph_scale: float = 1.0, **opts):
    """Draw the gauges: e1 (red) and e2 (blue) at evenly spread vertices, n (grey) if ``normals``.

    Parameters
    ----------
    geometry : Geometry
    normals : also draw the normals
    max_glyphs, glyph_scale : see :func:`~gaugeconv.viz.plot_field`
    **opts : drawing options, see :func:`~gaugeconv.viz.plot_scalar`
    """
    o = options(opts)
    _check_glyphs(max_glyphs, glyph_scale)
    g = numpy_geometry(geometry)
    pv = pyvista()

    def draw(plotter, legend, direction):
        add_surface(plotter, pv, g.vertices, g.faces)
        _add_frames(plotter, pv, g, g.frames, max_glyphs, glyph_scale, direction, normals)

    return render(Scene(draw, g.vertices, g.vertex_area), o)


def plot_transport(
    geometry, source: int, vector=(1.0, 0.0), loop=None, *, max_glyphs: int = 300, glyph_scale: float = 1.0, **opts
):
    """Transport a tangent vector from ``source`` over the surface and draw it.

    Without ``loop``: along a shortest-path tree to every vertex
    (:func:`~gaugeconv.preprocessing.transport.transport_tree`); where branches meet, the arrows
    disagree by the holonomy in between. With ``loop`` (a list of waypoint vertices): around the
    closed path ``source -> loop... -> source`` (:func:`~gaugeconv.preprocessing.transport.loop_through`);
    the start vector is red, the returned one green, and the title states the holonomy.

    Parameters
    ----------
    geometry : Geometry
    source : vertex index
    vector : (2,) gauge coordinates at ``source``
    loop : sequence of vertex indices, or None
    max_glyphs, glyph_scale : see :func:`~gaugeconv.viz.plot_field`
    **opts : drawing options, see :func:`~gaugeconv.viz.plot_scalar`
    """
    o = options(opts)
    _check_glyphs(max_glyphs, glyph_scale)
    g = numpy_geometry(geometry)
    connection = (g.edge_index, g.transport_angle, g.transport_flip)
    if loop is None:
        coords = transport_tree(g.edge_index, g.log_r, g.transport_angle, g.transport_flip, source, vector)
        index = glyph_points(g.vertices, max_glyphs, start=int(source))
        index = index[np.isfinite(coords[index, 0]) & (index != source)]
        path, returned, text = None, None, f"transport from vertex {source}"
    else:
        path = loop_through(g.edge_index, g.log_r, [source] + [int(v) for v in loop])
        coords_path, (angle, flip) = transport_path(*connection, path, vector)
        coords = np.zeros((g.n_vertices, 2))
        coords[path[:-1]] = coords_path[:-1]
        index = np.unique(path[1:-1])
        returned = coords_path[-1]
        text = f"holonomy around the loop: {'reflection' if flip else 'rotation'} by {np.degrees(angle):.1f} deg"
    # transport is linear: draw the unit vector (the functions above have checked it is not zero)
    norm = np.linalg.norm(np.asarray(vector, np.float64))
    coords = coords / norm
    returned = None if returned is None else returned / norm
    room = glyph_room(g.vertices[np.r_[index, source]])
    length = 0.85 * glyph_scale * room[:-1]
    big = 1.5 * glyph_scale * (np.median(room) if len(room) else 1.0)
    pv = pyvista()

    def draw(plotter, legend, direction):
        side, shown = facing(g.frames[:, 2], direction)
        points = g.vertices + (0.06 * np.median(room) * side)[:, None] * g.frames[:, 2]
        add_surface(plotter, pv, g.vertices, g.faces)
        drawn = shown[index] if path is None else np.ones(len(index), bool)
        arrows = tangent_to_3d(g, coords)[index]
        add_arrows(plotter, pv, points[index][drawn], arrows[drawn], length[drawn], "#333333", centred=True)
        start = coords[source, 0] * g.frames[source, 0] + coords[source, 1] * g.frames[source, 1]
        add_arrows(plotter, pv, points[[source]], start[None], big, E1, width=0.8)
        if path is not None:
            line = pv.lines_from_points(points[path]).tube(radius=0.1 * float(np.median(room)))
            plotter.add_mesh(line, color=PATH)
            back = returned[0] * g.frames[source, 0] + returned[1] * g.frames[source, 1]
            add_arrows(plotter, pv, points[[source]], back[None], big, "#2ca02c", width=0.8)

    return render(Scene(draw, g.vertices, g.vertex_area, text), o)


def plot_curvature(geometry, *, cmap: str = "RdBu_r", clim=None, **opts):
    """Colour by the Gaussian curvature ``angle_defect / vertex_area`` (V,), centred at 0.

    Boundary vertices (whose defect is a boundary turning angle, not curvature) are grey. The
    colour range is symmetric: the 98th percentile of ``|K|`` (the whole range when the
    largest is within 10% of it), so that a few spikes do not make the rest one colour; the
    colour bar says what share of the vertices lies beyond it.

    Parameters
    ----------
    geometry : Geometry
    cmap : a diverging colour map
    clim : (low, high) instead of the robust range
    **opts : drawing options, see :func:`~gaugeconv.viz.plot_scalar`
    """
    o = options(opts)
    g = numpy_geometry(geometry)
    curvature = np.where(g.boundary, np.nan, g.angle_defect / np.maximum(g.vertex_area, 1e-300))
    label, clim = "Gaussian curvature", check_clim(clim)
    if clim is None:
        clim, clipped = colour_range(curvature, symmetric=True)
        label = range_note(label, clipped, kind="symmetric")
    pv = pyvista()

    def draw(plotter, legend, direction):
        actor = add_surface(
            plotter, pv, g.vertices, g.faces, curvature, cmap=cmap, clim=clim, nan_color="#bdbdbd",
            show_scalar_bar=False,
        )  # fmt: skip
        return add_bar(plotter, actor, label) if legend else {}

    return render(Scene(draw, g.vertices, g.vertex_area), o)


def plot_structure(geometry, source=None, *, max_glyphs: int = 250, glyph_scale: float = 1.0, **opts):
    """The G-structure: the edges whose transporter flips (the seam, orange), the boundary
    (black) and frames e1 (red), e2 (blue).

    The frames drawn are a smooth gauge: the frame of ``source`` parallel-transported along a
    shortest-path tree (:func:`~gaugeconv.preprocessing.transport.transport_tree`; the stored
    gauges where it does not reach). On a non-orientable mesh no gauge is smooth everywhere:
    where the tree's branches meet, e2 points opposite ways. The default source is the vertex
    farthest from the flipped edges, so that on a Möbius strip the branches meet at the seam.

    Parameters
    ----------
    geometry : Geometry
    source : vertex index or None
    max_glyphs, glyph_scale : see :func:`~gaugeconv.viz.plot_field`
    **opts : drawing options, see :func:`~gaugeconv.viz.plot_scalar`
    """
    o = options(opts)
    _check_glyphs(max_glyphs, glyph_scale)
    g = numpy_geometry(geometry)
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
    radius = 0.08 * float(np.mean(g.log_r)) if g.n_edges else 0.01
    pv = pyvista()

    def draw(plotter, legend, direction):
        add_surface(plotter, pv, g.vertices, g.faces)
        for edges, colour in ((seam, SEAM), (sides[count == 1], "black")):
            if len(edges):
                lines = np.hstack([np.full((len(edges), 1), 2), edges]).ravel()
                mesh = pv.PolyData(np.asarray(g.vertices, np.float64), lines=lines)
                plotter.add_mesh(mesh.tube(radius=radius), color=colour)
        _add_frames(plotter, pv, g, frames, max_glyphs, glyph_scale, direction)

    text = f"{g.name}: {'orientable' if g.orientable else 'non-orientable'}, {len(seam)} flipped edges"
    return render(Scene(draw, g.vertices, g.vertex_area, text), o)
