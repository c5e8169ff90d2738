"""Benchmark GaugeConv against an isotropic message-passing floor of the same width, warm and cold.

Both layers map ``16x0 + 16x1 + 16x2`` (80 channels) to the same, in float32, on icospheres
(level 5: 10,242 vertices, 6: 40,962, 7: 163,842, 8: 655,362). GaugeConv: 2 rings, band limit 2.
The floor: gather the neighbours, mean, one linear map for the neighbours and one for the vertex
itself.

* Warm (default): medians of interleaved repeats after warm-up; "1st call" includes building
  GaugeConv's operators on the geometry; "peak" is the growth of the peak resident set during the
  first forward+backward in a fresh process; "operators" the bytes the geometry keeps for the layer.
* Cold (``--cold LEVELS``): one fresh process per level (after a warm-up on a 42-vertex mesh, so
  that the process's own first-call costs are not counted): the first forward+backward on the
  mesh against later ones, time and peak memory (peak resident set of the process on CPU, peak
  allocated memory on CUDA), and the peak memory per vertex above the process's baseline (before
  the mesh existed), which should not depend on the mesh's size.

Run::

    python benchmarks/layers.py                           # warm, levels 5 and 6, 1 thread
    python benchmarks/layers.py --levels 4 5 --repeats 5 --threads 2
    python benchmarks/layers.py --cold 5 6 7 8            # first call against later calls
    python benchmarks/layers.py --device cuda             # on a GPU
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
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


def make_layer(kind: str, device="cpu"):
    torch.manual_seed(0)
    layer = IsotropicConv(TYPE.dim) if kind == "floor" else GaugeConv(TYPE, TYPE, rings=2, band_limit=2)
    return layer.to(device)


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def rss_kib(peak: bool = False) -> int:
    """Current (or peak: VmHWM) resident set size of this process, KiB (Linux)."""
    field = "VmHWM:" if peak else "VmRSS:"
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError("no /proc/self/status: the memory figures need Linux")


def reset_peak(device) -> None:
    """Set the peak to the current usage: VmHWM (CPU) or CUDA's peak allocated memory."""
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")


def memory_mib(device, peak: bool = True) -> float:
    if torch.device(device).type == "cuda":
        return (torch.cuda.max_memory_allocated(device) if peak else torch.cuda.memory_allocated(device)) / 2**20
    return rss_kib(peak) / 1024.0


def icosphere(level: int, device):
    return preprocess(shapes.icosahedron(level)).to_torch(torch.float32, device)


