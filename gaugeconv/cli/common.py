"""What every subcommand shares: exit codes, one-line messages, the one warning style, argument types.

Messages go to stderr as ``gaugeconv: error: <file>: <problem and what to do>`` and
``gaugeconv: warning: <file>: <what happened>``, one line each; results go to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings

from ..fileformat import GeometryFileError
from ..mesh import MeshError

__all__ = [
    "EXIT_USER_ERROR",
    "USER_ERRORS",
    "captured_warnings",
    "error",
    "nonnegative_int",
    "one_line",
    "positive_int",
    "warning_line",
]

#: Exit status for any user error (bad input file, bad arguments), as argparse uses.
EXIT_USER_ERROR = 2
#: Errors that are the user's to fix: reported as one line, never as a traceback.
USER_ERRORS = (MeshError, GeometryFileError, OSError)


def one_line(exc: BaseException | str, path: str | None = None) -> str:
    """The message on one line, starting with ``path`` (the path as given, not just its base name)."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    if path is None or message.startswith(path):
        return message
    name = os.path.basename(path)
    if message.startswith(name + ":"):
        return path + message[len(name) :]
    return f"{path}: {message}"


def error(message: str) -> None:
    """Print ``gaugeconv: error: <message>`` on stderr."""
    print(f"gaugeconv: error: {message}", file=sys.stderr)


def warning_line(message, path: str | None = None) -> str:
    """A warning as the one line the command line prints: ``gaugeconv: warning: ...``."""
    return f"gaugeconv: warning: {one_line(message, path)}"


@contextlib.contextmanager
def captured_warnings(path: str | None = None):
    """Record the warnings raised inside the block (every one, also repeats); yields a list that
    holds their :func:`warning_line` lines once the block has ended."""
    lines: list = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield lines
        finally:
            lines.extend(warning_line(w.message, path) for w in caught)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value
