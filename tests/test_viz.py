"""gaugeconv.viz: every plot headless (EGL), its input checks, and ``gaugeconv render``.

Rendering is not optional here: on a machine without EGL these tests fail (CI installs
libegl1 libegl-mesa0 libgl1-mesa-dri). What the pictures show is checked in test_viz_pictures.py.
"""

import os
from functools import partial

import numpy as np
import pytest
from pictures import check_in_frame, difference, read_png

from gaugeconv import preprocess, save_geometry, save_mesh, shapes, viz
from gaugeconv.cli import main as gaugeconv
from gaugeconv.viz.glyphs import field_parts

SIZE = (240, 180)


@pytest.fixture(scope="module")
def sphere():
    return preprocess(shapes.icosahedron(2))  # 162 vertices


@pytest.fixture(scope="module")
def strip():
    return preprocess(shapes.mobius(n_length=24, n_width=5))


@pytest.fixture(scope="module")
def torus():
    return preprocess(shapes.torus(n_major=24, n_minor=10))


def check_picture(path, size=SIZE) -> np.ndarray:
    """The PNG has the requested size, is not blank, and the mesh is in the frame."""
    pixels = read_png(path)
    assert pixels.shape[:2] == (size[1], size[0])
    assert pixels.std() > 10.0, "blank picture"
    check_in_frame(pixels)
    return pixels


def gradient_z(g):
    """Features "1x0 + 1x1": z and its gradient on the unit sphere in gauge coordinates."""
    up = np.array([0.0, 0.0, 1.0])
    return np.c_[g.vertices[:, 2], g.frames[:, 0] @ up, g.frames[:, 1] @ up]


# ---------------------------------------------------------------------------- pictures
PLOTS = {
    "per_face": lambda g: viz.plot_scalar(
        g["sphere"], g["sphere"].vertices[g["sphere"].faces[:, 0], 0], "x", screenshot=g["path"], window_size=SIZE
    ),
    "scalar": lambda g: viz.plot_scalar(
        g["sphere"], g["sphere"].vertices[:, 2], "z", screenshot=g["path"], window_size=SIZE
    ),
    "field": lambda g: viz.plot_field(
        g["sphere"], gradient_z(g["sphere"]), "1x0 + 1x1", screenshot=g["path"], window_size=SIZE
    ),
    "order2": lambda g: viz.plot_field(
        g["sphere"], gradient_z(g["sphere"])[:, 1:] ** 2, "1x2", screenshot=g["path"], window_size=SIZE
    ),
    "frames": lambda g: viz.plot_frames(g["strip"], normals=True, screenshot=g["path"], window_size=SIZE),
    "transport": lambda g: viz.plot_transport(g["sphere"], 0, screenshot=g["path"], window_size=SIZE),
    "loop": lambda g: viz.plot_transport(g["sphere"], 0, loop=[40, 80], screenshot=g["path"], window_size=SIZE),
    "curvature": lambda g: viz.plot_curvature(g["torus"], screenshot=g["path"], window_size=SIZE),
    "structure": lambda g: viz.plot_structure(g["strip"], screenshot=g["path"], window_size=SIZE),
    "labels": lambda g: viz.plot_labels(
        g["torus"],
        (g["torus"].vertices[:, 0] > 0) + 2 * (g["torus"].vertices[:, 1] > 0),
        screenshot=g["path"],
        window_size=SIZE,
    ),
    "colors": lambda g: viz.plot_colors(
        g["sphere"], (g["sphere"].vertices + 1) / 2, "xyz", screenshot=g["path"], window_size=SIZE
    ),
    "views": lambda g: viz.plot_curvature(g["torus"], views=2, screenshot=g["path"], window_size=SIZE),
    "panels": lambda g: viz.plot_panels(
        [partial(viz.plot_scalar, g["sphere"], g["sphere"].vertices[:, 2], "z"), partial(viz.plot_frames, g["strip"])],
        screenshot=g["path"],
        window_size=SIZE,
    ),
    "sphere_signals": lambda g: viz.plot_sphere_signals(
        np.stack([g["sphere"].vertices[:, 2], g["sphere"].vertices[:, 0] ** 2]),
        ["z", "x^2"],
        screenshot=g["path"],
        window_size=SIZE,
    ),
    "strip_images": lambda g: viz.plot_strip_images(
        np.eye(8)[None].repeat(2, 0), ["a", "b"], screenshot=g["path"], window_size=SIZE
    ),
    "strip_surface": lambda g: viz.plot_strip_images(
        np.eye(8)[None], surface3d=True, screenshot=g["path"], window_size=SIZE
    ),
}


