"""The fast paths of preprocessing give the buffers of the reference code.

Closed, consistently oriented meshes (every sphere and torus) may take ``order_fans_oriented`` and
``connect_closed_oriented``; ``compute_buffers(mesh, fast=False)`` runs the reference code
(``order_fans``, ``connect``) on them. The two must agree to round-off, and each fast path must
refuse a mesh it does not apply to.
"""

import numpy as np
import pytest

from gaugeconv import make_mesh, shapes
from gaugeconv.preprocessing import (
    compute_buffers,
    connect,
    connect_closed_oriented,
    corner_angles,
    order_fans,
    order_fans_oriented,
    orient,
    side_lengths,
)
from gaugeconv.preprocessing.connection import fan_exclusive_cumsum
from gaugeconv.preprocessing.connectivity import _double_cover
from gaugeconv.topology import half_edges

ANGLES = ("log_theta", "transport_angle")


def _shuffled_sphere():
    """An icosphere with its vertices and faces shuffled: fans of 5 and 6 corners interleaved."""
    mesh = shapes.icosahedron(2)
    rng = np.random.default_rng(0)
    perm = rng.permutation(mesh.n_vertices)
    inverse = np.argsort(perm)
    faces = inverse[np.asarray(mesh.faces)][rng.permutation(mesh.n_faces)]
    return make_mesh(np.asarray(mesh.vertices)[perm], faces)


CLOSED_ORIENTED = {
    "icosphere": lambda: shapes.icosahedron(3),
    "torus": lambda: shapes.torus(),
    "shuffled-sphere": _shuffled_sphere,
}


def _assert_same_buffers(fast: dict, reference: dict) -> None:
    for name, value in reference.items():
        if not isinstance(value, np.ndarray):
            assert fast[name] == value, name
            continue
        assert fast[name].dtype == value.dtype and fast[name].shape == value.shape, name
        if value.dtype.kind != "f":
            assert np.array_equal(fast[name], value), name
        elif name in ANGLES:  # equal as angles (a value near -pi may wrap to just below pi)
            assert np.allclose(np.exp(1j * fast[name]), np.exp(1j * value), rtol=0, atol=1e-13), name
        else:
            assert np.allclose(fast[name], value, rtol=1e-13, atol=1e-13), name


@pytest.mark.parametrize("make", CLOSED_ORIENTED.values(), ids=CLOSED_ORIENTED.keys())
def test_fast_paths_equal_the_reference(make):
    mesh = make()
    _assert_same_buffers(compute_buffers(mesh, fast=True), compute_buffers(mesh, fast=False))


@pytest.mark.parametrize("make", CLOSED_ORIENTED.values(), ids=CLOSED_ORIENTED.keys())
def test_fast_fan_order_and_connection_equal_the_reference(make):
    mesh = make()
    n = mesh.n_vertices
    he = half_edges(mesh.faces, n)
    faces = orient(mesh.faces, he).faces
    fast, reference = order_fans_oriented(faces, n, he), order_fans(faces, n, he)
    for name in ("offset", "corner", "direction", "corner_direction", "boundary"):
        assert np.array_equal(getattr(fast, name), getattr(reference, name)), name
    lengths = side_lengths(np.asarray(mesh.vertices), faces)
    angles = corner_angles(lengths)
    a, b = connect_closed_oriented(fast, lengths, angles, n), connect(reference, lengths, angles, n)
    assert np.array_equal(a.edge_index, b.edge_index)
    assert np.array_equal(a.transport_flip, b.transport_flip) and not a.transport_flip.any()
    assert np.allclose(a.log_r, b.log_r, rtol=1e-15, atol=0)
    for name in ("log_theta", "transport_angle"):
        assert np.allclose(np.exp(1j * getattr(a, name)), np.exp(1j * getattr(b, name)), rtol=0, atol=1e-13)


@pytest.mark.parametrize(
    "make", [lambda: shapes.mobius(n_length=12, n_width=4), lambda: shapes.disc(n_rings=3)], ids=["mobius", "disc"]
)
def test_fast_paths_refuse_meshes_they_do_not_apply_to(make):
    mesh = make()
    n = mesh.n_vertices
    he = half_edges(mesh.faces, n)
    faces = orient(mesh.faces, he).faces
    fans = order_fans(faces, n, he)
    lengths = side_lengths(np.asarray(mesh.vertices), faces)
    with pytest.raises(ValueError, match="connect_closed_oriented needs"):
        connect_closed_oriented(fans, lengths, corner_angles(lengths), n)
    if fans.direction.any():  # the Möbius strip cannot be oriented
        with pytest.raises(ValueError, match="order_fans_oriented needs"):
            order_fans_oriented(faces, n, he)


def test_orientation_of_consistent_faces_equals_the_double_cover():
    """orient() skips the double cover when every pair of faces already agrees; the double cover
    must give the same components and no reversed face."""
    mesh = _shuffled_sphere()
    he = half_edges(mesh.faces, mesh.n_vertices)
    short = orient(mesh.faces, he)
    h1 = np.flatnonzero(he.partner > np.arange(he.partner.size))
    h2 = he.partner[h1]
    full = _double_cover(np.asarray(mesh.faces), h1 // 3, h2 // 3, np.zeros(h1.size, dtype=bool))
    assert not full.flipped.any() and not short.flipped.any()
    assert np.array_equal(full.orientable, short.orientable)
    assert np.array_equal(full.component, short.component)


@pytest.mark.parametrize("min_run", [1, 32, 10**9], ids=["all-runs", "default", "all-gathered"])
def test_fan_sums_equal_per_fan_sums(min_run):
    rng = np.random.default_rng(1)
    counts = np.concatenate([np.full(100, 6), rng.integers(0, 9, 50), np.full(40, 5), [0, 0, 7]])
    offset = np.concatenate([[0], np.cumsum(counts)])
    values = rng.random(offset[-1])
    expected = np.concatenate([np.cumsum(values[a:b]) - values[a:b] for a, b in zip(offset[:-1], offset[1:])])
    assert np.allclose(fan_exclusive_cumsum(values, offset, min_run=min_run), expected, rtol=1e-14, atol=1e-14)
