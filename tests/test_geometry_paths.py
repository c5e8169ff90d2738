"""The shortcuts of the preprocessing pipeline give the same buffers as its general code.

Closed, consistently oriented meshes (every sphere and torus) take shortcuts in ``orient``,
``order_fans`` and ``connect``; meshes with boundary, flipped faces or no orientation take the
general code. Turning the shortcuts off on closed oriented meshes must not change one bit, and
the fan-angle sums by runs of equal fans must equal the plain per-fan sums.
"""

import numpy as np
import pytest

from gaugeconv import make_mesh, shapes
from gaugeconv.preprocessing import compute_buffers, connection, connectivity
from gaugeconv.preprocessing.connection import _segment_exclusive_cumsum

ARRAYS = (
    "faces",
    "frames",
    "vertex_area",
    "degree",
    "boundary",
    "angle_defect",
    "edge_index",
    "log_r",
    "log_theta",
    "transport_angle",
    "transport_flip",
)


def _mixed_valence_sphere():
    """An icosphere with its vertices and faces shuffled: fans of 5 and 6 corners interleaved."""
    mesh = shapes.icosahedron(2)
    rng = np.random.default_rng(0)
    perm = rng.permutation(mesh.n_vertices)
    inverse = np.argsort(perm)
    faces = inverse[np.asarray(mesh.faces)][rng.permutation(mesh.n_faces)]
    return make_mesh(np.asarray(mesh.vertices)[perm], faces)


@pytest.mark.parametrize(
    "make",
    [lambda: shapes.icosahedron(3), lambda: shapes.torus(), _mixed_valence_sphere],
    ids=["icosphere", "torus", "shuffled-sphere"],
)
def test_shortcuts_equal_the_general_path(make, monkeypatch):
    mesh = make()
    calls = []
    for module, name in ((connectivity, "_walk_oriented"), (connection, "_connect_closed_oriented")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    fast = compute_buffers(mesh)
    assert sorted(calls) == ["_connect_closed_oriented", "_walk_oriented"]  # the shortcuts ran
    monkeypatch.setattr(connectivity, "SHORTCUTS", False)
    monkeypatch.setattr(connection, "SHORTCUTS", False)
    calls.clear()
    general = compute_buffers(mesh)
    assert calls == []  # the general code ran
    for name in ARRAYS:
        assert fast[name].dtype == general[name].dtype, name
        assert np.array_equal(fast[name], general[name]), name
    for name in ("orientable", "structure_group", "n_components", "n_boundary_loops", "euler_characteristic"):
        assert fast[name] == general[name], name


def test_run_sums_equal_per_fan_sums():
    rng = np.random.default_rng(1)
    counts = np.concatenate([np.full(100, 6), rng.integers(0, 9, 50), np.full(40, 5), [0, 0, 7]])
    offset = np.concatenate([[0], np.cumsum(counts)])
    values = rng.random(offset[-1])
    runs = _segment_exclusive_cumsum(values, offset)  # runs of >= 32 equal fans summed in place
    plain = _segment_exclusive_cumsum(values, offset, min_run=10**9)  # every fan gathered by length
    expected = np.concatenate([np.cumsum(values[a:b]) - values[a:b] for a, b in zip(offset[:-1], offset[1:])])
    assert np.array_equal(runs, plain)
    assert np.allclose(runs, expected, atol=1e-12)
