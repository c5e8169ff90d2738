"""``gaugeconv render``: draw features, frames, curvature, transport or flips of a mesh (PNG).

The pictures are :mod:`gaugeconv.viz`'s; this module reads the files and the options. pyvista is
imported only when drawing, so ``gaugeconv --help`` works without it.
"""

from __future__ import annotations

import os

import numpy as np

from ..fileformat import load as load_geometry
from ..groups import FieldType
from ..mesh import load_mesh
from ..preprocessing import ORIENTATIONS, preprocess
from ..preprocessing.transport import loop_through, transport_path
from .common import EXIT_USER_ERROR, error, one_line, same_file, say

__all__ = ["GEOMETRY_FIELDS", "add_parser", "run"]

#: Geometry arrays ``--field`` can draw without ``--features``.
GEOMETRY_FIELDS = ("angle_defect", "vertex_area", "degree", "boundary")


def add_parser(sub) -> None:
    """Register ``gaugeconv render``."""
    parser = sub.add_parser("render", help="draw features, frames, curvature, transport or flips of a mesh (PNG)")
    parser.add_argument("file", help="a mesh file (obj, ply, off, stl, glb, gltf) or a saved Geometry (.npz)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--field",
        metavar="NAME[,NAME...]",
        help=f"draw the array NAME of --features, or a Geometry array ({', '.join(GEOMETRY_FIELDS)}); "
        "several names: one panel each, side by side",
    )
    what.add_argument("--frames", action="store_true", help="draw the gauges: e1 red, e2 blue")
    what.add_argument("--curvature", action="store_true", help="colour by Gaussian curvature (angle defect / area)")
    what.add_argument("--transport", metavar="VERTEX", type=int, help="transport a vector from VERTEX over the surface")
    what.add_argument("--structure", action="store_true", help="frames and flipped edges (the default view)")
    parser.add_argument("--features", metavar="FILE.npz", help="named arrays (V,) or (V, C), e.g. a model's outputs")
    parser.add_argument("--type", dest="field_type", metavar="SPEC", help='field type of a (V, C) array: "1x0 + 1x1"')
    parser.add_argument("--group", help="group of --type: SO2, O2, C<N>, D<N> (default: the geometry's)")
    parser.add_argument("--index", type=int, help="with --type: draw this field (spec order)")
    parser.add_argument("--names", metavar="A,B,...", help="class names of integer arrays (drawn as categories)")
    parser.add_argument("--clim", nargs=2, type=float, metavar=("LOW", "HIGH"), help="colour range (default: robust)")
    parser.add_argument("--loop", metavar="V1,V2,...", help="with --transport: go around VERTEX -> V1 -> ... -> VERTEX")
    parser.add_argument(
        "--view", nargs=3, type=float, metavar=("X", "Y", "Z"), help="direction from the mesh towards the camera"
    )
    parser.add_argument(
        "--up", metavar="AXIS", help="the mesh's up axis: x, y, z, -x, -y or -z (default: detected from its shape)"
    )
    parser.add_argument("--views", type=int, default=1, help="views round the up axis, side by side (default 1)")
    parser.add_argument("--zoom", type=float, default=1.0, help="zoom after fitting the mesh (default 1)")
    parser.add_argument("--size", metavar="WxH", help="picture size in pixels (default 800x600, or 520x440 per panel)")
    parser.add_argument("--repair", action="store_true", help="repair the mesh (see gaugeconv preprocess)")
    parser.add_argument(
        "--orientation", choices=ORIENTATIONS, default="file", help="for a mesh file: see gaugeconv preprocess"
    )
    parser.add_argument("-o", "--output", metavar="OUT.png", help="write a PNG (no window)")
    parser.set_defaults(run=run)


def _numbers(text, kind, name, count=None):
    try:
        values = [kind(t) for t in text.replace("x", ",").split(",")]
    except ValueError:
        raise ValueError(f"{name} must be numbers separated by commas, got {text!r}") from None
    if count is not None and len(values) != count:
        raise ValueError(f"{name} needs {count} numbers, got {text!r}")
    return values


