"""A 1,000,000-vertex mesh end to end: make it, preprocess it, and run a 4-layer GaugeResNet
forward+backward on it, printing the time and the peak memory of every stage.

The network: a lifting GaugeConv, one residual block (two GaugeConvs, batch norm, gated
nonlinearity) and a final GaugeConv to a per-vertex ``0 + 1`` output: four GaugeConv layers
(2 rings, band limit 2), float32. The first forward+backward builds the operators the geometry
keeps (two signatures: the lifting layer's and the hidden layers'); the second runs warm.

Meshes: ``--shape torus`` (default: a torus grid of ``n x n`` vertices, ``n = sqrt(vertices)``),
``--shape icosphere`` (the level whose size is closest); ``--relabel`` shuffles the vertex order
(scans rarely come in a cache-friendly order).

Run::

    python benchmarks/large.py                                  # 1M vertices, hidden 8x0 + 4x1 + 4x2
    python benchmarks/large.py --vertices 250000 --hidden "16x0 + 8x1 + 8x2" --device cuda
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import torch

from gaugeconv import FieldType, preprocess, shapes
from gaugeconv.models import GaugeResNet
from gaugeconv.nn import operator_nbytes
from gaugeconv.testing import random_isometry

warnings.filterwarnings("ignore", message="The given NumPy array is not writable")


def rss_mib(peak: bool = False) -> float:
    field = "VmHWM:" if peak else "VmRSS:"
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no /proc/self/status: the memory figures need Linux")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


class Stage:
    """Times a stage and reports the process's peak resident memory during it (and CUDA's)."""

    peaks: list = []  # the peak resident memory of every stage, GiB

    def __init__(self, name: str, device):
        self.name, self.device = name, torch.device(device)

    def __enter__(self):
        reset_peak()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - self.t
        self.peaks.append(rss_mib(peak=True) / 1024)
        line = f"  {self.name:<34} {seconds:8.2f} s   peak RSS {self.peaks[-1]:6.2f} GiB"
        if self.device.type == "cuda":
            line += f"   peak CUDA {torch.cuda.max_memory_allocated(self.device) / 2**30:6.2f} GiB"
        print(line, flush=True)


def make_mesh(args):
    if args.shape == "icosphere":
        level = min(range(12), key=lambda r: abs(10 * 4**r + 2 - args.vertices))
        mesh = shapes.icosahedron(level)
    else:
        n = round(math.sqrt(args.vertices))
        mesh = shapes.torus(n_major=n, n_minor=n)
    return random_isometry(mesh, rng=0)[0] if args.relabel else mesh


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vertices", type=int, default=1_000_000)
    parser.add_argument("--shape", choices=("torus", "icosphere"), default="torus")
    parser.add_argument("--relabel", action="store_true", help="shuffle the vertex order")
    parser.add_argument("--hidden", default="8x0 + 4x1 + 4x2", help="hidden field type")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {device} ({name}), {args.threads} thread(s), float32")
    print(f"process at start: {rss_mib() / 1024:.2f} GiB resident")
    with Stage("make the mesh", device):
        mesh = make_mesh(args)
    print(f"  {args.shape}{' (relabelled)' if args.relabel else ''}: {mesh.n_vertices} vertices, {mesh.n_faces} faces")
    with Stage("preprocess (numpy)", device):
        geometry = preprocess(mesh)
    del mesh
    with Stage("to_torch", device):
        geometry = geometry.to_torch(torch.float32, device)
    print(f"  {geometry.n_vertices} vertices, {geometry.n_edges} directed edges")
    torch.manual_seed(0)
    hidden = FieldType(args.hidden)
    model = GaugeResNet(FieldType("3x0"), hidden, depth=1, out_type=FieldType("0 + 1"), band_limit=2, rings=2).to(
        device
    )
    convs = sum(1 for m in model.modules() if type(m).__name__ == "GaugeConv")
    print(
        f"  GaugeResNet 3x0 -> {hidden} -> 0 + 1: {convs} GaugeConv layers, "
        f"{sum(p.numel() for p in model.parameters())} weights"
    )
    x = torch.randn(geometry.n_vertices, 3, device=device)
    target = torch.randn(geometry.n_vertices, 3, device=device)

    def step():
        model.zero_grad(set_to_none=True)
        loss = (model(x, geometry) - target).square().mean()
        loss.backward()
        return float(loss.detach())

    with Stage("forward+backward, first (builds)", device):
        step()
    ops = operator_nbytes(geometry)
    print(f"  operators kept on the geometry: {ops / 2**30:.2f} GiB ({ops / geometry.n_vertices:.0f} B/vertex)")
    with Stage("forward+backward, second", device):
        loss = step()
    assert np.isfinite(loss)
    print(f"loss {loss:.4f}; peak resident memory of the whole run {max(Stage.peaks):.2f} GiB")


if __name__ == "__main__":
    main()