@pytest.mark.parametrize("kind", sorted(PLOTS))
def test_picture(kind, sphere, strip, torus, tmp_path):
    path = str(tmp_path / f"{kind}.png")
    plotter = PLOTS[kind]({"sphere": sphere, "strip": strip, "torus": torus, "path": path})
    assert plotter is not None
    if kind not in ("views", "panels", "sphere_signals", "strip_images"):  # several panels: see test_viz_pictures
        check_picture(path)
    assert read_png(path).shape[:2] == (SIZE[1], SIZE[0])
    assert sorted(os.listdir(tmp_path)) == [f"{kind}.png"]  # no temporary file left behind


def test_window_size_is_respected(sphere, tmp_path):
    path = tmp_path / "wide.png"
    viz.plot_curvature(sphere, screenshot=path, window_size=(300, 120))
    check_picture(path, size=(300, 120))


def test_different_fields_give_different_pictures(sphere, tmp_path):
    z, x = sphere.vertices[:, 2], sphere.vertices[:, 0]
    viz.plot_scalar(sphere, z, "v", screenshot=tmp_path / "z.png", window_size=SIZE)
    viz.plot_scalar(sphere, z, "v", screenshot=tmp_path / "z2.png", window_size=SIZE)
    viz.plot_scalar(sphere, x, "v", screenshot=tmp_path / "x.png", window_size=SIZE)
    same = difference(read_png(tmp_path / "z.png"), read_png(tmp_path / "z2.png"))
    assert same < 0.5  # rendering is deterministic
    assert difference(read_png(tmp_path / "z.png"), read_png(tmp_path / "x.png")) > 5.0

    features = gradient_z(sphere)
    turned = features.copy()
    turned[:, 1:] = np.c_[-features[:, 2], features[:, 1]]  # the vectors turned by 90 degrees, same norm
    viz.plot_field(sphere, features, "1x0 + 1x1", screenshot=tmp_path / "f.png", window_size=SIZE)
    viz.plot_field(sphere, turned, "1x0 + 1x1", screenshot=tmp_path / "t.png", window_size=SIZE)
    assert difference(read_png(tmp_path / "f.png"), read_png(tmp_path / "t.png")) > 1.0


def test_torch_features_and_geometry(sphere, tmp_path):
    import torch

    features = torch.tensor(gradient_z(sphere))
    viz.plot_field(
        sphere.to_torch(torch.float64), features, "1x0 + 1x1", screenshot=tmp_path / "a.png", window_size=SIZE
    )
    viz.plot_field(sphere, gradient_z(sphere), "1x0 + 1x1", screenshot=tmp_path / "b.png", window_size=SIZE)
    assert difference(read_png(tmp_path / "a.png"), read_png(tmp_path / "b.png")) < 0.5


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda g, p: viz.plot_scalar(g, np.zeros(5), screenshot=p), "values must have shape"),
        (lambda g, p: viz.plot_field(g, np.zeros((g.n_vertices, 2)), "1x0 + 1x1", screenshot=p), "features must"),
        (lambda g, p: viz.plot_field(g, np.zeros((g.n_vertices, 3)), "1x0 + 1x1", field=5, screenshot=p), "field"),
        (lambda g, p: viz.plot_transport(g, 10**6, screenshot=p), "source must be a vertex"),
        (lambda g, p: viz.plot_transport(g, 0, vector=(0, 0), screenshot=p), "vector must be"),
        (lambda g, p: viz.plot_frames(g, screenshot=p + ".jpg"), "must be a .png"),
        (lambda g, p: viz.plot_frames(g, view=(0, 0, 0), screenshot=p), "non-zero direction"),
        (lambda g, p: viz.plot_frames(g, up="w", screenshot=p), "up must be"),
        (lambda g, p: viz.plot_frames(g, views=0, screenshot=p), "views must be"),
        (lambda g, p: viz.plot_frames(g, zoom=-1, screenshot=p), "zoom must be"),
        (lambda g, p: viz.plot_frames(g, glyph_scale=0, screenshot=p), "glyph_scale"),
        (lambda g, p: viz.plot_scalar(g, g.vertices[:, 0], clim=(1, 0), screenshot=p), "clim"),
        (lambda g, p: viz.plot_labels(g, np.full(g.n_vertices, 0.5), screenshot=p), "whole numbers"),
        (lambda g, p: viz.plot_labels(g, np.full(g.n_vertices, 3), ["a", "b"], screenshot=p), "below the number"),
        (lambda g, p: viz.plot_colors(g, np.full((g.n_vertices, 3), 2.0), screenshot=p), "in \\[0, 1\\]"),
        (lambda g, p: viz.plot_panels([], screenshot=p), "non-empty"),
        (lambda g, p: viz.plot_panels([1, 2], screenshot=p), "callables"),
        (lambda g, p: viz.plot_panels([partial(viz.plot_frames, g)] * 3, shape=(1, 2), screenshot=p), "room for"),
        (lambda g, p: viz.plot_sphere_signals(np.zeros((2, 100)), screenshot=p), "10 \\* 4\\*\\*level"),
        (lambda g, p: viz.plot_sphere_signals(np.zeros((2, 162)), ["a"], screenshot=p), "one entry per"),
        (lambda g, p: viz.plot_strip_images(np.zeros((28, 28)), screenshot=p), "images must have shape"),
    ],
)
def test_bad_input_raises_without_writing(call, message, sphere, tmp_path):
    path = str(tmp_path / "out.png")
    with pytest.raises(ValueError, match=message):
        call(sphere, path)
    assert os.listdir(tmp_path) == []


