"""``gaugeconv preprocess``: mesh files -> geometry files (.npz), in batches, shards and worker pools."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass

from ..atomic import remove_temporaries
from ..fileformat import FORMAT_VERSION, read_header
from ..fileformat import save as save_geometry
from ..mesh import MESH_SUFFIXES
from ..preprocessing import COARSENINGS, ORIENTATIONS, PreprocessOptions
from .common import (
    EXIT_USER_ERROR,
    USER_ERRORS,
    captured_warnings,
    error,
    nonnegative_int,
    one_line,
    positive_int,
    same_file,
    say,
    tell,
)

__all__ = ["Outcome", "add_parser", "is_up_to_date", "parse_shard", "plan_outputs", "preprocess_file", "run"]


def is_up_to_date(source, target, options: PreprocessOptions = PreprocessOptions()) -> bool:
    """Whether ``target`` is a current preprocessing of ``source``, decided without reading the mesh.

    True exactly when ``target`` exists, was modified no earlier than ``source``, and its header
    says format ``gaugeconv.geometry`` version :data:`~gaugeconv.fileformat.FORMAT_VERSION`,
    names the source file (``name`` equals the source's base name) and records the same
    preprocessing ``options`` (levels, ratio, radius, coarsening, orientation, repair). The
    header's ``mesh_hash`` is not recomputed (that would cost a full parse and validation):
    content changes that keep an older modification time (``cp -p``, ``rsync -a`` of an older
    file) need ``--force``.
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
        and header.get("options") == options.record()
    )


@dataclass(frozen=True)
class Outcome:
    """What happened to one input of ``gaugeconv preprocess``."""

    source: str
    target: str
    status: str  # "done", "skipped" or "failed"
    line: str  # the summary line (stdout) or the error line (stderr)
    warnings: tuple = ()


def preprocess_file(source: str, target: str, options: PreprocessOptions = PreprocessOptions()) -> Outcome:
    """Load, validate, preprocess and save one mesh; user errors become a failed Outcome.

    The output is written atomically (:func:`gaugeconv.save_geometry`), so a failure leaves no file.
    Module level so that a process pool can run it.
    """
    start = time.perf_counter()
    with captured_warnings(source) as warned:
        try:
            geometry = options.build(source)
            directory = os.path.dirname(target)
            if directory:
                os.makedirs(directory, exist_ok=True)
            save_geometry(geometry, target)
        except USER_ERRORS as exc:
            failure = one_line(exc, source)
        else:
            failure = None
    if failure is not None:
        return Outcome(source, target, "failed", failure, tuple(warned))
    seconds = time.perf_counter() - start
    line = (
        f"{source}: {geometry.n_vertices} vertices, {geometry.n_edges} directed edges, "
        f"{geometry.structure_group}, {seconds:.2f} s -> {target}"
    )
    if options.levels:
        coarse = ", ".join(str(level.n_vertices) for level in geometry.levels)
        line = line.replace(f", {seconds:.2f} s", f", levels {coarse}, {seconds:.2f} s")
    return Outcome(source, target, "done", line, tuple(warned))


def cache_file(source: str, cache: str, options: PreprocessOptions, force: bool) -> Outcome:
    """Preprocess one mesh into the dataset cache folder ``cache`` unless a valid entry is there
    (:func:`gaugeconv.data.preprocess_to_cache`); user errors become a failed Outcome."""
    from ..data import preprocess_to_cache

    start = time.perf_counter()
    with captured_warnings(source) as warned:
        try:
            path, built = preprocess_to_cache(source, cache, options, force=force)
        except USER_ERRORS as exc:
            return Outcome(source, cache, "failed", one_line(exc, source), tuple(warned))
    if not built:
        return Outcome(source, str(path), "skipped", f"{source}: up to date, skipped -> {path}", tuple(warned))
    line = f"{source}: preprocessed into the cache, {time.perf_counter() - start:.2f} s -> {path}"
    return Outcome(source, str(path), "done", line, tuple(warned))


