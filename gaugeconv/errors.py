"""The errors a user of gaugeconv catches: each message is one line saying what is wrong and
what to do about it (the CLI prints it as it is and exits with status 2)."""

from __future__ import annotations

__all__ = ["GeometryFileError", "MeshError"]


class MeshError(ValueError):
    """A mesh that gaugeconv cannot use, with a message saying what is wrong and what to do."""


class GeometryFileError(ValueError):
    """A geometry file that cannot be loaded (wrong format, version or content)."""