def test_unknown_option_is_a_type_error(sphere, tmp_path):
    with pytest.raises(TypeError, match="unknown drawing option 'colour'"):
        viz.plot_curvature(sphere, colour="red", screenshot=tmp_path / "x.png")
    with pytest.raises(ValueError, match="with plotter= the picture is a panel"):
        viz.plot_curvature(sphere, plotter=object(), views=2)
    assert os.listdir(tmp_path) == []


def test_a_failing_panel_writes_nothing(sphere, tmp_path):
    panels = [partial(viz.plot_frames, sphere), partial(viz.plot_scalar, sphere, np.zeros(3))]
    with pytest.raises(ValueError, match="values must have shape"):
        viz.plot_panels(panels, screenshot=tmp_path / "p.png")
    assert os.listdir(tmp_path) == []


def glyphs_3d(g, features, field_type):
    """The arrows plot_field draws, in 3D: per field, k arrays (V, 3)."""
    out = []
    for kind, start, width in field_type:
        _, directions = field_parts(features[:, start : start + width], kind, field_type)
        out.append([viz.tangent_to_3d(g, d) for d in directions])
    return out


@pytest.mark.parametrize(
    "spec, group", [("1x1", "O2"), ("1x2", "O2"), ("2x3 + 1x1", "O2"), ("2xreg", "C6"), ("reg", "D4")]
)
def test_glyphs_do_not_depend_on_the_gauge(sphere, spec, group):
    """A gauge transformation h and features x -> rho(h^-1) x leave the 3D glyphs unchanged."""
    from gaugeconv.groups import FieldType, o2_inverse

    rng = np.random.default_rng(1)
    n = int(group[1:]) if group[0] in "CD" else 0
    angle = (
        rng.integers(0, n, sphere.n_vertices) * 2 * np.pi / n if n else rng.uniform(-np.pi, np.pi, sphere.n_vertices)
    )
    flip = (rng.random(sphere.n_vertices) < 0.5) & (group[0] != "C")
    field_type = FieldType(spec, group=group)
    x = rng.normal(size=(sphere.n_vertices, field_type.dim))
    moved = sphere.gauge_transform(angle, flip)
    before = glyphs_3d(sphere, x, field_type)
    after = glyphs_3d(moved, np.einsum("vij,vj->vi", field_type.rho(*o2_inverse(angle, flip)), x), field_type)
    wrong = glyphs_3d(moved, np.einsum("vij,vj->vi", field_type.rho(angle, flip), x), field_type)  # negative control

    def mismatch(a, b):  # the k arrows of a field at a vertex, as an unordered set
        pairs = zip(a, b)
        return max(
            np.max(np.min(np.linalg.norm(np.array(f)[:, None] - np.array(h)[None], axis=-1), 1)) for f, h in pairs
        )

    assert mismatch(before, after) < 1e-9
    assert mismatch(before, wrong) > 1e-2


# ---------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def files(tmp_path_factory, sphere):
    root = tmp_path_factory.mktemp("render")
    save_geometry(sphere, root / "sphere.npz")
    part = (sphere.vertices[:, 2] > 0).astype(np.int64)
    np.savez(root / "features.npz", grad=gradient_z(sphere), z=sphere.vertices[:, 2], part=part)
    return root


