"""``gaugeconv shape``: generate a mesh (:mod:`gaugeconv.shapes`) and write it as a mesh or geometry file."""

from __future__ import annotations

import os
import re

import numpy as np

from .. import shapes
from ..fileformat import save as save_geometry
from ..mesh import SAVE_SUFFIXES, save_mesh
from ..preprocessing import preprocess
from .common import EXIT_USER_ERROR, error, one_line, say, tell

__all__ = ["SHAPE_SUFFIXES", "add_parser", "run", "shape_options"]

#: File types ``gaugeconv shape`` writes (``.npz``: the preprocessed Geometry).
SHAPE_SUFFIXES = SAVE_SUFFIXES + (".npz",)


def shape_options() -> dict:
    """Per shape: ``(help, [(flag, type, default, help), ...])``; defaults are the generator's."""
    return {
        "icosahedron": (
            "subdivided icosahedron (icosphere unless --flat): 10*4**level + 2 vertices",
            [("--level", int, 0, "subdivisions"), ("--radius", float, 1.0, "circumradius")],
        ),
        "mobius": (
            "Möbius strip (flat metric kept only in .npz output, see docs/cli.md)",
            [
                ("--length", float, 2 * np.pi, "length of the centre line"),
                ("--width", float, 1.0, "width across the strip"),
                ("--n-length", int, 48, "vertices along"),
                ("--n-width", int, 8, "vertices across"),
            ],
        ),
        "torus": (
            "torus of revolution (closed, chi = 0)",
            [
                ("--major-radius", float, 1.0, "distance of the tube centre from the axis"),
                ("--minor-radius", float, 0.35, "tube radius"),
                ("--n-major", int, 48, "vertices around the axis"),
                ("--n-minor", int, 16, "vertices around the tube"),
            ],
        ),
        "plane": (
            "flat rectangle in the xy plane",
            [
                ("--width", float, 1.0, "extent in x"),
                ("--height", float, 1.0, "extent in y"),
                ("--nx", int, 16, "vertices along x"),
                ("--ny", int, 16, "vertices along y"),
            ],
        ),
        "disc": ("flat disc of concentric rings", [("--radius", float, 1.0, "radius"), ("--n-rings", int, 8, "rings")]),
        "cylinder": (
            "open cylinder (two boundary loops, intrinsically flat)",
            [
                ("--radius", float, 1.0, "radius"),
                ("--height", float, 2.0, "height"),
                ("--n-around", int, 32, "vertices around"),
                ("--n-height", int, 12, "vertices along the axis"),
            ],
        ),
    }


def add_parser(sub) -> None:
    """Register ``gaugeconv shape NAME``."""
    p = sub.add_parser(
        "shape",
        help="generate a mesh (icosahedron, mobius, torus, plane, disc, cylinder)",
        description="Generate a mesh and write it as obj/ply/off/stl/glb, or as a preprocessed geometry (.npz).",
    )
    kinds = p.add_subparsers(dest="shape", metavar="NAME", required=True)
    for name, (text, options) in shape_options().items():
        q = kinds.add_parser(name, help=text, description=text)
        for flag, kind, default, what in options:
            q.add_argument(flag, type=kind, default=default, help=f"{what} (default {default:.6g})")
        if name == "icosahedron":
            q.add_argument("--flat", action="store_true", help="keep the subdivided icosahedron flat (no projection)")
        if name == "mobius":
            q.add_argument(
                "--embedded", action="store_true", help="use the 3D embedding's metric instead of the flat one"
            )
        q.add_argument(
            "-o", "--output", required=True, metavar="OUT", help=f"output file ({', '.join(SHAPE_SUFFIXES)})"
        )
        q.set_defaults(run=run, options=[flag for flag, *_ in options])


def run(args) -> int:
    """Run ``gaugeconv shape`` for parsed arguments; returns the exit status."""
    out = args.output
    suffix = os.path.splitext(out)[1].lower()
    if suffix not in SHAPE_SUFFIXES:
        error(f"{out}: unsupported output type {suffix or '(none)'}; use one of {', '.join(SHAPE_SUFFIXES)}")
        return EXIT_USER_ERROR
    kwargs = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_")) for flag in args.options}
    if args.shape == "icosahedron":
        kwargs["sphere"] = not args.flat
    if args.shape == "mobius":
        kwargs["flat"] = not args.embedded
    try:
        mesh = shapes.SHAPES[args.shape](**kwargs)
    except ValueError as exc:
        # the generator names its Python arguments: say the flags instead
        message = one_line(exc, args.shape)
        for flag in args.options:
            message = re.sub(rf"\b{flag[2:].replace('-', '_')}\b", flag, message)
        error(message)
        return EXIT_USER_ERROR
    if suffix == ".npz":
        geometry = preprocess(mesh)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        save_geometry(geometry, out)
        what = f"{geometry.n_edges} directed edges, {geometry.structure_group}"
    else:
        if mesh.lengths is not None:
            tell(
                f"gaugeconv: note: {suffix} stores only vertex positions: the file has the embedded "
                "(curved) metric, not the flat one; write .npz to keep it"
            )
        save_mesh(mesh, out)
        what = f"{mesh.n_components} component{'s' * (mesh.n_components != 1)}"
    say(f"{mesh.name}: {mesh.n_vertices} vertices, {mesh.n_faces} faces, {what} -> {out}")
    return 0
