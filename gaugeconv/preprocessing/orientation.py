"""Which way each orientable component faces: the explicit orientation choice of :func:`preprocess`.

The buffers of an orientable component depend on its orientation: reversing the winding of
every face mirrors every gauge (``log_theta -> -log_theta`` up to the gauge choice) and so
changes the output of any SO(2)-equivariant network that is not also reflection-equivariant
(SO(2) models are chiral; O(2) models are not). Two rules are offered, both deterministic:

``"file"`` (the default)
    each orientable component takes the winding that most of its faces have in the file
    (a tie keeps the winding of its first face). Reversing the file reverses the result.
``"outward"``
    each orientable component is wound so that its signed volume
    ``sum_f (c_f - c) . n_f A_f`` is positive (``c_f``, ``n_f``, ``A_f``: centroid, unit normal
    and area of face f; ``c``: the area-weighted centroid of the component), i.e. normals point
    out of a closed surface and towards the convex side of an open one. It does not depend on
    the file's winding or face order; where the volume vanishes to round-off (a flat piece) the
    file's majority decides, as for ``"file"``. Meshes with intrinsic lengths only (no
    meaningful embedding) should use ``"file"``.

Non-orientable components have no orientation to choose and are left as they are.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..mesh import Mesh
from ..topology import half_edges
from .connectivity import orient

__all__ = ["ORIENTATIONS", "orient_mesh", "signed_volumes"]

#: The accepted values of ``orientation``.
ORIENTATIONS = ("file", "outward")


def signed_volumes(vertices: np.ndarray, faces: np.ndarray, component: np.ndarray, n_components: int):
    """Per component: the signed volume ``sum_f (c_f - c) . n_f A_f`` (times 2, in units of the
    largest coordinate) and ``sum_f |c_f - c| A_f`` (the same units), the largest it could be,
    to judge round-off.

    Returns
    -------
    volume, magnitude : (n_components,) float64
    """
    scale = np.max(np.abs(vertices))
    p = vertices[faces] / (scale if scale > 0 else 1.0)  # (F, 3, 3), unit size: no overflow
    area_normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # (F, 3): 2 A_f n_f
    area = np.linalg.norm(area_normal, axis=1)
    centroid = p.mean(axis=1)
    weight = np.bincount(component, weights=area, minlength=n_components)
    centre = (
        np.stack(
            [np.bincount(component, weights=area * centroid[:, i], minlength=n_components) for i in range(3)], axis=1
        )
        / np.maximum(weight, np.finfo(np.float64).tiny)[:, None]
    )
    terms = np.einsum("fi,fi->f", centroid - centre[component], area_normal)
    volume = np.bincount(component, weights=terms, minlength=n_components)
    reach = np.linalg.norm(centroid - centre[component], axis=1) * area
    magnitude = np.bincount(component, weights=reach, minlength=n_components)
    return volume, magnitude


def orient_mesh(mesh: Mesh, orientation: str = "file") -> Mesh:
    """``mesh`` with each orientable component wound by the rule ``orientation`` (see the
    module docstring); faces of a reversed component become ``(c, b, a)`` and their intrinsic
    side lengths follow. Returns ``mesh`` itself for ``"file"``.

    Raises
    ------
    ValueError
        for an unknown rule.
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {', '.join(map(repr, ORIENTATIONS))}, got {orientation!r}")
    if orientation == "file":
        return mesh
    result = orient(np.asarray(mesh.faces), half_edges(mesh.faces, mesh.n_vertices))
    n_components = result.orientable.size
    volume, magnitude = signed_volumes(mesh.vertices, result.faces, result.component, n_components)
    reverse = result.orientable & (volume < -1e-9 * magnitude)
    flipped = result.flipped ^ reverse[result.component]
    if not flipped.any():
        return mesh
    faces = np.array(mesh.faces)
    faces[flipped] = faces[flipped][:, ::-1]
    faces.setflags(write=False)
    lengths = mesh.lengths
    if lengths is not None:
        # reversing (a, b, c) -> (c, b, a) maps sides (ab, bc, ca) to (cb, ba, ac)
        lengths = np.array(lengths)
        lengths[flipped] = lengths[flipped][:, [1, 0, 2]]
        lengths.setflags(write=False)
    return replace(mesh, faces=faces, lengths=lengths)
