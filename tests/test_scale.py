"""Scale: a mesh and the same mesh scaled by any factor in [1e-150, 1e150] give the same intrinsic
buffers (log_r and areas up to the factor); beyond what float64 areas hold, one clear error.

Preprocessing works on a copy brought to unit size by a power of two (gaugeconv.preprocessing.scale),
so a power-of-two factor gives results identical bit for bit. Any other factor first rounds the
coordinates themselves (relative 1.1e-16 each); corner angles, log maps and transporters then move
by a few ulps times the conditioning of the triangles: the tolerances below (1e-12 rad, 1e-13
relative) leave a margin of about 1000 over the 2.7e-15 rad measured on the icosphere.
"""

import numpy as np
import pytest

from gaugeconv import MeshError, make_mesh, preprocess, shapes
from gaugeconv.groups import wrap_angle

ANGLE_TOL = 1e-12  # radians, for factors that are not powers of two (see the module docstring)
LENGTH_RTOL = 1e-13

MESHES = {
    "icosphere": lambda: shapes.icosahedron(2),
    "torus": lambda: shapes.torus(n_major=12, n_minor=6),
    "flat-mobius": lambda: shapes.mobius(n_length=12, n_width=4),  # intrinsic lengths, O2
    "disc": lambda: shapes.disc(n_rings=3),
}


def scaled(mesh, factor):
    lengths = None if mesh.lengths is None else mesh.lengths * factor
    return make_mesh(mesh.vertices * factor, mesh.faces, name=mesh.name, lengths=lengths)


@pytest.fixture(scope="module", params=sorted(MESHES))
def reference(request):
    mesh = MESHES[request.param]()
    return mesh, preprocess(mesh, levels=1)


@pytest.mark.parametrize("exponent", [-490, -300, -100, -1, 7, 100, 300, 490])
def test_power_of_two_scale_is_exact(reference, exponent):
    mesh, ref = reference
    factor = 2.0**exponent  # 2**490 is about 3e147
    g = preprocess(scaled(mesh, factor), levels=1)
    for name in ("log_theta", "transport_angle", "transport_flip", "frames", "angle_defect", "edge_index", "faces"):
        np.testing.assert_array_equal(getattr(g, name), getattr(ref, name), err_msg=name)
    np.testing.assert_array_equal(g.log_r, ref.log_r * factor)
    np.testing.assert_array_equal(g.vertex_area, ref.vertex_area * factor**2)
    # the coarse level is built at unit scale too: the same vertices, the same maps
    level, ref_level = g.levels[0], ref.levels[0]
    np.testing.assert_array_equal(level.source_index, ref_level.source_index)
    np.testing.assert_array_equal(level.log_theta, ref_level.log_theta)
    np.testing.assert_array_equal(level.log_r, ref_level.log_r * factor)
    np.testing.assert_array_equal(g.pools[0].log_r, ref.pools[0].log_r * factor)


@pytest.mark.parametrize("factor", [1e-150, 3.7e-77, 1e-3, 7.3, 1e100, 1e150])
def test_any_scale_agrees_to_round_off(reference, factor):
    mesh, ref = reference
    g = preprocess(scaled(mesh, factor))
    np.testing.assert_array_equal(g.edge_index, ref.edge_index)
    np.testing.assert_array_equal(g.transport_flip, ref.transport_flip)
    for name in ("log_theta", "transport_angle"):
        assert np.max(np.abs(wrap_angle(getattr(g, name) - getattr(ref, name)))) < ANGLE_TOL, name
    np.testing.assert_allclose(g.log_r, ref.log_r * factor, rtol=LENGTH_RTOL, atol=0)
    np.testing.assert_allclose(g.vertex_area, ref.vertex_area * factor**2, rtol=LENGTH_RTOL, atol=0)
    np.testing.assert_allclose(g.angle_defect, ref.angle_defect, rtol=0, atol=ANGLE_TOL)
    assert all(np.all(np.isfinite(getattr(g, name))) for name in ("frames", "vertex_area", "log_r"))


@pytest.mark.parametrize("factor", [1e-300, 1e-200, 1e-160, 1e160, 1e200, 1e300, 1.7e308])
def test_unrepresentable_scale_is_one_clear_error(factor):
    mesh = shapes.icosahedron(1)
    moved = make_mesh(mesh.vertices * factor, mesh.faces, repair=True)  # validation itself is scale-free
    assert moved.n_faces == mesh.n_faces and moved.repairs == ()
    with pytest.raises(MeshError, match=r"outside what float64 can hold; scale the coordinates") as info:
        preprocess(moved)
    assert "\n" not in str(info.value)


def test_near_the_float64_limit_nothing_overflows_silently():
    """Coordinates near 1e308: differences of coordinates would overflow; validation must not."""
    vertices = np.array([[-1.5e308, 0, 0], [1.5e308, 0, 0], [0, 1.5e308, 0]])
    mesh = make_mesh(vertices, [[0, 1, 2]])
    assert mesh.n_faces == 1
