"""The one atomic writer of the package: every file gaugeconv writes (geometry files, meshes,
pictures, cache entries) goes into a temporary file in the target folder, then one rename, so a
failure or an interrupt never leaves a partial file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile

__all__ = ["TEMPORARY_PREFIX", "atomic_write", "remove_temporaries"]

#: Temporary files of :func:`atomic_write` are named ``<prefix><process id>-<random><suffix>``.
TEMPORARY_PREFIX = ".tmp-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, suffix: str = ""):
    """Write ``path`` atomically: yields the name of a temporary file in the same folder (named
    after the writing process, see :func:`remove_temporaries`); when the
    block ends without an exception it is given normal permissions (``0666 & ~umask``) and renamed
    onto ``path``; otherwise it is removed and ``path`` is untouched.

    Example
    -------
    >>> with atomic_write("out/a.npz", suffix=".npz") as tmp:
    ...     np.savez(tmp, x=np.zeros(3))
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMPORARY_PREFIX}{os.getpid()}-", suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def remove_temporaries(directories, pids) -> None:
    """Remove the temporary files that processes ``pids`` left in ``directories`` (processes that
    were killed inside :func:`atomic_write`, e.g. worker processes stopped by Ctrl-C)."""
    prefixes = tuple(f"{TEMPORARY_PREFIX}{pid}-" for pid in pids)
    for directory in set(directories):
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if name.startswith(prefixes):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(directory, name))
