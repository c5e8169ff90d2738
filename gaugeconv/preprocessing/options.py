"""The options of a preprocessing run, as one value: what ``gaugeconv preprocess`` flags, the
dataset cache keys and a saved geometry's ``options`` header record all speak of."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

__all__ = ["COARSENINGS", "PreprocessOptions"]

#: The named coarsening rules of :func:`gaugeconv.preprocess` (it also takes nested vertex arrays).
COARSENINGS = ("auto", "subdivision", "grid", "sample")


@dataclass(frozen=True)
class PreprocessOptions:
    """How a mesh file becomes a Geometry.

    Attributes
    ----------
    levels : number of coarse levels (>= 0)
    ratio : vertex count ratio between sampled levels (> 1)
    radius : None for one-ring edges, else the geodesic neighbourhood radius in mean edge lengths (> 0)
    coarsening : one of :data:`COARSENINGS`
    orientation : "file" or "outward" (:mod:`gaugeconv.preprocessing.orientation`)
    repair : load the file with ``repair=True`` (:func:`gaugeconv.load_mesh`)
    """

    levels: int = 0
    ratio: float = 4.0
    radius: float | None = None
    coarsening: str = "auto"
    orientation: str = "file"
    repair: bool = False

    def __post_init__(self):
        from .orientation import ORIENTATIONS

        if not isinstance(self.levels, int) or isinstance(self.levels, bool) or self.levels < 0:
            raise ValueError(f"levels must be an integer >= 0, got {self.levels!r}")
        if not float(self.ratio) > 1.0:
            raise ValueError(f"ratio must be > 1, got {self.ratio!r}")
        if self.radius is not None and not float(self.radius) > 0:
            raise ValueError(f"radius must be None or a positive number of mean edge lengths, got {self.radius!r}")
        if self.coarsening not in COARSENINGS:
            raise ValueError(f"coarsening must be one of {', '.join(COARSENINGS)}, got {self.coarsening!r}")
        if self.orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {', '.join(ORIENTATIONS)}, got {self.orientation!r}")
        object.__setattr__(self, "ratio", float(self.ratio))
        object.__setattr__(self, "radius", None if self.radius is None else float(self.radius))

    def record(self) -> dict:
        """The plain dict stored as ``Geometry.options`` (and in the file header)."""
        return asdict(self)

    def build(self, source):
        """The Geometry of ``source`` (a mesh file path or a Mesh; ``repair`` applies to files)."""
        from ..mesh import Mesh, load_mesh
        from . import preprocess

        mesh = source if isinstance(source, Mesh) else load_mesh(source, repair=self.repair)
        geometry = preprocess(
            mesh,
            levels=self.levels,
            ratio=self.ratio,
            radius=self.radius,
            coarsening=self.coarsening,
            orientation=self.orientation,
        )
        return replace(geometry, options=self.record())
