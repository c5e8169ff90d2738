"""Pictures of data on a surface: scalars, fields of a FieldType, labels, colours."""

from __future__ import annotations

import numpy as np

from ..groups import FieldType
from ._render import (
    Scene,
    add_bar,
    add_surface,
    array,
    check_clim,
    numpy_geometry,
    options,
    panel_size,
    pyvista,
    render,
)
from .colour import colour_range, label_colours, lighter, range_note
from .glyphs import add_tangent_glyphs, field_parts

__all__ = ["corner_regions", "plot_colors", "plot_field", "plot_labels", "plot_scalar"]


def _scalar_values(g, values, name="values"):
    values = array(values, name)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or len(values) not in (g.n_vertices, g.n_faces):
        raise ValueError(
            f"{name} must have shape (V,) = ({g.n_vertices},) or (F,) = ({g.n_faces},), got {values.shape}"
        )
    return values


def two_sided(values) -> bool:
    """Whether values are drawn with a diverging colour map centred at 0: their robust range
    (:func:`~gaugeconv.viz.colour_range`) reaches below and above 0, the shorter side at least a
    third of the longer. Mostly positive (or negative) data gets a sequential map instead."""
    (low, high), _ = colour_range(values)
    return low < 0 < high and 3 * min(-low, high) >= max(-low, high)


def _coloured_scene(g, values, label, cmap, clim, kind, title=None, show_edges=False):
    """A scene of the surface coloured by ``values`` with a colour bar; the range from
    :func:`~gaugeconv.viz.colour_range` unless ``clim`` is given."""
    what = "vertices" if len(values) == g.n_vertices else "faces"
    if clim is None:
        clim, clipped = colour_range(values, symmetric=kind == "symmetric", from_zero=kind == "from zero")
        label = range_note(label, clipped, what, kind)
    else:
        clim = check_clim(clim)
    pv = pyvista()

    def draw(plotter, legend, direction):
        actor = add_surface(
            plotter, pv, g.vertices, g.faces, values, cmap=cmap, clim=clim, show_edges=show_edges,
            show_scalar_bar=False, nan_color="#bdbdbd",
        )  # fmt: skip
        return add_bar(plotter, actor, label) if legend else {}

    return Scene(draw, g.vertices, g.vertex_area, title)


def plot_scalar(geometry, values, name: str = "value", *, cmap=None, clim=None, show_edges: bool = False, **opts):
    """Colour the surface by one value per vertex (V,) or per face (F,).

    Parameters
    ----------
    geometry : Geometry
    values : (V,), (V, 1) or (F,), numpy or torch
    name : colour bar title
    cmap : colour map name; default ``viridis``, or ``RdBu_r`` centred at 0 for values of both
        signs (the shorter side of their range at least a third of the longer)
    clim : (low, high); default :func:`~gaugeconv.viz.colour_range` (robust percentiles; the bar
        title states the share of values clipped)
    show_edges : draw the mesh's edges
    **opts : drawing options (:class:`~gaugeconv.viz.Options`): window_size, screenshot,
        off_screen, view, up, views, zoom, title, plotter

    Returns
    -------
    pyvista.Plotter
    """
    o = options(opts)
    g = numpy_geometry(geometry)
    values = _scalar_values(g, values)
    signed = two_sided(values) and clim is None and cmap is None
    cmap = cmap or ("RdBu_r" if signed else "viridis")
    kind = "symmetric" if signed else "percentiles"
    return render(_coloured_scene(g, values, name, cmap, clim, kind, show_edges=show_edges), o)


def _field_type(field_type, g) -> FieldType:
    """A FieldType, or a spec string read in the geometry's structure group."""
    if isinstance(field_type, str):
        return FieldType(field_type, group=g.structure_group)
    if not isinstance(field_type, FieldType):
        raise ValueError(f"field_type must be a FieldType or a spec string, got {type(field_type).__name__}")
    return field_type


