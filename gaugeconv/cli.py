"""The ``gaugeconv`` command line: preprocess meshes, inspect files, generate shapes.

A thin layer over the public API (:func:`gaugeconv.load_mesh`, :func:`gaugeconv.preprocess`,
:class:`gaugeconv.Geometry`, :mod:`gaugeconv.shapes`); see docs/cli.md. User errors (an invalid
mesh, an unreadable file, bad arguments) print one line on stderr and give exit status 2,
never a traceback.

Each subcommand is one ``_add_<name>(subparsers)`` function that defines its arguments and sets
``run=``; registering it is one entry in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import __version__, shapes
from .fileformat import FORMAT_NAME, FORMAT_VERSION, GeometryFileError, atomic_write, read_header
from .fileformat import load as load_geometry
from .fileformat import save as save_geometry
from .mesh import MESH_SUFFIXES, MeshError, load_mesh
from .preprocessing import preprocess

#: Exit status for any user error (bad input file, bad arguments), as argparse uses.
EXIT_USER_ERROR = 2
#: Errors that are the user's to fix: reported as one line, never as a traceback.
USER_ERRORS = (MeshError, GeometryFileError, OSError)
#: File types ``gaugeconv shape`` writes (``.npz``: the preprocessed Geometry).
SHAPE_SUFFIXES = (".obj", ".ply", ".off", ".stl", ".glb", ".npz")


def _one_line(exc: BaseException, path: str | None = None) -> str:
    """The exception's message on one line, starting with ``path`` (not just its base name)."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if path is None or message.startswith(path):
        return message
    name = os.path.basename(path)
    if message.startswith(name + ":"):
        return path + message[len(name) :]
    return f"{path}: {message}"


def _error(message: str) -> None:
    print(f"gaugeconv: error: {message}", file=sys.stderr)


def _warn_lines(caught, path: str | None = None) -> list:
    return [f"gaugeconv: warning: {_one_line(w.message, path)}" for w in caught]


# --------------------------------------------------------------------------- preprocess
def is_up_to_date(source, target, levels: int = 0) -> bool:
    """Whether ``target`` is a current preprocessing of ``source``, decided without reading the mesh.

    True exactly when ``target`` exists, was modified no earlier than ``source``, and its header
    says format ``gaugeconv.geometry`` version :data:`~gaugeconv.fileformat.FORMAT_VERSION` and
    names the source file (``name`` equals the source's base name) and holds ``levels`` coarse
    levels. The header's ``mesh_hash``
    is not recomputed (that would cost a full parse and validation): content changes that keep
    an older modification time (``cp -p``, ``rsync -a`` of an older file) need ``--force``.
    """
    source, target = os.fspath(source), os.fspath(target)
    try:
        if os.stat(target).st_mtime_ns < os.stat(source).st_mtime_ns:
            return False
    except OSError:
        return False
    header = read_header(target)
    return (
        header is not None
        and header.get("version") == FORMAT_VERSION
        and header.get("name") == os.path.basename(source)
        and bool(header.get("mesh_hash"))
        and len(header.get("levels", [])) == levels
    )


@dataclass(frozen=True)
class Outcome:
    """What happened to one input of ``gaugeconv preprocess``."""

    source: str
    target: str
    status: str  # "done", "skipped" or "failed"
    line: str  # the summary line (stdout) or the error line (stderr)
    warnings: tuple = ()


def preprocess_file(source: str, target: str, repair: bool = False, levels: int = 0) -> Outcome:
    """Load, validate, preprocess and save one mesh; user errors become a failed Outcome.

    The output is written atomically (:func:`gaugeconv.save_geometry`), so a failure leaves no file.
    Module level so that a process pool can run it.
    """
    import trimesh  # noqa: F401  (load_mesh imports it lazily: keep that one-off cost out of the per-mesh time)

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            geometry = preprocess(load_mesh(source, repair=repair), levels=levels)
            directory = os.path.dirname(target)
            if directory:
                os.makedirs(directory, exist_ok=True)
            save_geometry(geometry, target)
        except USER_ERRORS as exc:
            return Outcome(source, target, "failed", _one_line(exc, source), tuple(_warn_lines(caught, source)))
    seconds = time.perf_counter() - start
    line = (
        f"{source}: {geometry.n_vertices} vertices, {geometry.n_edges} directed edges, "
        f"{geometry.structure_group}, {seconds:.2f} s -> {target}"
    )
    if levels:
        coarse = ", ".join(str(level.n_vertices) for level in geometry.levels)
        line = line.replace(f", {seconds:.2f} s", f", levels {coarse}, {seconds:.2f} s")
    return Outcome(source, target, "done", line, tuple(_warn_lines(caught, source)))


