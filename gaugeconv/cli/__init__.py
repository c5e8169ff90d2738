"""The ``gaugeconv`` command line: preprocess meshes, inspect files, generate shapes, draw pictures.

A thin layer over the public API (:func:`gaugeconv.load_mesh`, :func:`gaugeconv.preprocess`,
:func:`gaugeconv.save_geometry`, :mod:`gaugeconv.shapes`, :mod:`gaugeconv.viz`); see docs/cli.md.
User errors (an invalid mesh, an unreadable file, bad arguments) print one line on stderr and
give exit status 2, never a traceback.

One module per subcommand, each with ``add_parser(subparsers)`` (its arguments, and ``run=``)
and ``run(args) -> int``; registering a subcommand is one entry in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse

from .. import __version__
from . import info, preprocess, render, shape
from .common import EXIT_INTERRUPTED, EXIT_USER_ERROR, USER_ERRORS, error, one_line, reported_warnings, tell

__all__ = ["COMMANDS", "build_parser", "main"]

#: Subcommand registrations, in the order ``gaugeconv --help`` lists them.
COMMANDS = [preprocess.add_parser, info.add_parser, shape.add_parser, render.add_parser]


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
    0 success, 2 bad arguments or bad input (after processing every other input), 130
    interrupted (Ctrl-C: one line, no partial output, worker processes stopped)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR
    path = getattr(args, "file", None)
    try:
        with reported_warnings(path):
            return args.run(args)
    except USER_ERRORS as exc:
        error(one_line(exc, path))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        tell("gaugeconv: interrupted")
        return EXIT_INTERRUPTED
