"""Regenerate the pictures of README.md and docs/visualisation.md that need no training.

Writes the inputs (meshes, preprocessed geometries, feature files) to ``build/gallery/`` and the
PNGs to ``docs/images/``, printing every command (``gaugeconv render`` or the Python call) so it
can be rerun by hand:

    python examples/render_gallery.py [--inputs build/gallery] [--images docs/images]

The pictures of trained models' results are made by the examples that train them (minutes each;
the commands are listed in docs/visualisation.md, "Results"). Needs pyvista
(``pip install gaugeconv[viz]``); renders off-screen (EGL on a headless machine).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import time
from functools import partial
from pathlib import Path

import numpy as np

from gaugeconv import load_geometry, load_mesh, make_mesh, preprocess, shapes, viz
from gaugeconv.cli import main as gaugeconv
from gaugeconv.groups import FieldType, o2_inverse

EXAMPLES = Path(__file__).resolve().parent


def run(*argv: str) -> None:
    print("$ gaugeconv " + " ".join(shlex.quote(a) for a in argv), flush=True)
    status = gaugeconv(list(argv))
    if status != 0:
        raise SystemExit(f"gaugeconv {argv[0]} failed with status {status}")


def ant_mesh(path: str) -> None:
    """pyvista's bundled ant, cleaned (triangles, merged duplicate points), as PLY.

    The ant is 15 closed surfaces (body parts, legs, antennae); gaugeconv keeps every component.
    """
    from pyvista import examples

    surface = examples.load_ant().triangulate().clean()
    faces = np.asarray(surface.faces).reshape(-1, 4)[:, 1:]
    make_mesh(np.asarray(surface.points, np.float64), faces)  # raises if the cleaned mesh is invalid
    surface.save(path, binary=True)


def smooth_random(geometry, waves: int = 4, seed: int = 0) -> np.ndarray:
    """A smooth random invariant function (V,): a sum of plane waves in random directions."""
    rng = np.random.default_rng(seed)
    size = np.ptp(geometry.vertices, axis=0).max()
    k = rng.normal(size=(waves, 3)) * (2.5 / size)  # wavelengths of about half the mesh
    return np.sin(geometry.vertices @ k.T + rng.uniform(0, 2 * np.pi, waves)).sum(1) / waves


def random_network(geometry, signal: np.ndarray, seed: int = 0) -> np.ndarray:
    """Scalar output (V,) of a random two-layer GaugeConv network (1x0 -> 4x0 + 4x1 -> 1x0)."""
    import torch

    from gaugeconv.groups import FieldType
    from gaugeconv.nn import GaugeConv

    torch.manual_seed(seed)
    hidden = FieldType("4x0 + 4x1")
    layers = [GaugeConv(FieldType("1x0"), hidden), GaugeConv(hidden, FieldType("1x0"))]
    x, g = torch.tensor(signal)[:, None], geometry.to_torch(torch.float64)
    with torch.no_grad():
        for layer in layers:
            x = layer.double()(x, g)
    return x[:, 0].numpy()


def example(name: str):
    """One of the example scripts as a module (for its data functions)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def say(text: str) -> None:
    print(">>> " + text, flush=True)


def spiky_sphere(seed: int = 0):
    """A finely meshed sphere with a little noise and four spikes: a scan's outliers in curvature."""
    rng = np.random.default_rng(seed)
    sphere = shapes.icosahedron(4)
    vertices = sphere.vertices * (1 + 0.0001 * rng.normal(size=(sphere.n_vertices, 1)))
    vertices[rng.choice(sphere.n_vertices, 4, replace=False)] *= 1.4
    return make_mesh(vertices, sphere.faces, name="noisy sphere")


def great_circle(a, b, n: int) -> np.ndarray:
    """``n`` points from unit vector a towards b along their great circle (b excluded)."""
    t = np.linspace(0.0, 1.0, n, endpoint=False)[:, None]
    angle = np.arccos(np.clip(np.dot(a, b), -1, 1))
    return (np.sin((1 - t) * angle) * a + np.sin(t * angle) * b) / np.sin(angle)


