"""``gaugeconv info``: summarise a mesh file (preprocessed on the fly) or a saved geometry file."""

from __future__ import annotations

import time

from ..fileformat import FORMAT_NAME, FORMAT_VERSION
from ..fileformat import load as load_geometry
from ..mesh import load_mesh
from ..preprocessing import preprocess
from .common import say

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """Register ``gaugeconv info``."""
    p = sub.add_parser(
        "info",
        help="summarise a mesh file or a saved geometry (.npz)",
        description="Print sizes, topology, orientability, structure group and the Gauss-Bonnet check "
        "of a mesh file (preprocessed on the fly) or of a saved geometry file (.npz).",
    )
    p.add_argument("file", metavar="FILE", help="mesh file or .npz geometry")
    p.add_argument("--repair", action="store_true", help="for a mesh file: repair what can be repaired")
    p.set_defaults(run=run)


def run(args) -> int:
    """Run ``gaugeconv info`` for parsed arguments; returns the exit status."""
    path = args.file
    if path.lower().endswith(".npz"):
        geometry = load_geometry(path)
        say(geometry.summary())
        say(f"  file: {FORMAT_NAME} version {FORMAT_VERSION}, mesh sha256 {geometry.mesh_hash}")
        return 0
    mesh = load_mesh(path, repair=args.repair)  # warnings: one line each (gaugeconv.cli.main)
    start = time.perf_counter()
    geometry = preprocess(mesh)
    seconds = time.perf_counter() - start
    say(geometry.summary())
    if mesh.repairs:
        say(f"  repairs: {'; '.join(mesh.repairs)}")
    say(f"  mesh sha256 {mesh.hash}, preprocessed in {seconds:.2f} s")
    return 0
