"""Mesh files for tests that need them on disk (tests of gaugeconv.data)."""

import numpy as np


def write_obj(path, mesh, vertices=None):
    """Write ``mesh`` (or ``vertices`` with its faces) as a Wavefront OBJ file; returns ``path``."""
    vertices = mesh.vertices if vertices is None else np.asarray(vertices)
    lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in np.asarray(vertices, float).tolist()]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in mesh.faces]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_off(path, vertices, faces):
    """Write an OFF file (the format of SHREC'11 and the human segmentation benchmark)."""
    lines = ["OFF", f"{len(vertices)} {len(faces)} 0"]
    lines += [f"{x!r} {y!r} {z!r}" for x, y, z in np.asarray(vertices, float).tolist()]
    lines += [f"3 {a} {b} {c}" for a, b, c in faces]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
