"""What the default pictures show, checked by structure: the camera (upright, largest silhouette),
colour ranges that outliers do not take over, visible glyphs that do not overlap, panels and views.

Small windows keep the rendering fast; pixel checks come from tests/pictures.py.
"""

import importlib.util
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from pictures import box, check_in_frame, colour_spread, dark, drawn, read_png

from gaugeconv import make_mesh, preprocess, shapes, viz
from gaugeconv.ico.signals import project_planar_image
from gaugeconv.viz.camera import auto_view, orbit
from gaugeconv.viz.colour import lighter
from gaugeconv.viz.glyphs import glyph_points, glyph_room, lengths

ROOT = Path(__file__).resolve().parents[1]
SIZE = (200, 160)


def ellipsoid(scale, rotation=None, level=2):
    m = shapes.icosahedron(level)
    v = m.vertices * np.asarray(scale, np.float64)
    return make_mesh(v if rotation is None else v @ rotation.T, m.faces, name="ellipsoid")


# ---------------------------------------------------------------------------- camera (numpy)
@pytest.mark.parametrize(
    "scale, up, look",
    [
        ((0.8, 2.0, 0.5), 1, 2),  # a y-up scan standing: up y, seen from the front (+z)
        ((0.8, 0.5, 2.0), 2, 1),  # the same z-up: up z, seen from the front (-y)
        ((0.5, 2.0, 0.8), 1, 0),  # thinnest along x: seen from the side (the silhouette cannot tell y-up
        ((0.5, 0.8, 2.0), 1, 0),  # from z-up here: +y, the convention of most scans, wins the tie)
        ((3.0, 1.6, 1.0), 1, 2),  # a y-up animal, long along x: side view, along z
        ((3.0, 1.0, 1.6), 2, 1),  # the same z-up: side view along y
        ((2.0, 2.2, 0.3), 1, 2),  # lying flat in the xy plane: y up in the picture, seen from +z
    ],
)
def test_auto_view_stands_axis_aligned_meshes_upright(scale, up, look):
    m = ellipsoid(scale)
    direction, view_up = auto_view(m.vertices)
    np.testing.assert_allclose(view_up, np.eye(3)[up], atol=1e-12)
    assert np.argmax(np.abs(direction)) == look  # the largest silhouette faces the camera
    assert direction[look] * (-1 if look == 1 and up == 2 else 1) > 0  # from the conventional front
    assert 0.2 < direction @ view_up < 0.5  # a little from above: the picture shows depth


def test_auto_view_of_a_rotated_mesh_looks_along_its_thinnest_axis():
    rotation = shapes.random_rotation(np.random.default_rng(3))
    direction, view_up = auto_view(ellipsoid((3.0, 1.6, 1.0), rotation).vertices)
    thin, long_ = rotation[:, 2], rotation[:, 0]
    assert abs(direction @ thin) > np.cos(np.radians(30))
    assert abs(view_up @ long_) < 0.2  # the long axis across the (landscape) window
    tall = auto_view(ellipsoid((3.0, 1.6, 1.0), rotation).vertices, aspect=0.5)[1]
    assert abs(tall @ long_) > 0.9  # and along a portrait one


def test_auto_view_follows_a_given_up_axis_and_orbit_turns_round_it():
    m = ellipsoid((0.8, 2.0, 0.5))
    direction, view_up = auto_view(m.vertices, up="x")
    np.testing.assert_allclose(view_up, [1.0, 0.0, 0.0])
    views = orbit(direction, view_up, 4)
    np.testing.assert_allclose(views[0], direction, atol=1e-12)
    np.testing.assert_allclose(views @ view_up, direction @ view_up, atol=1e-12)  # same elevation
    np.testing.assert_allclose(
        views[2] - (views[2] @ view_up) * view_up, -(direction - (direction @ view_up) * view_up)
    )
    with pytest.raises(ValueError, match="up must be"):
        auto_view(m.vertices, up="w")


def test_a_y_up_scan_is_drawn_upright(tmp_path):
    m = preprocess(ellipsoid((0.8, 2.0, 0.5)))
    viz.plot_scalar(m, m.vertices[:, 1], "height", screenshot=tmp_path / "a.png", window_size=SIZE)
    viz.plot_scalar(m, m.vertices[:, 1], "height", up="x", screenshot=tmp_path / "b.png", window_size=SIZE)
    top, bottom, left, right = box(check_in_frame(read_png(tmp_path / "a.png"))[: int(0.75 * SIZE[1])])
    assert bottom - top > 1.5 * (right - left)  # standing
    top, bottom, left, right = box(drawn(read_png(tmp_path / "b.png"))[: int(0.75 * SIZE[1])])
    assert right - left > 1.5 * (bottom - top)  # negative control: told that x is up, it lies on its side


