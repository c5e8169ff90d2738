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
    "EXIT_INTERRUPTED",
    "EXIT_USER_ERROR",
    "USER_ERRORS",
    "captured_warnings",
    "error",
    "nonnegative_int",
    "one_line",
    "positive_int",
    "reported_warnings",
    "say",
    "same_file",
    "tell",
    "warning_line",
]

#: Exit status for any user error (bad input file, bad arguments), as argparse uses.
EXIT_USER_ERROR = 2
#: Exit status after Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
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


def _printable(text: str, stream) -> str:
    """``text`` as ``stream`` can encode it: characters it cannot (a file name that is not valid
    UTF-8 arrives as surrogate escapes) are written as backslash escapes instead of failing."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding, "replace")


def say(line: str) -> None:
    """Print a result line on stdout. When the reader has gone away (``| head``), this and later
    lines are dropped and the work goes on."""
    try:
        print(_printable(line, sys.stdout), file=sys.stdout, flush=True)
    except BrokenPipeError:
        _stdout_to_devnull()


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so that neither later lines nor the flush at exit fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor
        pass


def tell(line: str) -> None:
    """Print a message line (error, warning, note, count) on stderr."""
    try:
        print(_printable(line, sys.stderr), file=sys.stderr, flush=True)
    except BrokenPipeError:
        pass


def error(message: str) -> None:
    """Print ``gaugeconv: error: <message>`` on stderr."""
    tell(f"gaugeconv: error: {message}")


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


@contextlib.contextmanager
def reported_warnings(path: str | None = None):
    """Inside the block, every Python warning is printed at once as one line
    ``gaugeconv: warning: ...`` (no source line, no category), naming ``path``."""
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *args, **kwargs: tell(warning_line(message, path))
        yield


def same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name the same file: equal after resolving ``.``, ``..`` and
    symbolic links, or the same inode (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _int_at_least(minimum: int, what: str):
    """An argparse type: an integer >= ``minimum``, else one line saying ``expected {what}``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


#: argparse types: an integer >= 1, an integer >= 0
positive_int = _int_at_least(1, "a positive integer")
nonnegative_int = _int_at_least(0, "an integer >= 0")