@pytest.mark.parametrize(
    "options",
    [
        ["--features", "{root}/features.npz", "--field", "grad", "--type", "1x0 + 1x1"],
        ["--features", "{root}/features.npz", "--field", "z"],
        ["--curvature", "--view", "1", "-1", "0.5", "--zoom", "0.9"],
        ["--transport", "3", "--loop", "40,80"],
        ["--frames"],
        [],
        ["--curvature", "--views", "2", "--up", "z"],
        ["--features", "{root}/features.npz", "--field", "z,angle_defect", "--clim", "-1", "1"],
        ["--features", "{root}/features.npz", "--field", "part", "--names", "south,north"],
        ["--features", "{root}/features.npz", "--field", "z,part,grad", "--type", "1x0 + 1x1"],
    ],
)
def test_render_writes_a_png(options, files, tmp_path, capsys):
    out = tmp_path / "out.png"
    argv = [
        "render",
        f"{files}/sphere.npz",
        *[o.format(root=files) for o in options],
        "--size",
        "200x150",
        "-o",
        str(out),
    ]
    assert gaugeconv(argv) == 0
    check_picture(out, size=(200, 150))
    assert str(out) in capsys.readouterr().out


def test_render_reads_a_mesh_file(tmp_path):
    save_mesh(shapes.torus(n_major=16, n_minor=8), str(tmp_path / "torus.obj"))
    assert (
        gaugeconv(
            ["render", str(tmp_path / "torus.obj"), "--curvature", "--size", "200x150", "-o", str(tmp_path / "t.png")]
        )
        == 0
    )
    check_picture(tmp_path / "t.png", size=(200, 150))


@pytest.mark.parametrize(
    "options, message",
    [
        (["--field", "nope", "--features", "{root}/features.npz"], "no array 'nope'"),
        (["--features", "{root}/features.npz"], "choose one with --field"),
        (["--features", "{root}/features.npz", "--field", "grad"], "pass --type"),
        (["--features", "{root}/features.npz", "--field", "grad", "--type", "1x1"], "features must have shape"),
        (["--features", "{root}/features.npz", "--field", "z", "--type", "1x7y"], "1x7y"),
        (["--features", "{root}/missing.npz", "--field", "z"], "missing.npz"),
        (["--transport", "100000"], "source must be a vertex"),
        (["--loop", "1,2"], "--loop needs --transport"),
        (["--size", "big"], "--size"),
        (["--frames", "-o", "{root}/out.jpg"], ".png"),
        (["--frames", "-o", "{root}/no/such/dir/out.png"], "does not exist"),
        (["--frames", "--views", "0"], "views must be"),
        (["--frames", "--up", "w"], "up must be"),
        (["--features", "{root}/features.npz", "--field", "z,z"], "distinct names"),
        (["--features", "{root}/features.npz", "--field", "z,part", "--views", "2"], "--views draws one array"),
        (["--features", "{root}/features.npz", "--field", "part", "--names", "a"], "below the number of names"),
        (["--curvature", "--names", "a,b"], "--names needs --features"),
        (["--curvature", "--clim", "1", "0"], "clim"),
    ],
)
def test_render_bad_input_fails_cleanly(options, message, files, capsys):
    before = sorted(os.listdir(files))
    options = [o.format(root=files) for o in options]
    if "-o" not in options:
        options += ["-o", f"{files}/bad.png"]
    assert gaugeconv(["render", f"{files}/sphere.npz", *options]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert sorted(os.listdir(files)) == before  # no PNG, no temporary file


def test_render_bad_file_fails_cleanly(tmp_path, capsys):
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    for name in ("broken.npz", "missing.obj"):
        assert gaugeconv(["render", str(tmp_path / name), "-o", str(tmp_path / "x.png")]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == ["broken.npz"]


def test_render_without_display_needs_an_output(files, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(viz._render.sys, "platform", "linux")
    assert gaugeconv(["render", f"{files}/sphere.npz", "--frames"]) == 2
    assert "pass -o" in capsys.readouterr().err


def test_pyvista_is_imported_only_when_drawing(sphere, tmp_path, monkeypatch):
    import subprocess
    import sys

    code = "import sys, gaugeconv.viz, gaugeconv.cli; gaugeconv.cli.build_parser(); print('pyvista' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "pyvista", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install gaugeconv\[viz\]"):
        viz.plot_frames(sphere, screenshot=tmp_path / "f.png")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "content, message",
    [
        (b"PK\x03\x04 not a zip at all", "cannot read as .npz"),
        (None, "features must be real numbers"),
    ],
)
def test_render_bad_features_file(files, tmp_path, capsys, content, message):
    path = tmp_path / "features.npz"
    if content is None:
        np.savez(path, z=np.ones(162, dtype=np.complex128))
    else:
        path.write_bytes(content)
    argv = ["render", f"{files}/sphere.npz", "--features", str(path), "--field", "z", "-o", str(tmp_path / "x.png")]
    assert gaugeconv(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["features.npz"]
