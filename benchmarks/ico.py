"""IcoConv forward+backward vs a plain conv2d on the same grid, and vs the mesh-path GaugeConv.

For each level r, with C = 6 F channels (F C6-regular fields):
- IcoConv(F x reg -> F x reg) on an atlas tensor (B, C, V): one zero-padded conv2d over the five
  charts as a batch, the ring correction (transported border cells times the kernel's outer
  taps), the corner rule, and the layout copies from and back to the atlas tensor;
- baseline: F.conv2d on (5 B, C, 2^r, 2^(r+1)) with zero padding 1 and a dense 3x3 kernel, the
  same grid size and channel count (what a non-equivariant chart CNN costs);
- gaugeconv.nn.GaugeConv on the icosphere's Geometry (same V), SO(2) type "2Fx0 + Fx1 + Fx2"
  (C channels; C6 types cannot run there: the corners' transporters are not multiples of 60 degrees).

Times are medians over repeats (IcoConv and conv2d alternating), in one process, float32. Usage:
    python benchmarks/ico.py [--levels 4 5 6] [--fields 8] [--batch 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torch.nn import functional as F

from gaugeconv import preprocess
from gaugeconv.groups import FieldType
from gaugeconv.ico import IcoAtlas, IcoConv
from gaugeconv.shapes import icosahedron


def timed(steps, repeats):
    """Median time of each step; the steps alternate so that load changes hit them alike."""
    for step in steps:
        step()  # warm-up
    times = [[] for _ in steps]
    for _ in range(repeats):
        for step, record in zip(steps, times):
            t0 = time.perf_counter()
            step()
            record.append(time.perf_counter() - t0)
    return [statistics.median(record) for record in times]


def fwd_bwd(fn, x):
    def step():
        x.grad = None
        fn(x).square().sum().backward()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[4, 5, 6])
    parser.add_argument("--fields", type=int, default=8, help="regular fields F (C = 6 F channels)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-mesh", action="store_true", help="skip the mesh-path GaugeConv")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    f, b = args.fields, args.batch
    c = 6 * f
    reg = FieldType(f"{f}xreg", group="C6")
    print(f"forward+backward, batch {b}, C = {c} channels, float32, {args.threads} thread(s), median of repeats")
    print()
    print("| level | V | conv2d (ms) | IcoConv (ms) | IcoConv / conv2d | GaugeConv mesh (ms) | GaugeConv / IcoConv |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for level in args.levels:
        repeats = max(5, 2 ** (9 - level))
        atlas = IcoAtlas(level)
        n = atlas.n
        conv = IcoConv(reg, reg, atlas)
        x_ico = torch.randn(b, c, atlas.n_vertices, requires_grad=True)
        weight = torch.randn(c, c, 3, 3, requires_grad=True)
        x_plain = torch.randn(5 * b, c, n, 2 * n, requires_grad=True)
        plain_step = fwd_bwd(lambda x, w=weight: F.conv2d(x, w, padding=1), x_plain)
        t_plain, t_ico = timed([plain_step, fwd_bwd(conv, x_ico)], repeats)
        mesh_cell, ratio_cell = "-", "-"
        if not args.no_mesh:
            from gaugeconv.nn import GaugeConv

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                geometry = preprocess(icosahedron(level, sphere=True)).to_torch(torch.float32)
            so2 = FieldType(f"{2 * f}x0 + {f}x1 + {f}x2")
            gconv = GaugeConv(so2, so2)
            x_mesh = torch.randn(b, atlas.n_vertices, so2.dim, requires_grad=True)
            (t_mesh,) = timed([fwd_bwd(lambda x, m=gconv, g=geometry: m(x, g), x_mesh)], max(2, repeats // 2))
            mesh_cell, ratio_cell = f"{1e3 * t_mesh:.1f}", f"{t_mesh / t_ico:.2f}"
        print(
            f"| {level} | {atlas.n_vertices} | {1e3 * t_plain:.1f} | {1e3 * t_ico:.1f} | {t_ico / t_plain:.2f} "
            f"| {mesh_cell} | {ratio_cell} |"
        )


if __name__ == "__main__":
    main()