# ---------------------------------------------------------------------------- colour ranges
def test_colour_range_ignores_outliers_and_says_how_many_it_clips():
    rng = np.random.default_rng(0)
    smooth = np.linspace(-1.0, 3.0, 1000)
    assert viz.colour_range(smooth) == ((-1.0, 3.0), 0.0)  # smooth data: the whole range, nothing clipped
    spiky = np.concatenate([rng.uniform(0, 1, 990), [5e3, -5.8e3, 4e3, 7e3, 1e4, -1e4, 3e3, 2e3, 9e3, -9e3]])
    (low, high), clipped = viz.colour_range(spiky)
    assert -0.1 < low < 0.1 and 0.9 < high < 1.1
    assert 0.01 <= clipped <= 0.05
    (low, high), clipped = viz.colour_range(spiky, symmetric=True)
    assert low == -high and 0.9 < high < 1.1


@pytest.fixture(scope="module")
def spiky_sphere():
    """An icosphere with six spikes: their curvature is a thousand times the sphere's."""
    rng = np.random.default_rng(0)
    m = shapes.icosahedron(4)
    v = m.vertices.copy()
    v[rng.choice(len(v), 4, replace=False)] *= 1.4
    return preprocess(make_mesh(v, m.faces, name="spiky"))


def test_curvature_of_a_spiky_mesh_is_not_one_flat_colour(spiky_sphere, tmp_path):
    g = spiky_sphere
    curvature = g.angle_defect / g.vertex_area
    limit = np.abs(curvature).max()
    assert limit > 50  # the spikes' outliers (the sphere's curvature is about 1)
    viz.plot_curvature(g, screenshot=tmp_path / "robust.png", window_size=SIZE)
    viz.plot_curvature(g, clim=(-limit, limit), screenshot=tmp_path / "full.png", window_size=SIZE)
    for name, least in (("robust.png", 0.5), ("full.png", None)):
        pixels = read_png(tmp_path / name)
        mesh = drawn(pixels)
        mesh[int(0.7 * SIZE[1]) :] = False  # above the colour bar
        spread = colour_spread(pixels, "RdBu_r", mesh)
        if least is not None:
            assert spread[2] > least, spread  # positive curvature: the red third
        else:
            assert spread[1] > 0.8, spread  # negative control: the outliers' range leaves it white


def test_colour_spreads_over_the_map_and_the_bar_says_what_is_clipped(spiky_sphere, tmp_path):
    g = spiky_sphere
    values = g.vertices[:, 0].copy()
    values[:5] = [40.0, -40.0, 60.0, 50.0, -45.0]  # a few outliers
    viz.plot_scalar(g, values, "x", cmap="viridis", screenshot=tmp_path / "a.png", window_size=SIZE, view=(0, 0, 1))
    pixels = read_png(tmp_path / "a.png")
    mesh = drawn(pixels)
    mesh[int(0.7 * SIZE[1]) :] = False
    assert np.all(colour_spread(pixels, "viridis", mesh) > 0.15)
    plotter = viz.plot_scalar(g, values, "x", cmap="viridis", off_screen=True, window_size=SIZE)
    titles = list(plotter.scalar_bars.keys())
    plotter.close()
    clipped = np.mean((values < values[5:].min()) | (values > values[5:].max()))
    assert len(titles) == 1 and f"2-98th percentile: {100 * clipped:.1f}% of vertices beyond" in titles[0], titles


# ---------------------------------------------------------------------------- glyphs
def test_glyphs_are_spread_and_sized_so_that_they_do_not_overlap():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(2000, 3)) * [3.0, 1.0, 0.5]
    index = glyph_points(points, 300)
    assert len(index) <= 300 and len(set(index)) == len(index)
    room = glyph_room(points[index])
    norms = rng.lognormal(sigma=2.0, size=len(index))  # spread over orders of magnitude
    half = 0.5 * lengths(norms, room, 0.9)  # centred arrows
    chosen = points[index]
    distance = np.linalg.norm(chosen[:, None] - chosen[None], axis=2) + np.diag(np.full(len(index), np.inf))
    assert np.all(half[:, None] + half[None] < distance)
    assert np.median(2 * half / room) > 0.2  # the typical arrow is not a dot
    spacing = np.min(distance)
    assert spacing >= np.linalg.norm(np.ptp(points, axis=0)) / 30 - 1e-12  # not too crowded to see


def gradient_z(g):
    up = np.array([0.0, 0.0, 1.0])
    return np.c_[g.vertices[:, 2], g.frames[:, 0] @ up, g.frames[:, 1] @ up]


