"""Benchmark: geodesic neighbourhoods against the one-ring, at ~40k vertices.

For neighbourhood radii of 1, 2 and 3 mean edge lengths (``preprocess(mesh, radius=r)``) against
the one-ring edges (``radius=None``) of the same run: preprocessing time, neighbours per vertex,
how the neighbours spread over the two radial rings of GaugeConv (the 5th-95th percentile of
``log_r / max log_r`` and the mean weight of ring 0: on the one-ring every neighbour sits near
the outer ring), and GaugeConv forward+backward (orders 0, 1, 2; float32).

Run ``python benchmarks/neighbourhood.py`` (``--quick`` for the 2.5k-vertex icosphere).
Preprocessing times are the best of ``--repeats`` runs, forward+backward medians after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from gaugeconv import FieldType, preprocess
from gaugeconv.nn import GaugeConv
from gaugeconv.shapes import icosahedron


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="icosphere level 4 (2.5k vertices) instead of 6 (41k)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mesh = icosahedron(4 if args.quick else 6)
    conv_type = FieldType("8x0 + 4x1 + 4x2")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {mesh.name}, {mesh.n_vertices} vertices")
    print(
        "\n| edges | preprocess | vs one-ring | neighbours (mean) | log_r / max, 5th-95th pct | ring-0 weight |", end=""
    )
    print(" GaugeConv fwd+bwd | vs one-ring |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base_pre = base_conv = None
    for radius in (None, 1.0, 2.0, 3.0):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            g = preprocess(mesh, radius=radius)
            times.append(time.perf_counter() - start)
        pre = min(times)
        t = g.to_torch(torch.float32)
        conv = GaugeConv(conv_type, conv_type)
        x = torch.randn(g.n_vertices, conv_type.dim)

        def run(conv=conv, x=x, t=t):
            conv.zero_grad(set_to_none=True)
            conv(x, t).square().mean().backward()

        run()
        conv_times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run()
            conv_times.append(time.perf_counter() - start)
        fb = statistics.median(conv_times)
        base_pre, base_conv = base_pre or pre, base_conv or fb
        rel = g.log_r / g.log_r.max()
        ring0 = np.mean(np.clip(2 - 2 * rel, 0, 1))  # hat weight of ring 0 with rings=2
        lo, hi = np.percentile(rel, [5, 95])
        name = "one-ring" if radius is None else f"radius {radius:g} mean edges"
        print(
            f"| {name} | {pre:.3f} s | {pre / base_pre:.1f}x | {g.degree.mean():.1f} | {lo:.2f}-{hi:.2f} | "
            f"{ring0:.2f} | {fb * 1000:.0f} ms | {fb / base_conv:.1f}x |"
        )


if __name__ == "__main__":
    main()