def fresh(worker, *args):
    """``worker(*args, queue)`` in a fresh (spawned) process; its answer."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=worker, args=(*args, queue))
    proc.start()
    value = queue.get()
    proc.join()
    return value


# ---------------------------------------------------------------------------------- warm
def _peak_memory_worker(kind, level, threads, device, queue):
    torch.set_num_threads(threads)
    geometry = icosphere(level, device)
    layer = make_layer(kind, device)
    x = torch.randn(geometry.n_vertices, TYPE.dim, requires_grad=True, device=device)
    sync(device)
    reset_peak(device)
    before = memory_mib(device, peak=True)
    layer(x, geometry).square().sum().backward()  # first call: includes building GaugeConv's operators
    sync(device)
    queue.put(memory_mib(device, peak=True) - before)


def bench_level(level: int, repeats: int, threads: int, device) -> list:
    t0 = time.perf_counter()
    geometry = icosphere(level, device)
    prep = time.perf_counter() - t0
    print(f"icosphere level {level}: V={geometry.n_vertices}, E={geometry.n_edges} (preprocess {prep:.2f} s)")
    layers = {kind: make_layer(kind, device) for kind in ("floor", "gauge")}
    x = torch.randn(geometry.n_vertices, TYPE.dim, requires_grad=True, device=device)
    first = {}
    for kind, layer in layers.items():
        first[kind] = timed(lambda: layer(x, geometry).square().sum().backward(), device)

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
            times[(kind, "fwd")].append(timed(lambda: forward(layer), device))
            times[(kind, "fwd+bwd")].append(timed(lambda: train_step(layer), device))
    med = {key: statistics.median(v) * 1e3 for key, v in times.items()}
    ops = {"floor": 0.0, "gauge": operator_nbytes(geometry) / 2**20}
    memory = {kind: fresh(_peak_memory_worker, kind, level, threads, device) for kind in layers}
    rows = []
    for kind in layers:
        ratio = med[(kind, "fwd+bwd")] / med[("floor", "fwd+bwd")]
        rows.append(
            (level, geometry.n_vertices, kind, med[(kind, "fwd")], med[(kind, "fwd+bwd")], ratio)
            + (first[kind] * 1e3, memory[kind], ops[kind])
        )
    return rows


def warm(args) -> None:
    print(f"GaugeConv: {make_layer('gauge')}")
    n_floor = sum(p.numel() for p in make_layer("floor").parameters())
    print(f"floor: IsotropicConv({TYPE.dim} -> {TYPE.dim}), {n_floor} weights")
    rows = []
    for level in args.levels:
        rows += bench_level(level, args.repeats, args.threads, args.device)
    print()
    print(
        f"{'level':>5} {'V':>7} {'layer':>6} {'fwd ms':>8} {'fwd+bwd ms':>11} {'ratio':>6} "
        f"{'1st call ms':>12} {'peak MiB':>9} {'operators MiB':>14}"
    )
    for level, V, kind, fwd, fb, ratio, first, mem, ops in rows:
        print(
            f"{level:>5} {V:>7} {kind:>6} {fwd:>8.1f} {fb:>11.1f} {ratio:>6.2f} {first:>12.1f} {mem:>9.1f} {ops:>14.1f}"
        )
    print("ratio = fwd+bwd time / the floor's at the same level; peak = extra memory of the first fwd+bwd")
    print("(fresh process); operators = what the geometry keeps for GaugeConv (built on the first call)")


# ---------------------------------------------------------------------------------- cold
def _cold_worker(level, threads, device, later, queue):
    torch.set_num_threads(threads)
    layer = make_layer("gauge", device)
    tiny = icosphere(1, device)  # the process's own first-call costs, on another mesh
    layer(torch.randn(tiny.n_vertices, TYPE.dim, device=device), tiny).sum().backward()
    del tiny
    sync(device)
    baseline = memory_mib(device, peak=False)
    geometry = icosphere(level, device)
    x = torch.randn(geometry.n_vertices, TYPE.dim, requires_grad=True, device=device)
    result = {"V": geometry.n_vertices, "E": geometry.n_edges, "times": [], "peaks": []}
    for _ in range(1 + later):
        x.grad = None
        sync(device)
        reset_peak(device)
        result["times"].append(timed(lambda: layer(x, geometry).square().sum().backward(), device))
        result["peaks"].append(memory_mib(device, peak=True) - baseline)
    result["operators"] = operator_nbytes(geometry)
    queue.put(result)


def cold(args) -> None:
    print(f"GaugeConv: {make_layer('gauge')}; one fresh process per level, first call vs {args.later} later calls")
    print()
    print(
        f"{'level':>5} {'V':>7} {'E':>8} {'first s':>8} {'later s':>8} {'ratio':>6} {'peak1 MiB':>10} "
        f"{'peak MiB':>9} {'ratio':>6} {'peak B/V':>9} {'ops B/V':>8}"
    )
    for level in args.cold:
        r = fresh(_cold_worker, level, args.threads, args.device, args.later)
        first, later = r["times"][0], statistics.median(r["times"][1:])
        peak1, peak = r["peaks"][0], max(r["peaks"][1:])
        print(
            f"{level:>5} {r['V']:>7} {r['E']:>8} {first:>8.2f} {later:>8.2f} {first / later:>6.2f} {peak1:>10.0f} "
            f"{peak:>9.0f} {peak1 / peak:>6.2f} {peak1 * 2**20 / r['V']:>9.0f} {r['operators'] / r['V']:>8.0f}",
            flush=True,
        )
    print("first/later: the first forward+backward on the mesh (building its operators) / the median of later ones;")
    print("peak1/peak: peak memory above the process's baseline (before the mesh existed) in the first call / the")
    print("largest in a later call; peak B/V: peak1 per vertex; ops B/V: the operators the geometry keeps, per vertex")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, nargs="+", default=[5, 6])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--cold", type=int, nargs="+", metavar="LEVEL", help="first vs later calls at these levels")
    parser.add_argument("--later", type=int, default=3, help="later calls measured with --cold")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    name = torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {args.device} ({name}), {args.threads} thread(s), float32")
    if args.cold:
        cold(args)
    else:
        warm(args)


if __name__ == "__main__":
    main()