@pytest.mark.parametrize("spec", ["1x0 + 1x1", "1x2"])
def test_glyphs_are_visible(spec, tmp_path):
    g = preprocess(shapes.icosahedron(3))
    x = gradient_z(g) if spec == "1x0 + 1x1" else gradient_z(g)[:, 1:] ** 2
    viz.plot_field(g, x, spec, screenshot=tmp_path / "glyphs.png", window_size=SIZE)
    # the same picture without glyphs: the same colours, the same colour bar
    colour, cmap = (x[:, 0], "RdBu_r") if spec == "1x0 + 1x1" else (np.hypot(x[:, 0], x[:, 1]), "YlOrRd")
    viz.plot_scalar(g, colour, "|feature[0]|", cmap=lighter(cmap), screenshot=tmp_path / "plain.png", window_size=SIZE)
    viz.plot_field(g, x, spec, glyph_scale=0.2, screenshot=tmp_path / "tiny.png", window_size=SIZE)
    shares = [dark(read_png(tmp_path / f), 100)[:110].mean() for f in ("glyphs.png", "plain.png", "tiny.png")]
    with_glyphs, plain, tiny = shares
    assert with_glyphs > 0.01 + plain, shares  # at least 1% of the picture is glyphs
    assert tiny < 0.01 + plain, shares  # negative control: glyphs a fifth as large fail the check


# ---------------------------------------------------------------------------- views and panels
def test_views_and_panels_each_frame_their_mesh(tmp_path):
    g = preprocess(shapes.torus(n_major=24, n_minor=10))
    viz.plot_curvature(g, views=3, screenshot=tmp_path / "views.png", window_size=(480, 160))
    pixels = read_png(tmp_path / "views.png")
    for k in range(3):
        check_in_frame(pixels, (slice(0, 110), slice(160 * k, 160 * (k + 1))))
    labels = (g.vertices[:, 0] > 0).astype(int)
    panels = [
        partial(viz.plot_scalar, g, g.vertices[:, 2], "z"),
        partial(viz.plot_labels, g, labels, ["left", "right"], title="prediction"),
        partial(viz.plot_labels, g, 1 - labels, ["left", "right"], title="truth"),
    ]
    viz.plot_panels(panels, screenshot=tmp_path / "panels.png", window_size=(480, 160))
    pixels = read_png(tmp_path / "panels.png")
    for k in range(3):
        check_in_frame(pixels, (slice(0, 150), slice(160 * k + 1, 160 * (k + 1) - 1)))
    prediction, truth = pixels[:, 160:320], pixels[:, 320:]
    assert np.mean(np.abs(prediction.astype(int) - truth.astype(int))) > 5  # the labels swap colours


def digit_one():
    image = np.zeros((28, 28))
    image[4:24, 12:16] = 1.0  # a vertical bar
    return image


def test_sphere_signals_face_the_camera(tmp_path):
    rng = np.random.default_rng(0)
    rotations = [shapes.random_rotation(rng) for _ in range(2)]
    signals = np.stack([project_planar_image(digit_one(), 3, r)[:, 0] for r in rotations])
    viz.plot_sphere_signals(signals, ["1", "1"], rotations=rotations, screenshot=tmp_path / "a.png", window_size=SIZE)
    viz.plot_sphere_signals(signals, screenshot=tmp_path / "b.png", window_size=SIZE)
    # negative control: cameras where the unrotated digit would be
    viz.plot_sphere_signals(signals, rotations=[np.eye(3)] * 2, screenshot=tmp_path / "c.png", window_size=SIZE)
    for name, seen in (("a.png", True), ("b.png", True), ("c.png", False)):
        pixels = read_png(tmp_path / name)
        for k in range(2):
            panel = pixels[:, SIZE[0] // 2 * k : SIZE[0] // 2 * (k + 1)]
            bright = colour_spread(panel, "viridis", drawn(panel))[2]
            assert (bright > 0.04) == seen, (name, k, bright)


@pytest.mark.parametrize("surface3d", [False, True])
def test_strip_images_show_the_ink_and_the_glued_edges(surface3d, tmp_path):
    images = np.stack([digit_one(), digit_one().T])
    viz.plot_strip_images(images, ["a", "b"], surface3d=surface3d, screenshot=tmp_path / "s.png", window_size=SIZE)
    pixels = read_png(tmp_path / "s.png").astype(int)
    for k in range(2):
        panel = pixels[:, SIZE[0] // 2 * k : SIZE[0] // 2 * (k + 1)]
        ink = np.all(panel < 90, axis=2).mean()
        orange = ((panel[..., 0] > 200) & (panel[..., 1] > 90) & (panel[..., 1] < 170) & (panel[..., 2] < 80)).mean()
        assert ink > 0.01 and orange > 0.001, (k, ink, orange)


# ---------------------------------------------------------------------------- the quick start's picture
def test_quickstart_picture(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples" / "quickstart.py")
    quickstart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quickstart)
    assert quickstart.main([str(ROOT / "meshes" / "ant.obj"), "--out", str(tmp_path)]) == 0
    assert f"picture -> {tmp_path / 'ant.png'}" in capsys.readouterr().out
    pixels = read_png(tmp_path / "ant.png")[:480]  # above the colour bar
    mesh = check_in_frame(pixels, least=0.1)
    assert dark(pixels, 100).mean() > 0.01  # the output vectors are visible
    colours = pixels[mesh].astype(int)
    assert np.ptp(colours[:, 0] - colours[:, 2]) > 80  # the colour varies (from blue to red)