def parse_shard(text: str) -> tuple:
    """``"K/N"`` with ``1 <= K <= N`` -> ``(K, N)``; an argparse type."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 1/4, got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"need 1 <= K <= N, got {text!r}")
    return k, n


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def plan_outputs(inputs: list, out: str) -> list:
    """Pair each input with its output path: ``out`` itself for a single input (unless ``out``
    is a folder), else ``out/<input stem>.npz``. Raises ValueError when two inputs collide."""
    as_folder = len(inputs) > 1 or os.path.isdir(out) or out.endswith(("/", os.sep))
    if not as_folder:
        return [(inputs[0], out)]
    pairs, seen = [], {}
    for source in inputs:
        target = os.path.join(out, os.path.splitext(os.path.basename(source))[0] + ".npz")
        if target in seen:
            raise ValueError(
                f"{seen[target]} and {source} would both be written to {target}; preprocess them separately"
            )
        seen[target] = source
        pairs.append((source, target))
    return pairs


def _add_preprocess(sub) -> None:
    p = sub.add_parser(
        "preprocess",
        help="mesh files -> geometry buffers (.npz)",
        description="Validate and preprocess meshes into gaugeconv geometry files (.npz, no pickle). "
        "Outputs that are up to date are skipped unless --force.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help=f"mesh files ({', '.join(MESH_SUFFIXES)})")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (one input) or folder (several)")
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N", help="processes to use (default 1)")
    p.add_argument(
        "--shard",
        type=parse_shard,
        metavar="K/N",
        help="process only inputs whose position i (0-based, in sorted order) has i %% N == K-1; K is 1-based",
    )
    p.add_argument("--force", action="store_true", help="recompute outputs that are up to date")
    p.add_argument(
        "--levels",
        type=_nonnegative_int,
        default=0,
        metavar="K",
        help="also compute K coarse levels with pooling maps (each ~4x fewer vertices; default 0)",
    )
    p.add_argument("--repair", action="store_true", help="drop degenerate/duplicate faces, split non-manifold vertices")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no per-mesh lines (errors still shown)")
    p.set_defaults(run=_run_preprocess)


def _run_preprocess(args) -> int:
    inputs = sorted(set(args.inputs))
    try:
        pairs = plan_outputs(inputs, args.output)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USER_ERROR
    if args.shard is not None:
        k, n = args.shard
        pairs = [pair for i, pair in enumerate(pairs) if i % n == k - 1]
    todo, outcomes = [], []
    for source, target in pairs:
        if not args.force and is_up_to_date(source, target, args.levels):
            outcomes.append(Outcome(source, target, "skipped", f"{source}: up to date, skipped -> {target}"))
        else:
            todo.append((source, target))

    from tqdm import tqdm

    bar = tqdm(total=len(pairs), unit="mesh", file=sys.stderr, disable=args.quiet or not sys.stderr.isatty())
    bar.update(len(outcomes))

    def report(outcome: Outcome) -> None:
        for line in outcome.warnings:
            bar.write(line, file=sys.stderr)
        if outcome.status == "failed":
            bar.write(f"gaugeconv: error: {outcome.line}", file=sys.stderr)
        elif not args.quiet:
            bar.write(outcome.line, file=sys.stdout)
        bar.update(1)

    for outcome in outcomes:
        if not args.quiet:
            bar.write(outcome.line, file=sys.stdout)
    sources = [s for s, _ in todo]
    targets = [t for _, t in todo]
    repairs = [args.repair] * len(todo)
    levels = [args.levels] * len(todo)
    if args.workers > 1 and len(todo) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(args.workers, len(todo))) as pool:
            for outcome in pool.map(preprocess_file, sources, targets, repairs, levels):
                outcomes.append(outcome)
                report(outcome)
    else:
        for outcome in map(preprocess_file, sources, targets, repairs, levels):
            outcomes.append(outcome)
            report(outcome)
    bar.close()

    failed = sum(o.status == "failed" for o in outcomes)
    if len(pairs) > 1 and not args.quiet:
        done = sum(o.status == "done" for o in outcomes)
        skipped = sum(o.status == "skipped" for o in outcomes)
        print(f"gaugeconv: {done} preprocessed, {skipped} up to date, {failed} failed", file=sys.stderr)
    return EXIT_USER_ERROR if failed else 0


# --------------------------------------------------------------------------- info
def _add_info(sub) -> None:
    p = sub.add_parser(
        "info",
        help="summarise a mesh file or a saved geometry (.npz)",
        description="Print sizes, topology, orientability, structure group and the Gauss-Bonnet check "
        "of a mesh file (preprocessed on the fly) or of a saved geometry file (.npz).",
    )
    p.add_argument("file", metavar="FILE", help="mesh file or .npz geometry")
    p.add_argument("--repair", action="store_true", help="for a mesh file: repair what can be repaired")
    p.set_defaults(run=_run_info)


def _run_info(args) -> int:
    path = args.file
    if path.lower().endswith(".npz"):
        geometry = load_geometry(path)
        print(geometry.summary())
        print(f"  file: {FORMAT_NAME} version {FORMAT_VERSION}, mesh sha256 {geometry.mesh_hash}")
        return 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mesh = load_mesh(path, repair=args.repair)
    for line in _warn_lines(caught, path):
        print(line, file=sys.stderr)
    start = time.perf_counter()
    geometry = preprocess(mesh)
    seconds = time.perf_counter() - start
    print(geometry.summary())
    if mesh.repairs:
        print(f"  repairs: {'; '.join(mesh.repairs)}")
    print(f"  mesh sha256 {mesh.hash}, preprocessed in {seconds:.2f} s")
    return 0


# --------------------------------------------------------------------------- shape
def _shape_options() -> dict:
    """Per shape: (help, [(flag, type, default, help)], how to call the generator)."""
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


def _add_shape(sub) -> None:
    p = sub.add_parser(
        "shape",
        help="generate a mesh (icosahedron, mobius, torus, plane, disc, cylinder)",
        description="Generate a mesh and write it as obj/ply/off/stl/glb, or as a preprocessed geometry (.npz).",
    )
    kinds = p.add_subparsers(dest="shape", metavar="NAME", required=True)
    for name, (text, options) in _shape_options().items():
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
        q.set_defaults(run=_run_shape, options=[flag for flag, *_ in options])


def write_mesh(mesh, path: str) -> None:
    """Write ``mesh`` with trimesh (no processing, vertex order kept) atomically: temp file, rename."""
    import trimesh

    suffix = os.path.splitext(path)[1].lower()
    kwargs = {"digits": 15} if suffix in (".obj", ".off") else {}
    if suffix == ".obj":
        kwargs["include_normals"] = False
    data = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), process=False).export(
        file_type=suffix[1:], **kwargs
    )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, suffix=suffix) as tmp, open(tmp, "wb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


def _run_shape(args) -> int:
    out = args.output
    suffix = os.path.splitext(out)[1].lower()
    if suffix not in SHAPE_SUFFIXES:
        _error(f"{out}: unsupported output type {suffix or '(none)'}; use one of {', '.join(SHAPE_SUFFIXES)}")
        return EXIT_USER_ERROR
    kwargs = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_")) for flag in args.options}
    if args.shape == "icosahedron":
        kwargs["sphere"] = not args.flat
    if args.shape == "mobius":
        kwargs["flat"] = not args.embedded
    try:
        mesh = shapes.SHAPES[args.shape](**kwargs)
    except ValueError as exc:
        _error(f"{args.shape}: {_one_line(exc)}")
        return EXIT_USER_ERROR
    if suffix == ".npz":
        geometry = preprocess(mesh)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        save_geometry(geometry, out)
        what = f"{geometry.n_edges} directed edges, {geometry.structure_group}"
    else:
        if mesh.lengths is not None:
            print(
                f"gaugeconv: note: {suffix} stores only vertex positions: the file has the embedded "
                "(curved) metric, not the flat one; write .npz to keep it",
                file=sys.stderr,
            )
        write_mesh(mesh, out)
        what = f"{mesh.n_components} component{'s' * (mesh.n_components != 1)}"
    print(f"{mesh.name}: {mesh.n_vertices} vertices, {mesh.n_faces} faces, {what} -> {out}")
    return 0


# --------------------------------------------------------------------------- render
def _add_render(sub) -> None:
    from .viz import render_arguments, render_command  # pyvista itself is imported only when drawing

    p = sub.add_parser("render", help="draw features, frames, curvature, transport or flips of a mesh (PNG)")
    render_arguments(p)
    p.set_defaults(run=render_command)


# --------------------------------------------------------------------------- entry point
#: Subcommand registrations, in the order ``gaugeconv --help`` lists them.
COMMANDS = [_add_preprocess, _add_info, _add_shape, _add_render]


def build_parser() -> argparse.ArgumentParser:
    """The ``gaugeconv`` argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="gaugeconv",
        description="Gauge-equivariant CNNs on meshes: preprocessing and inspection tools.",
    )
    parser.add_argument("--version", action="version", version=f"gaugeconv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit status:
    0 success, 2 bad arguments or bad input (after processing every other input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    try:
        return args.run(args)
    except USER_ERRORS as exc:
        _error(_one_line(exc, getattr(args, "file", None)))
        return EXIT_USER_ERROR
