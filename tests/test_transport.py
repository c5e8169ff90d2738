"""gaugeconv.preprocessing.transport: parallel transport along trees, paths and loops (headless)."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from gaugeconv import make_mesh, preprocess, shapes
from gaugeconv.preprocessing.transport import edge_ids, loop_through, shortest_paths, transport_path, transport_tree


def tree(g, source, vector):
    return transport_tree(g.edge_index, g.log_r, g.transport_angle, g.transport_flip, source, vector)


def path_transport(g, path, vector):
    return transport_path(g.edge_index, g.transport_angle, g.transport_flip, path, vector)


def in_3d(g, coords):
    """Gauge coordinates (V, 2) as 3D tangent vectors ``c e1 + s e2``."""
    return coords[:, :1] * g.frames[:, 0] + coords[:, 1:] * g.frames[:, 1]


def test_flat_transport_keeps_the_3d_vector():
    g = preprocess(shapes.disc(n_rings=5))
    carried = in_3d(g, tree(g, 7, [0.3, -1.0]))
    np.testing.assert_allclose(carried, np.broadcast_to(carried[7], carried.shape), atol=1e-12)
    # negative control: transporters rotated by 0.3 rad break it
    broken = replace(g, transport_angle=g.transport_angle + 0.3)
    carried = in_3d(broken, tree(broken, 7, [0.3, -1.0]))
    assert np.abs(carried - carried[7]).max() > 0.1


def fan_curvature(g, v):
    """The curvature the connection puts in the fan of v: sum over its triangles' corners of
    alpha * (2 pi / Theta - 1) (DESIGN.md), from corner angles of the embedding."""
    corners = np.zeros(g.faces.shape)
    for i in range(3):
        a, b, c = (g.vertices[g.faces[:, (i + j) % 3]] for j in range(3))
        corners[:, i] = np.arctan2(np.linalg.norm(np.cross(b - a, c - a), axis=1), np.sum((b - a) * (c - a), 1))
    theta = np.bincount(g.faces.ravel(), corners.ravel(), minlength=g.n_vertices)
    fan = np.any(g.faces == v, axis=1)
    return float(np.sum(corners[fan] * (2 * np.pi / theta[g.faces[fan]] - 1)))


@pytest.mark.parametrize("v", [0, 20, 100])
def test_holonomy_around_a_vertex_is_its_fan_curvature(icosphere_geometry, v):
    g = icosphere_geometry
    q, p = g.edge_index
    ring = q[p == v]  # neighbours in p's fan order: counter-clockwise
    vectors, (angle, flip) = path_transport(g, np.r_[ring, ring[0]], [1.0, 0.0])
    assert not flip
    assert angle == pytest.approx(fan_curvature(g, v), abs=1e-12)
    assert np.allclose(vectors[-1], [np.cos(angle), np.sin(angle)])
    # negative control: identity transporters carry no holonomy
    flat = replace(g, transport_angle=np.zeros(g.n_edges))
    _, (angle, _) = path_transport(flat, np.r_[ring, ring[0]], [1.0, 0.0])
    assert abs(angle - fan_curvature(g, v)) > 1e-3


def test_mobius_core_loop_is_a_reflection(mobius_geometry):
    g, n_width = mobius_geometry, 5  # the 24 x 5 strip of conftest
    core = np.arange(24) * n_width + n_width // 2  # the middle row, once around
    loop = loop_through(g.edge_index, g.log_r, core[::6])
    assert loop[0] == loop[-1] == core[0]
    assert np.all(edge_ids(g.edge_index, loop[:-1], loop[1:]) >= 0)  # a path along edges
    _, (_, flip) = path_transport(g, loop, [1.0, 0.0])
    assert flip
    assert 0 < np.count_nonzero(g.transport_flip)


def test_path_must_follow_edges(icosphere_geometry):
    with pytest.raises(ValueError, match="not joined by an edge"):
        path_transport(icosphere_geometry, [0, 100], [1.0, 0.0])


def test_edge_ids_finds_each_edge_and_marks_missing_ones(disc_geometry):
    g = disc_geometry
    q, p = g.edge_index
    np.testing.assert_array_equal(edge_ids(g.edge_index, q, p), np.arange(g.n_edges))
    assert edge_ids(g.edge_index, [0], [0])[0] == -1  # no self-loops


def test_shortest_path_tree_is_consistent(icosphere_geometry):
    g = icosphere_geometry
    distance, predecessor = shortest_paths(g.edge_index, g.log_r, 5)
    assert distance[5] == 0 and np.all(np.isfinite(distance))
    others = np.flatnonzero(np.arange(g.n_vertices) != 5)
    edge = edge_ids(g.edge_index, predecessor[others], others)
    assert np.all(edge >= 0)
    np.testing.assert_allclose(distance[others], distance[predecessor[others]] + g.log_r[edge], rtol=1e-12)


def test_unreachable_vertices_are_nan():
    square = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]
    vertices = np.r_[square, np.add(square, [5, 0, 0])]
    faces = [[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]]
    g = preprocess(make_mesh(vertices, faces))
    carried = tree(g, 0, [1.0, 0.0])
    assert np.all(np.isfinite(carried[:4])) and np.all(np.isnan(carried[4:]))
    with pytest.raises(ValueError, match="different components"):
        loop_through(g.edge_index, g.log_r, [0, 5])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda g: tree(g, 10**6, [1.0, 0.0]), "source must be a vertex index"),
        (lambda g: tree(g, True, [1.0, 0.0]), "source must be a vertex index"),
        (lambda g: tree(g, 0, [0.0, 0.0]), "vector must be 2 finite, non-zero"),
        (lambda g: tree(g, 0, [np.nan, 1.0]), "vector must be 2 finite, non-zero"),
        (lambda g: tree(g, 0, [1.0, 0.0, 0.0]), "vector must be"),
        (lambda g: loop_through(g.edge_index, g.log_r, [3]), "at least 2 waypoints"),
        (lambda g: transport_tree(g.edge_index, g.log_r[:-1], g.transport_angle, g.transport_flip, 0, [1, 0]), "log_r"),
        (lambda g: transport_path(g.edge_index.T, g.transport_angle, g.transport_flip, [0, 1], [1, 0]), "edge_index"),
    ],
)
def test_bad_arguments_are_one_line_value_errors(disc_geometry, call, message):
    with pytest.raises(ValueError, match=message) as info:
        call(disc_geometry)
    assert "\n" not in str(info.value)


def test_no_torch_and_no_pyvista():
    code = "import sys, gaugeconv.preprocessing.transport; print('torch' in sys.modules, 'pyvista' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
