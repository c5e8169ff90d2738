"""Benchmark GaugeConv against an isotropic message-passing floor of the same width.

Both layers map ``16x0 + 16x1 + 16x2`` (80 channels) to the same, in float32, on icospheres of
10,242 (level 5) and 40,962 (level 6) vertices. GaugeConv: 2 rings, band limit 2. The floor:
gather the neighbours, mean, one linear map for the neighbours and one for the vertex itself.
Times are medians of interleaved repeats after warm-up; "first call" includes building the
per-geometry operators (cached afterwards). Peak memory is the growth of the peak resident set size
during the first forward+backward in a fresh process (geometry and layer already built; for
GaugeConv this includes building its cached operators, whose size is also reported alone).

Run::

    python benchmarks/layers.py                 # levels 5 and 6, 1 thread
    python benchmarks/layers.py --levels 4 5 --repeats 5 --threads 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time
import warnings

import torch
from torch import nn

from gaugeconv import FieldType, preprocess, shapes
from gaugeconv.nn import GaugeConv, operator_nbytes

warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

TYPE = FieldType("16x0 + 16x1 + 16x2")


class IsotropicConv(nn.Module):
    """The floor: ``y_p = W_n mean_{q -> p} x_q + W_s x_p + b``."""

    def __init__(self, channels: int):
        super().__init__()
        self.neighbours = nn.Linear(channels, channels, bias=False)
        self.self_ = nn.Linear(channels, channels)

    def forward(self, x, geometry):
        q, p = geometry.edge_index
        deg = torch.bincount(p, minlength=x.shape[0]).clamp(min=1).to(x.dtype)
        agg = torch.zeros_like(x).index_add_(0, p, x.index_select(0, q)) / deg[:, None]
        return self.neighbours(agg) + self.self_(x)


def make_layer(kind: str):
    torch.manual_seed(0)
    if kind == "floor":
        return IsotropicConv(TYPE.dim)
    return GaugeConv(TYPE, TYPE, rings=2, band_limit=2)


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _rss_peak_kib(reset: bool = False) -> int:
    """Peak resident set size (VmHWM) in KiB; ``reset`` first sets the peak to the current size."""
    if reset:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_memory_worker(kind, level, threads, queue):
    torch.set_num_threads(threads)
    geometry = preprocess(shapes.icosahedron(level)).to_torch(torch.float32)
    layer = make_layer(kind)
    x = torch.randn(geometry.n_vertices, TYPE.dim, requires_grad=True)
    before = _rss_peak_kib(reset=True)
    layer(x, geometry).square().sum().backward()  # first call: includes building GaugeConv's operators
    queue.put((_rss_peak_kib() - before) / 1024.0)  # MiB


def peak_memory(kind: str, level: int, threads: int) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_memory_worker, args=(kind, level, threads, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


def bench_level(level: int, repeats: int, threads: int) -> list:
    t0 = time.perf_counter()
    geometry = preprocess(shapes.icosahedron(level)).to_torch(torch.float32)
    prep = time.perf_counter() - t0
    print(f"icosphere level {level}: V={geometry.n_vertices}, E={geometry.n_edges} (preprocess {prep:.2f} s)")
    layers = {kind: make_layer(kind) for kind in ("floor", "gauge")}
    x = torch.randn(geometry.n_vertices, TYPE.dim, requires_grad=True)
    first = {}
    for kind, layer in layers.items():
        first[kind] = _timed(lambda: layer(x, geometry).square().sum().backward())

    def forward(layer):
        with torch.no_grad():
            layer(x, geometry)

    def train_step(layer):
        layer(x, geometry).square().sum().backward()

    times = {(kind, what): [] for kind in layers for what in ("fwd", "fwd+bwd")}
    for _ in range(2):  # warm-up
        for layer in layers.values():
            forward(layer)
            train_step(layer)
    for _ in range(repeats):  # interleaved, so load from other processes hits both alike
        for kind, layer in layers.items():
            times[(kind, "fwd")].append(_timed(lambda: forward(layer)))
            times[(kind, "fwd+bwd")].append(_timed(lambda: train_step(layer)))
    med = {key: statistics.median(v) * 1e3 for key, v in times.items()}
    cache = {"floor": 0.0, "gauge": operator_nbytes(geometry) / 2**20}
    memory = {kind: peak_memory(kind, level, threads) for kind in layers}
    rows = []
    for kind in layers:
        rows.append(
            (
                level,
                geometry.n_vertices,
                kind,
                med[(kind, "fwd")],
                med[(kind, "fwd+bwd")],
                med[(kind, "fwd+bwd")] / med[("floor", "fwd+bwd")],
                first[kind] * 1e3,
                memory[kind],
                cache[kind],
            )
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[5, 6])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), float32, {TYPE} -> {TYPE}")
    print(f"GaugeConv: {make_layer('gauge')}")
    n_floor = sum(p.numel() for p in make_layer("floor").parameters())
    print(f"floor: IsotropicConv({TYPE.dim} -> {TYPE.dim}), {n_floor} weights")
    rows = []
    for level in args.levels:
        rows += bench_level(level, args.repeats, args.threads)
    header = (
        f"{'level':>5} {'V':>7} {'layer':>6} {'fwd ms':>8} {'fwd+bwd ms':>11} {'ratio':>6} "
        f"{'1st call ms':>12} {'peak MiB':>9} {'cache MiB':>9}"
    )
    print()
    print(header)
    for level, V, kind, fwd, fb, ratio, first, mem, cache in rows:
        print(
            f"{level:>5} {V:>7} {kind:>6} {fwd:>8.1f} {fb:>11.1f} {ratio:>6.2f} "
            f"{first:>12.1f} {mem:>9.1f} {cache:>9.1f}"
        )
    print("ratio = fwd+bwd time / the floor's at the same level; peak = extra resident memory of the first fwd+bwd;")
    print("cache = GaugeConv's per-geometry sparse operators (built on the first call, kept between calls)")


if __name__ == "__main__":
    main()