def parse_shard(text: str) -> tuple:
    """``"K/N"`` with ``1 <= K <= N`` -> ``(K, N)``; an argparse type."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 1/4, got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"need 1 <= K <= N, got {text!r}")
    return k, n


def plan_outputs(inputs: list, out: str) -> list:
    """Pair each input with its output path: ``out`` itself for a single input (unless ``out``
    is a folder), else ``out/<input stem>.npz``.

    Raises
    ------
    ValueError
        before anything is written, when an output would not end in ``.npz``, when two inputs
        would be written to the same output, or when an output (or the output folder) is an
        input of the run, also through ``./``, ``..``, symbolic or hard links.
    """
    as_folder = len(inputs) > 1 or os.path.isdir(out) or out.endswith(("/", os.sep))
    for source in inputs:
        if same_file(out, source):
            raise ValueError(f"-o {out} is the input {source}; choose another output")
    if not as_folder:
        pairs = [(inputs[0], out)]
    else:
        if os.path.exists(out) and not os.path.isdir(out):
            raise ValueError(f"-o {out} is a file, but several inputs need an output folder")
        pairs, seen = [], {}
        for source in inputs:
            target = os.path.join(out, os.path.splitext(os.path.basename(source))[0] + ".npz")
            if target in seen:
                raise ValueError(
                    f"{seen[target]} and {source} would both be written to {target}; preprocess them separately"
                )
            seen[target] = source
            pairs.append((source, target))
    for _, target in pairs:
        if not target.lower().endswith(".npz"):
            hint = "" if as_folder else "; to write into a folder, end OUT with /"
            raise ValueError(f"{target}: a geometry file must end in .npz{hint}")
        for source in inputs:
            if same_file(target, source):
                raise ValueError(f"{target} would overwrite the input {source}; choose another output")
    return pairs


def _ignore_interrupts() -> None:
    """Worker setup: Ctrl-C is the parent's to handle. The parent then terminates the workers at
    once (no unwinding inside the pool's own locks, which could hang it) and removes the
    temporary files they leave (:func:`~gaugeconv.atomic.remove_temporaries`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _preprocess_task(task: tuple) -> Outcome:
    kind, *arguments = task
    return (cache_file if kind == "cache" else preprocess_file)(*arguments)


def add_parser(sub) -> None:
    """Register ``gaugeconv preprocess``."""
    p = sub.add_parser(
        "preprocess",
        help="mesh files -> geometry buffers (.npz)",
        description="Validate and preprocess meshes into gaugeconv geometry files (.npz, no pickle). "
        "Outputs that are up to date are skipped unless --force.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help=f"mesh files ({', '.join(MESH_SUFFIXES)})")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("-o", "--output", metavar="OUT", help="output file (one input) or folder (several)")
    where.add_argument(
        "--cache",
        metavar="DIR",
        help="write into the content-keyed cache folder of gaugeconv.data.MeshDataset (see docs/data.md) instead",
    )
    p.add_argument("--workers", type=positive_int, default=1, metavar="N", help="processes to use (default 1)")
    p.add_argument(
        "--shard",
        type=parse_shard,
        metavar="K/N",
        help="process only inputs whose position i (0-based, in sorted order) has i %% N == K-1; K is 1-based",
    )
    p.add_argument("--force", action="store_true", help="recompute outputs that are up to date")
    p.add_argument(
        "--levels",
        type=nonnegative_int,
        default=0,
        metavar="K",
        help="also compute K coarse levels with pooling maps (each ~4x fewer vertices; default 0)",
    )
    p.add_argument(
        "--radius",
        type=float,
        default=None,
        metavar="R",
        help="edges to every vertex within R mean edge lengths (geodesic neighbourhoods) instead of the one-ring",
    )
    p.add_argument(
        "--coarsening",
        choices=COARSENINGS,
        default="auto",
        help="how coarse levels are chosen: auto (subdivision or grid levels where the mesh is one, else sampling; "
        "default), or one rule (see docs/multiscale.md)",
    )
    p.add_argument("--repair", action="store_true", help="drop degenerate/duplicate faces, split non-manifold vertices")
    p.add_argument(
        "--orientation",
        choices=ORIENTATIONS,
        default="file",
        help="wind each orientable component as most of its faces are in the file (default), or so that "
        "its normals point outwards (independent of the file); SO(2) models are chiral",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no per-mesh lines (errors still shown)")
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``gaugeconv preprocess`` for parsed arguments; returns the exit status."""
    inputs = sorted(set(args.inputs))
    try:
        options = PreprocessOptions(
            levels=args.levels,
            radius=args.radius,
            coarsening=args.coarsening,
            orientation=args.orientation,
            repair=args.repair,
        )
        pairs = [(source, args.cache) for source in inputs] if args.cache else plan_outputs(inputs, args.output)
    except ValueError as exc:
        error(one_line(exc))
        return EXIT_USER_ERROR
    if args.shard is not None:
        k, n = args.shard
        pairs = [pair for i, pair in enumerate(pairs) if i % n == k - 1]
    todo, outcomes = [], []
    for source, target in pairs:
        if args.cache:  # the cache checks its own entries
            todo.append(("cache", source, target, options, args.force))
        elif not args.force and is_up_to_date(source, target, options):
            outcomes.append(Outcome(source, target, "skipped", f"{source}: up to date, skipped -> {target}"))
        else:
            todo.append(("file", source, target, options))

    from tqdm import tqdm

    bar = tqdm(total=len(pairs), unit="mesh", file=sys.stderr, disable=args.quiet or not sys.stderr.isatty())
    bar.update(len(outcomes))

    def report(outcome: Outcome, count: bool = True) -> None:
        with tqdm.external_write_mode(file=sys.stderr):
            for line in outcome.warnings:
                tell(line)
            if outcome.status == "failed":
                error(outcome.line)
            elif not args.quiet:
                say(outcome.line)
        if count:
            bar.update(1)

    for outcome in outcomes:
        report(outcome, count=False)
    try:
        with contextlib.closing(_outcomes(todo, args.workers)) as results:  # closing stops a pool at once
            for outcome in results:
                outcomes.append(outcome)
                report(outcome)
    finally:
        bar.close()

    failed = sum(o.status == "failed" for o in outcomes)
    if len(pairs) > 1 and not args.quiet:
        done = sum(o.status == "done" for o in outcomes)
        skipped = sum(o.status == "skipped" for o in outcomes)
        tell(f"gaugeconv: {done} preprocessed, {skipped} up to date, {failed} failed")
    return EXIT_USER_ERROR if failed else 0


def _outcomes(todo: list, workers: int):
    """The Outcome of every task, in order: in this process, or in a pool of ``workers``
    processes that Ctrl-C (KeyboardInterrupt here) terminates at once."""
    if workers <= 1 or len(todo) <= 1:
        yield from map(_preprocess_task, todo)
        return
    import multiprocessing

    pool = multiprocessing.Pool(min(workers, len(todo)), initializer=_ignore_interrupts)
    try:
        yield from pool.imap(_preprocess_task, todo)
        pool.close()
    except BaseException:  # Ctrl-C, or the consumer stopped: stop the workers now
        pids = [process.pid for process in multiprocessing.active_children()]
        pool.terminate()
        pool.join()
        folders = [task[2] if task[0] == "cache" else os.path.dirname(os.path.abspath(task[2])) for task in todo]
        remove_temporaries(folders, pids)
        raise
    pool.join()