def plot_field(
    geometry,
    features,
    field_type,
    field=None,
    name: str = "feature",
    *,
    cmap=None,
    clim=None,
    max_glyphs: int = 300,
    glyph_scale: float = 1.0,
    **opts,
):
    """Draw features laid out by a field type: scalars as colour, order-k fields as glyphs.

    An order-k field ``(c, s)`` at p is drawn as k arrows at the gauge angles
    ``(psi + 2 pi j) / k`` with ``psi = atan2(s, c)`` (one arrow, centred on p, for k = 1), at
    evenly spread vertices, their length following the norm (see :mod:`gaugeconv.viz.glyphs`:
    scaled to the local glyph spacing and to the norms' 90th percentile); the surface is
    coloured by the norm, in a light colour map under the black glyphs. A C_N or D_N regular
    field is coloured by its mean and drawn as one arrow: its order-1 Fourier coefficient over
    the directions ``i 2 pi / N`` of its channels.

    Parameters
    ----------
    features : (V, C), numpy or torch, ``C == field_type.dim``
    field_type : FieldType or spec string (group taken from the geometry)
    field : index of the field to draw (in spec order, multiplicities expanded); default the
        first non-scalar field, coloured by the first scalar field if there is one
    name : colour bar title, shown as ``name[i]`` for field i (``norm of name[i]``, from 0, for a norm)
    cmap, clim : see :func:`plot_scalar`
    max_glyphs : glyphs at about this many evenly spread vertices at most
    glyph_scale : arrow length relative to the default
    **opts : drawing options, see :func:`plot_scalar`
    """
    o = options(opts)
    g = numpy_geometry(geometry)
    x = array(features, "features")
    field_type = _field_type(field_type, g)
    layout = list(field_type)  # (kind, start, width) per field; FieldType is the one source of the layout
    if x.shape != (g.n_vertices, field_type.dim):
        raise ValueError(
            f"features must have shape (V, C) = ({g.n_vertices}, {field_type.dim}) for {field_type}, got {x.shape}"
        )
    if field is not None and not (isinstance(field, (int, np.integer)) and 0 <= field < len(layout)):
        raise ValueError(f"field must be an index in [0, {len(layout)}), got {field!r}")
    if not (np.isfinite(glyph_scale) and glyph_scale > 0):
        raise ValueError(f"glyph_scale must be a finite number > 0, got {glyph_scale!r}")
    scalars = [i for i, f in enumerate(layout) if f[0] in ("0", "0-")]
    others = [i for i, f in enumerate(layout) if f[0] not in ("0", "0-")]
    chosen = field if field is not None else (others or scalars)[0]
    kind, start, width = layout[chosen]
    colour, glyphs = field_parts(x[:, start : start + width], kind, field_type)
    label = f"{name}[{chosen}]"
    if field is None and glyphs and scalars:
        colour, label = x[:, layout[scalars[0]][1]], f"{name}[{scalars[0]}]"
    elif glyphs and kind != "reg":
        label = f"norm of {name}[{chosen}]"
    norm = label.startswith("norm of ")
    signed = kind == "0-" or (not norm and two_sided(colour))
    cmap = cmap or ("RdBu_r" if signed else ("YlOrRd" if glyphs else "viridis"))
    if glyphs:
        cmap = lighter(cmap)
    scene = _coloured_scene(
        g, colour, label, cmap, clim, "symmetric" if signed else ("from zero" if norm else "percentiles")
    )
    if glyphs:
        pv, draw_surface = pyvista(), scene.draw

        def draw(plotter, legend, direction):
            margins = draw_surface(plotter, legend, direction)
            add_tangent_glyphs(plotter, pv, g, glyphs, max_glyphs, glyph_scale, direction)
            return margins

        scene.draw = draw
    return render(scene, o)


def corner_regions(vertices, faces):
    """Each triangle cut into its three corners' regions (corner, edge midpoints, centroid), two
    triangles each: per-vertex categories drawn without blending.

    Returns
    -------
    points : (V + E + F, 3) the vertices, then edge midpoints, then face centroids
    regions : (6 F, 3) triangles
    owner : (6 F,) the vertex whose region each triangle is in
    """
    faces = np.asarray(faces)
    n_v, n_f = len(vertices), len(faces)
    sides = np.sort(np.stack([faces, np.roll(faces, -1, axis=1)], -1).reshape(-1, 2), axis=1)  # (3F, 2)
    edges, side_edge = np.unique(sides, axis=0, return_inverse=True)
    side_edge = side_edge.reshape(n_f, 3)  # side j of face f joins corners j and j + 1
    points = np.concatenate([vertices, vertices[edges].mean(1), vertices[faces].mean(1)])
    centre = n_v + len(edges) + np.arange(n_f)
    regions, owner = [], []
    for j in range(3):
        corner, after, before = faces[:, j], n_v + side_edge[:, j], n_v + side_edge[:, (j - 1) % 3]
        regions += [np.stack([corner, after, centre], 1), np.stack([corner, centre, before], 1)]
        owner += [corner, corner]
    return points, np.concatenate(regions), np.concatenate(owner)