def nearest(geometry, point) -> int:
    return int(np.argmin(np.linalg.norm(geometry.vertices - np.asarray(point, np.float64), axis=1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", default="build/gallery", help="where meshes and features are written")
    parser.add_argument("--images", default="docs/images", help="where the PNGs are written")
    args = parser.parse_args()
    src, img = args.inputs, args.images
    os.makedirs(src, exist_ok=True)
    os.makedirs(img, exist_ok=True)
    start = time.perf_counter()

    # 1. a real mesh coloured by a feature: a random gauge-equivariant network's scalar output on the ant
    ant_mesh(f"{src}/ant.ply")
    ant = preprocess(load_mesh(f"{src}/ant.ply"))
    signal = smooth_random(ant)
    np.savez(f"{src}/ant_features.npz", input=signal, output=random_network(ant, signal))
    run("render", f"{src}/ant.ply", "--features", f"{src}/ant_features.npz", "--field", "output",
        "-o", f"{img}/ant_feature.png")  # fmt: skip

    # 2. an icosphere with a vector field: z (scalar) and its gradient (order 1) in the gauges
    run("shape", "icosahedron", "--level", "3", "-o", f"{src}/icosphere.npz")
    ico = load_geometry(f"{src}/icosphere.npz")
    up = np.array([0.0, 0.0, 1.0])
    grad = np.stack([ico.frames[:, 0] @ up, ico.frames[:, 1] @ up], 1)  # tangent part of z-hat, gauge coords
    angle = np.arctan2(grad[:, 1], grad[:, 0])
    norm = np.linalg.norm(grad, axis=1)
    np.savez(
        f"{src}/icosphere_features.npz",
        grad_z=np.c_[ico.vertices[:, 2], grad],  # "1x0 + 1x1"
        line_field=norm[:, None] ** 2 * np.stack([np.cos(2 * angle), np.sin(2 * angle)], 1),  # "1x2"
    )
    run("render", f"{src}/icosphere.npz", "--features", f"{src}/icosphere_features.npz", "--field", "grad_z",
        "--type", "1x0 + 1x1", "--up", "z", "-o", f"{img}/icosphere_gradient.png")  # fmt: skip
    run("render", f"{src}/icosphere.npz", "--features", f"{src}/icosphere_features.npz", "--field", "line_field",
        "--type", "1x2", "--up", "z", "-o", f"{img}/icosphere_order2.png")  # fmt: skip

    # 3. the Möbius strip: frames and the seam of flipped transporters
    run("shape", "mobius", "-o", f"{src}/mobius.npz")
    run("render", f"{src}/mobius.npz", "--structure", "-o", f"{img}/mobius_structure.png")

    # 4. curvature of a torus: positive outside, negative inside
    run("shape", "torus", "-o", f"{src}/torus.npz")
    run("render", f"{src}/torus.npz", "--curvature", "-o", f"{img}/torus_curvature.png")

    # 5. transport on the icosphere: around an octant (holonomy = its area, 90 degrees) and everywhere
    x, y, z = np.eye(3)
    points = np.concatenate(
        [great_circle(x, y, 8)[4:], great_circle(y, z, 8), great_circle(z, x, 8), great_circle(x, y, 8)[:4]]
    )
    a, *loop = dict.fromkeys(nearest(ico, point) for point in points)  # waypoints along the octant's sides
    run("render", f"{src}/icosphere.npz", "--transport", str(a), "--loop", ",".join(map(str, loop)),
        "--view", "1", "1", "0.5", "--up", "z", "-o", f"{img}/icosphere_holonomy.png")  # fmt: skip
    run("render", f"{src}/icosphere.npz", "--transport", str(a), "--view", "-1", "-0.3", "0.3", "--up", "z",
        "-o", f"{img}/icosphere_transport.png")  # fmt: skip

    # 6. a noisy mesh: the default colour range leaves out the spikes' outliers (and says so)
    noisy = preprocess(spiky_sphere())
    curvature = noisy.angle_defect / noisy.vertex_area
    limit = float(np.abs(curvature).max())
    say("viz.plot_panels([plot_curvature(noisy), plot_curvature(noisy, clim=(-max, max))]) -> robust_colours.png")
    viz.plot_panels(
        [
            partial(viz.plot_curvature, noisy, title="default range"),
            partial(viz.plot_curvature, noisy, clim=(-limit, limit), title="the whole range"),
        ],
        screenshot=f"{img}/robust_colours.png",
    )

    # 7. labels, two views: the body parts of examples/segmentation.py, front and back
    segmentation = example("segmentation")
    base, parts = segmentation.load_ant()
    np.savez(f"{src}/ant_parts.npz", part=parts)
    run("render", "meshes/ant.obj", "--features", f"{src}/ant_parts.npz", "--field", "part",
        "--names", ",".join(segmentation.CLASSES), "--views", "2", "-o", f"{img}/ant_parts.png")  # fmt: skip

    # 8. a feature before and after a random gauge transformation: other numbers, the same arrows
    rng = np.random.default_rng(0)
    angle, flip = rng.uniform(-np.pi, np.pi, ico.n_vertices), np.zeros(ico.n_vertices, bool)
    moved = ico.gauge_transform(angle, flip)
    turned = np.einsum("vij,vj->vi", FieldType("1x1").rho(*o2_inverse(angle, flip)), grad)  # rho(h^-1) x
    change = float(np.mean(np.linalg.norm(turned - grad, axis=1)))
    print(f"    the gauge coordinates move by {change:.2f} on average (the vectors' norms: {np.mean(norm):.2f})")
    say("viz.plot_panels([plot_field(ico, grad), plot_field(moved, rho(g^-1) grad)]) -> gauge_change.png")
    viz.plot_panels(
        [
            partial(viz.plot_field, ico, grad, "1x1", name="grad z", title="in the stored gauges"),
            partial(viz.plot_field, moved, turned, "1x1", name="grad z", title="random gauges"),
        ],
        screenshot=f"{img}/gauge_change.png",
    )

    # 9. the quick start's picture: a GaugeResNet's output on the ant
    quick = f"{src}/quickstart"
    say(f"python examples/quickstart.py meshes/ant.obj --out {quick}; mv {quick}/ant.png {img}/quickstart_ant.png")
    if example("quickstart").main(["meshes/ant.obj", "--out", quick]) != 0:
        raise SystemExit("examples/quickstart.py failed")
    os.replace(f"{quick}/ant.png", f"{img}/quickstart_ant.png")

    total = sum(os.path.getsize(os.path.join(img, f)) for f in os.listdir(img) if f.endswith(".png"))
    print(f"done in {time.perf_counter() - start:.1f} s; {img}: {total / 1024:.0f} KiB of PNG")


if __name__ == "__main__":
    main()
