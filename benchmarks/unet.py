"""Benchmark: preprocessing with coarse levels, and U-Net forward+backward at ~40k vertices.

Everything is measured in one process and reported as ratios to a baseline of the same run:

* preprocessing: ``preprocess(mesh, levels=K)`` against ``preprocess(mesh)`` (no levels);
* U-Net: the gauge U-Net (orders 0, 1, 2) against the isotropic floor, the same U-Net with scalar
  fields only and a similar parameter count, and against a single isotropic GaugeConv layer.

Run ``python benchmarks/unet.py`` (``--quick`` for a small mesh). Times are medians of
``--repeats`` runs after one warm-up (which also builds the cached sparse operators).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gaugeconv import FieldType, preprocess
from gaugeconv.models import GaugeUNet
from gaugeconv.nn import GaugeConv
from gaugeconv.shapes import icosahedron, torus


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step(model, x, geometry):
    def run():
        model.zero_grad(set_to_none=True)
        model(x, geometry).square().mean().backward()

    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="icosphere level 4 (2.5k vertices) instead of 6 (41k)")
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    level = 4 if args.quick else 6
    meshes = [icosahedron(level), torus(n_major=256 if not args.quick else 64, n_minor=160 if not args.quick else 40)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, levels={args.levels}")
    print("\n| mesh | vertices | preprocess | with levels | ratio | level sizes |")
    print("|---|---:|---:|---:|---:|---|")
    geometry = None
    for mesh in meshes:
        plain = timed(lambda mesh=mesh: preprocess(mesh), 1)
        leveled = timed(lambda mesh=mesh: preprocess(mesh, levels=args.levels), 1)
        g = preprocess(mesh, levels=args.levels)
        sizes = " / ".join(str(lv.n_vertices) for lv in g.levels)
        print(
            f"| {mesh.name} | {mesh.n_vertices} | {plain:.2f} s | {leveled:.2f} s | {leveled / plain:.1f}x | {sizes} |"
        )
        geometry = geometry or g
    geometry = geometry.to_torch(torch.float32)
    k = args.levels
    gauge = GaugeUNet(
        FieldType("4x0 + 1x2"),
        FieldType("6x0"),
        [FieldType(f"{8 * 2 ** min(i, 2)}x0 + {4 * 2 ** min(i, 2)}x1 + {4 * 2 ** min(i, 2)}x2") for i in range(k + 1)],
    )
    iso = GaugeUNet(FieldType("4x0"), FieldType("6x0"), [FieldType(f"{20 * 2 ** min(i, 2)}x0") for i in range(k + 1)])
    single = GaugeConv(FieldType("4x0"), FieldType("20x0"))
    V = geometry.n_vertices
    x_gauge, x_iso = torch.randn(V, gauge.in_type.dim), torch.randn(V, 4)
    rows = [
        ("isotropic GaugeConv layer 4x0 -> 20x0", single, x_iso),
        ("isotropic U-Net (scalars only)", iso, x_iso),
        ("gauge U-Net (orders 0, 1, 2)", gauge, x_gauge),
    ]
    print(f"\nU-Net forward+backward on {geometry.name} ({V} vertices, {k} coarse levels)\n")
    print("| model | parameters | forward+backward | vs isotropic U-Net |")
    print("|---|---:|---:|---:|")
    results = []
    for name, model, x in rows:
        seconds = timed(step(model, x, geometry), args.repeats)
        results.append((name, sum(p.numel() for p in model.parameters()), seconds))
    floor = results[1][2]
    for name, n, seconds in results:
        print(f"| {name} | {n} | {seconds * 1000:.0f} ms | {seconds / floor:.2f}x |")


if __name__ == "__main__":
    main()