def plot_labels(geometry, labels, names=None, *, legend: bool = True, **opts):
    """Colour the surface by a category per vertex (V,) or per face (F,), with a legend.

    Parameters
    ----------
    geometry : Geometry
    labels : (V,) or (F,) whole numbers in ``[0, n_classes)``, numpy or torch
    names : class names (a sequence of n_classes strings); default ``0, 1, ...`` up to the
        largest label. The colours depend only on the label and the number of classes, so
        panels of predictions and ground truth with the same ``names`` match.
    legend : draw the legend of names and colours (at the right)
    **opts : drawing options, see :func:`plot_scalar`
    """
    o = options(opts)
    g = numpy_geometry(geometry)
    values = _scalar_values(g, labels, "labels")
    if not (np.all(np.isfinite(values)) and np.all(values == np.round(values)) and values.min() >= 0):
        raise ValueError("labels must be whole numbers >= 0")
    count = int(values.max()) + 1 if names is None else len(names)
    if values.max() >= count:
        raise ValueError(f"labels must be below the number of names ({count}), got {int(values.max())}")
    names = [str(i) for i in range(count)] if names is None else [str(n) for n in names]
    colours = label_colours(count)
    if len(values) == g.n_vertices:  # each vertex's label fills the part of each triangle nearest to it
        points, faces, owner = corner_regions(g.vertices, g.faces)
        values = values[owner]
    else:
        points, faces = g.vertices, g.faces
    pv = pyvista()

    def draw(plotter, first, direction):
        from matplotlib.colors import ListedColormap

        add_surface(
            plotter, pv, points, faces, values, cmap=ListedColormap(colours), clim=(-0.5, count - 0.5),
            show_scalar_bar=False,
        )  # fmt: skip
        if not (legend and first):
            return {}
        width, height = panel_size(plotter)
        rows = [[n, tuple(c)] for n, c in zip(names, colours)]
        size = (min(0.34, 7.0 * max(map(len, names)) / width + 0.06), min(0.9, (len(rows) + 0.5) * 17.0 / height))
        plotter.add_legend(
            rows, bcolor="white", border=False, loc="center right", size=size, face="rectangle",
            font_family="arial", background_opacity=0.0,
        )  # fmt: skip
        return {"right": size[0] + 0.08}  # pyvista puts it 0.05 from the edge

    return render(Scene(draw, g.vertices, g.vertex_area), o)


def plot_colors(geometry, colors, name=None, **opts):
    """Colour the surface by an RGB colour per vertex (V, 3) or per face (F, 3), components in [0, 1].

    For example a correspondence: colour each vertex by the (normalised) position of the template
    vertex it is matched to, so that a right match repeats the template's colours.

    Parameters
    ----------
    geometry : Geometry
    colors : (V, 3) or (F, 3), numpy or torch, in [0, 1]
    name : a caption under the mesh (there is no colour bar), or None
    **opts : drawing options, see :func:`plot_scalar`
    """
    o = options(opts)
    g = numpy_geometry(geometry)
    colors = array(colors, "colors")
    if colors.ndim != 2 or colors.shape[1] != 3 or len(colors) not in (g.n_vertices, g.n_faces):
        raise ValueError(f"colors must have shape (V, 3) = ({g.n_vertices}, 3) or (F, 3), got {colors.shape}")
    if not (np.all(np.isfinite(colors)) and colors.min() >= 0 and colors.max() <= 1):
        raise ValueError("colors must be finite RGB components in [0, 1]")
    rgb = np.round(255 * colors).astype(np.uint8)
    pv = pyvista()

    def draw(plotter, legend, direction):
        add_surface(plotter, pv, g.vertices, g.faces, rgb, rgb=True, show_scalar_bar=False)
        if name and legend:
            height = panel_size(plotter)[1]
            plotter.add_text(name, position="lower_edge", font_size=int(np.clip(round(height / 42), 7, 14)))
            return {"bottom": 0.1}
        return {}

    return render(Scene(draw, g.vertices, g.vertex_area), o)
