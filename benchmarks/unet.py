"""Benchmark: preprocessing with coarse levels, and U-Net forward+backward at ~40k vertices.

Everything is measured in one process and reported as ratios to a baseline of the same run:

* preprocessing: ``preprocess(mesh, levels=K)`` against ``preprocess(mesh)`` (no levels), for
  each way a level is made: a recognised subdivision (icosphere), a recognised grid (torus) and
  geodesic farthest-point sampling (the icosphere with ``coarsening="sample"``);
* scaling (``--scaling``): seconds per vertex of the levels alone, icospheres of 10k to 655k
  vertices, for the subdivision and the sampling;
* U-Net: the gauge U-Net (orders 0, 1, 2) against the isotropic floor, the same U-Net with scalar
  fields only and a similar parameter count, and against a single isotropic GaugeConv layer.

Run ``python benchmarks/unet.py`` (``--quick`` for small meshes). Preprocessing times are the
best of ``--repeats`` runs (the floor of a noisy machine), forward+backward times medians after
one warm-up (which also builds the cached sparse operators).
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


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_after_warmup(fn, repeats: int) -> float:
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


def preprocessing_table(args) -> None:
    level = 4 if args.quick else 6
    n_major, n_minor = (64, 40) if args.quick else (256, 160)
    cases = [
        (icosahedron(level), "auto", "subdivision"),
        (torus(n_major=n_major, n_minor=n_minor), "auto", "grid"),
        (icosahedron(level), "sample", "sampling"),
    ]
    print("\n| mesh | vertices | levels made by | preprocess | with levels | ratio | level sizes |")
    print("|---|---:|---|---:|---:|---:|---|")
    for mesh, coarsening, how in cases:
        plain = best(lambda mesh=mesh: preprocess(mesh), args.repeats)
        leveled = best(lambda m=mesh, c=coarsening: preprocess(m, levels=args.levels, coarsening=c), args.repeats)
        g = preprocess(mesh, levels=args.levels, coarsening=coarsening)
        sizes = " / ".join(str(lv.n_vertices) for lv in g.levels)
        print(
            f"| {mesh.name} | {mesh.n_vertices} | {how} | {plain:.3f} s | {leveled:.3f} s | "
            f"{leveled / plain:.1f}x | {sizes} |"
        )


def scaling_table(args) -> None:
    print("\n| mesh | vertices | plain µs/vertex | subdivision levels µs/vertex | sampled levels µs/vertex |")
    print("|---|---:|---:|---:|---:|")
    for level in (5, 6, 7, 8):
        mesh = icosahedron(level)
        repeats = args.repeats if level < 8 else 1
        plain = best(lambda mesh=mesh: preprocess(mesh), repeats)
        sub = best(lambda mesh=mesh: preprocess(mesh, levels=args.levels), repeats) - plain
        sam = best(lambda mesh=mesh: preprocess(mesh, levels=args.levels, coarsening="sample"), repeats) - plain
        v = mesh.n_vertices
        print(f"| {mesh.name} | {v} | {plain / v * 1e6:.2f} | {sub / v * 1e6:.2f} | {sam / v * 1e6:.2f} |")


def unet_table(args) -> None:
    geometry = preprocess(icosahedron(4 if args.quick else 6), levels=args.levels).to_torch(torch.float32)
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
        seconds = median_after_warmup(step(model, x, geometry), args.repeats)
        results.append((name, sum(p.numel() for p in model.parameters()), seconds))
    floor = results[1][2]
    for name, n, seconds in results:
        print(f"| {name} | {n} | {seconds * 1000:.0f} ms | {seconds / floor:.2f}x |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small meshes (2.5k vertices) instead of ~41k")
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scaling", action="store_true", help="also time the levels from 10k to 655k vertices")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, levels={args.levels}")
    preprocessing_table(args)
    if args.scaling:
        scaling_table(args)
    unet_table(args)


if __name__ == "__main__":
    main()