def _arrays(args, g):
    """The arrays to draw, [(name, (V,) or (V, C) array)], from --features/--field."""
    names = None if args.field is None else [n.strip() for n in args.field.split(",")]
    if names is not None and (not all(names) or len(set(names)) != len(names)):
        raise ValueError(f"--field must be distinct names separated by commas, got {args.field!r}")
    if args.features is None:
        for name in names:
            if name not in GEOMETRY_FIELDS:
                raise ValueError(f"no array {name!r}: pass --features FILE.npz or one of {', '.join(GEOMETRY_FIELDS)}")
        return [(name, getattr(g, name)) for name in names]
    arrays = []
    try:
        with open(args.features, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            stored = list(data.files)
            if names is None:
                if len(stored) != 1:
                    raise ValueError(f"{args.features} holds arrays {', '.join(stored)}: choose one with --field")
                names = stored
            for name in names:
                if name in stored:
                    arrays.append((name, data[name]))
                elif name in GEOMETRY_FIELDS:
                    arrays.append((name, getattr(g, name)))
                else:
                    raise ValueError(
                        f"{args.features} has no array {name!r}; it holds {', '.join(stored) or 'nothing'}"
                    )
    except ValueError as exc:
        if str(exc).startswith(args.features):
            raise
        raise ValueError(f"{args.features}: cannot read as .npz ({one_line(exc)})") from None
    except Exception as exc:  # a corrupt archive fails inside zipfile or numpy in many ways
        raise ValueError(f"{args.features}: cannot read as .npz ({type(exc).__name__}: {one_line(exc)})") from None
    for name, values in arrays:
        if values.dtype.kind not in "biuf":
            raise ValueError(f"{args.features}: array {name!r} has dtype {values.dtype}; features must be real numbers")
    return arrays


def _panel(args, g, name, values, field_type):
    """One array as a deferred plot: (function, positional args, keyword args, description).

    A (V, C) array with C > 1 is drawn by its ``field_type``; an integer array of --features as
    labels; any other (V,) or (F,) array as a scalar."""
    from .. import viz

    if np.ndim(values) == 2 and np.shape(values)[1] > 1:
        if field_type is None:
            raise ValueError(f"{name} has shape {np.shape(values)}: pass --type SPEC (e.g. '1x0 + 1x1') for its fields")
        kwargs = {"field": args.index, "name": name, "clim": args.clim}
        return viz.plot_field, (g, values, field_type), kwargs, f"{name} ({field_type})"
    if values.dtype.kind in "iu" and args.features is not None:
        names = None if args.names is None else [n.strip() for n in args.names.split(",")]
        return viz.plot_labels, (g, values, names), {"title": name}, f"{name} (labels)"
    return viz.plot_scalar, (g, values, name), {"clim": args.clim}, name


def _draw(args, g, common):
    """Draw what the options ask for; returns the plotter, a few words saying what it shows and
    the number of panels (not counting --views)."""
    from functools import partial

    from .. import viz

    if args.curvature:
        return viz.plot_curvature(g, clim=args.clim, **common), "curvature", 1
    if args.frames:
        return viz.plot_frames(g, **common), "frames", 1
    if args.transport is not None:
        if args.loop is None:
            return viz.plot_transport(g, args.transport, **common), f"transport from {args.transport}", 1
        loop = _numbers(args.loop, int, "--loop")
        plotter = viz.plot_transport(g, args.transport, loop=loop, **common)
        path = loop_through(g.edge_index, g.log_r, [args.transport, *loop])
        _, (angle, flip) = transport_path(g.edge_index, g.transport_angle, g.transport_flip, path, (1.0, 0.0))
        kind = "reflection" if flip else "rotation"
        what = f"transport around a loop of {len(path) - 1} edges, holonomy {kind} {np.degrees(angle):.1f} deg"
        return plotter, what, 1
    if args.field is None and args.features is None:
        return viz.plot_structure(g, **common), "structure", 1
    field_type = None if args.field_type is None else FieldType(args.field_type, group=args.group or g.structure_group)
    panels = [_panel(args, g, name, values, field_type) for name, values in _arrays(args, g)]
    if len(panels) == 1:
        function, positional, kwargs, what = panels[0]
        kwargs.pop("title", None)
        return function(*positional, **kwargs, **common), what, 1
    if common["views"] != 1:
        raise ValueError("--views draws one array; with several --field names each is one panel")
    shared = {"view": common["view"], "up": common["up"], "zoom": common["zoom"]}
    drawings = [partial(function, *positional, **kwargs, **shared) for function, positional, kwargs, _ in panels]
    for drawing, (_, _, kwargs, what) in zip(drawings, panels):
        if "title" not in kwargs:
            drawing.keywords["title"] = what
    plotter = viz.plot_panels(drawings, window_size=common["window_size"], screenshot=common["screenshot"])
    return plotter, ", ".join(what for *_, what in panels), len(panels)


def run(args) -> int:
    """Run ``gaugeconv render`` for parsed arguments.

    Returns the exit status: 0, or 2 after one line on stderr for bad input (no file written).
    """
    from ..mesh import MeshError
    from ..viz import has_display
    from ..viz._render import picture_size

    try:
        if args.loop is not None and args.transport is None:
            raise ValueError("--loop needs --transport VERTEX")
        if (args.field_type or args.group or args.index is not None) and args.field is None and not args.features:
            raise ValueError("--type/--group/--index need --features (and --field)")
        if args.names is not None and args.features is None:
            raise ValueError("--names needs --features with an integer array of labels")
        size = None if args.size is None else tuple(_numbers(args.size, int, "--size", 2))
        if args.output is None and not has_display():
            raise ValueError("no display to open a window: pass -o OUT.png to write a picture")
        if args.output is not None:
            directory = os.path.dirname(os.path.abspath(args.output))
            if not args.output.lower().endswith(".png"):
                raise ValueError(f"-o must name a .png file, got {args.output!r}")
            if not os.path.isdir(directory):
                raise ValueError(f"-o: directory {directory} does not exist")
            for source in filter(None, (args.file, args.features)):
                if same_file(args.output, source):
                    raise ValueError(f"-o {args.output} is the input {source}; choose another output")
        if args.file.lower().endswith(".npz"):
            g = load_geometry(args.file)
        else:
            g = preprocess(load_mesh(args.file, repair=args.repair), orientation=args.orientation)
        common = {
            "window_size": size,
            "screenshot": args.output,
            "view": args.view,
            "up": args.up,
            "views": args.views,
            "zoom": args.zoom,
        }
        plotter, what, count = _draw(args, g, common)
    except (ValueError, MeshError, OSError, ImportError) as exc:
        error(one_line(exc))
        return EXIT_USER_ERROR
    if args.output is None:
        plotter.show()
    else:
        width, height = picture_size(count * args.views, size)
        say(f"{args.output}: {what} of {g.name} ({g.n_vertices} vertices), {width}x{height}")
    return 0
