"""Hand-computable meshes: the regular tetrahedron and octahedron, with exact expected buffers.

Every corner of both is an equilateral 60-degree corner. At a vertex of degree d the angle sum is
``Theta = d pi / 3``, so the rescaled neighbour angles are ``2 pi k / d`` for the k-th neighbour of
the fan (0, 120, 240 degrees on the tetrahedron; 0, 90, 180, 270 on the octahedron), and the angle
defect is ``2 pi - d pi / 3`` (pi and 2 pi / 3). The transporter of q -> p is then
``R(2 pi k_p(q) / d + pi - 2 pi k_q(p) / d)``, a multiple of ``2 pi / d`` plus pi, and the
holonomy around every face is the rotation by ``3 * (pi / 3) * (2 pi / Theta - 1)``: pi on the
tetrahedron and pi / 2 on the octahedron.
"""

import numpy as np
import pytest

from gaugeconv import make_mesh, preprocess
from gaugeconv.groups import o2_compose

TETRAHEDRON = (
    np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64),
    np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]]),
)
OCTAHEDRON = (
    np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64),
    np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]),
)
#: name: (vertices, faces, degree, edge length, face holonomy)
CASES = {
    "tetrahedron": (*TETRAHEDRON, 3, np.sqrt(8.0), np.pi),
    "octahedron": (*OCTAHEDRON, 4, np.sqrt(2.0), np.pi / 2),
}


def _angle_close(a, b, atol=1e-14):
    return np.allclose(np.exp(1j * np.asarray(a)), np.exp(1j * np.asarray(b)), rtol=0, atol=atol)


@pytest.fixture(params=list(CASES), scope="module")
def case(request):
    vertices, faces, degree, length, holonomy = CASES[request.param]
    return preprocess(make_mesh(vertices, faces, name=request.param)), degree, length, holonomy


def test_degrees_lengths_areas_and_defects(case):
    g, degree, length, _ = case
    assert np.array_equal(g.degree, np.full(g.n_vertices, degree))
    assert np.allclose(g.log_r, length, rtol=1e-15, atol=0)
    face_area = np.sqrt(3.0) / 4 * length**2
    assert np.allclose(g.vertex_area, degree * face_area / 3, rtol=1e-14, atol=0)
    assert np.allclose(g.angle_defect, 2 * np.pi - degree * np.pi / 3, rtol=0, atol=1e-14)
    assert not g.boundary.any() and not g.transport_flip.any() and g.structure_group == "SO2"


def test_log_map_angles_are_equally_spaced(case):
    """The k-th neighbour of every fan is at angle 2 pi k / d, exactly (edges come in fan order)."""
    g, degree, _, _ = case
    expected = np.tile(2 * np.pi * np.arange(degree) / degree, g.n_vertices)
    assert _angle_close(g.log_theta, expected)


def test_transporters_follow_from_the_fan_positions(case):
    g, degree, _, _ = case
    q, p = g.edge_index
    position = np.tile(np.arange(degree), g.n_vertices)  # k_p(q): position of the edge in p's fan
    reverse = {(int(a), int(b)): e for e, (a, b) in enumerate(zip(q, p))}
    k_back = position[[reverse[(int(b), int(a))] for a, b in zip(q, p)]]  # k_q(p)
    expected = 2 * np.pi * (position - k_back) / degree + np.pi
    assert _angle_close(g.transport_angle, expected)


def test_face_holonomy(case):
    """Transport around each face (p -> q -> r -> p) is the rotation by the face's curvature."""
    g, _, _, holonomy = case
    edge = {(int(a), int(b)): e for e, (a, b) in enumerate(zip(*g.edge_index))}
    for a, b, c in g.faces:
        angle, flip = 0.0, False
        for src, dst in ((a, b), (b, c), (c, a)):  # compose T_{dst <- src} on the left
            e = edge[(int(src), int(dst))]
            angle, flip = o2_compose(g.transport_angle[e], g.transport_flip[e], angle, flip)
        assert not flip
        assert _angle_close(angle, holonomy, atol=1e-13)
