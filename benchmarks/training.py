"""Training loops: many meshes, batches of meshes, torch.compile.

* ``--meshes``: a loop over 8 different meshes of about 10k vertices, each visited many times,
  against every mesh's own steady state (the same mesh again and again). Every geometry keeps its
  operators, so the loop should cost the sum of the steady states.
* ``--batch``: a batch of 8 tori of different sizes (4.6k to 5.6k vertices, 41k in all) against one
  torus of 41k vertices, per vertex: the batch made once and reused; a new batch of the same torch
  meshes every step (what ``gaugeconv.data.collate`` does with an in-memory dataset: the batch
  applies the operators its meshes keep, mesh by mesh); and a new batch made from numpy and
  converted every step (nothing kept: its operators are built in the step).
* ``--compile``: a GaugeResNet forward+backward, eager against ``torch.compile`` (inductor),
  after warm-up; the number of graphs and graph breaks from ``torch._dynamo.explain``.

Model: the GaugeConv of benchmarks/layers.py (``16x0 + 16x1 + 16x2`` in and out, 2 rings, band
limit 2) or, with ``--model resnet``, a GaugeResNet (``3x0`` in, hidden ``8x0 + 4x1 + 4x2``, 2 residual
blocks, band limit 2, mean pooling per mesh). Times are medians of interleaved repeats, float32.

Run::

    python benchmarks/training.py --meshes --batch --compile
    python benchmarks/training.py --batch --model resnet --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import numpy as np
import torch
from measure import timed

from gaugeconv import FieldType, Geometry, preprocess, shapes
from gaugeconv.models import GaugeResNet
from gaugeconv.nn import GaugeConv, operator_nbytes
from gaugeconv.testing import random_isometry

warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

TYPE = FieldType("16x0 + 16x1 + 16x2")
HIDDEN = FieldType("8x0 + 4x1 + 4x2")


def make_model(kind: str, device):
    torch.manual_seed(0)
    if kind == "resnet":
        return GaugeResNet(FieldType("3x0"), HIDDEN, out_dim=4, depth=2, band_limit=2, pool="mean").to(device)
    return GaugeConv(TYPE, TYPE, rings=2, band_limit=2).to(device)


def in_channels(kind: str) -> int:
    return 3 if kind == "resnet" else TYPE.dim


def train_step(model, x, geometry):
    model.zero_grad(set_to_none=True)
    model(x, geometry).square().mean().backward()


# ---------------------------------------------------------------------------------- many meshes
def eight_meshes():
    """Eight different meshes of about 10k vertices (orientable: the SO(2) types run on them)."""
    ico = shapes.icosahedron(5)
    return [
        ico,
        random_isometry(ico, rng=1)[0],
        shapes.torus(n_major=128, n_minor=80),
        shapes.torus(major_radius=1.0, minor_radius=0.2, n_major=256, n_minor=40),
        shapes.plane(nx=100, ny=100),
        shapes.disc(n_rings=58),
        shapes.cylinder(n_around=128, n_height=80),
        random_isometry(shapes.plane(nx=80, ny=125), rng=2)[0],
    ]


def many_meshes(args) -> None:
    device = args.device
    geometries = [preprocess(mesh).to_torch(torch.float32, device) for mesh in eight_meshes()]
    model = make_model(args.model, device)
    xs = [torch.randn(g.n_vertices, in_channels(args.model), device=device) for g in geometries]
    for g, x in zip(geometries, xs):  # first visits: every geometry builds its operators
        train_step(model, x, g)
    single = [[] for _ in geometries]
    rounds = []
    for _ in range(args.repeats):  # interleaved: each mesh alone (twice, the second timed), then one loop round
        for i, (g, x) in enumerate(zip(geometries, xs)):
            train_step(model, x, g)
            single[i].append(timed(lambda: train_step(model, x, g), device))
        rounds.append(timed(lambda: [train_step(model, x, g) for g, x in zip(geometries, xs)], device))
    steady = sum(statistics.median(t) for t in single)
    loop = statistics.median(rounds)
    sizes = ", ".join(str(g.n_vertices) for g in geometries)
    nbytes = sum(operator_nbytes(g) for g in geometries)
    print(f"8 meshes ({sizes} vertices), {args.model}, {args.repeats} rounds:")
    print(f"  sum of single-mesh steady states {steady * 1e3:8.1f} ms")
    print(f"  one round of the loop            {loop * 1e3:8.1f} ms   (ratio {loop / steady:.2f})")
    print(f"  operators kept by the 8 geometries: {nbytes / 2**20:.1f} MiB")


# ---------------------------------------------------------------------------------- batches
BATCH_TORI = [(80, 64), (96, 48), (64, 80), (100, 56), (72, 72), (120, 40), (90, 60), (128, 44)]


def batches(args) -> None:
    device = args.device
    parts = [preprocess(shapes.torus(n_major=a, n_minor=b)) for a, b in BATCH_TORI]
    n_batch = sum(g.n_vertices for g in parts)
    single = preprocess(shapes.torus(n_major=256, n_minor=160)).to_torch(torch.float32, device)
    reused = Geometry.batch(parts).to_torch(torch.float32, device)
    c = in_channels(args.model)
    model = make_model(args.model, device)
    x_single = torch.randn(single.n_vertices, c, device=device)
    x_batch = torch.randn(n_batch, c, device=device)

    meshes = [g.to_torch(torch.float32, device) for g in parts]  # kept, like collate's

    def new_batch():  # a new batch of the kept meshes: their operators, applied mesh by mesh
        train_step(model, x_batch, Geometry.batch(meshes))

    def new_geometry():  # a new geometry every step, nothing kept: operators built in the step
        train_step(model, x_batch, Geometry.batch(parts).to_torch(torch.float32, device))

    steps = {
        "one mesh": lambda: train_step(model, x_single, single),
        "batch, reused": lambda: train_step(model, x_batch, reused),
        "new batch of kept meshes": new_batch,
        "new geometry every step": new_geometry,
    }
    times = {name: [] for name in steps}
    for step in steps.values():
        step()  # warm-up (builds the operators of the reused geometries)
    for _ in range(args.repeats):
        for name, step in steps.items():
            times[name].append(timed(step, device))
    sizes = {name: n_batch for name in steps} | {"one mesh": single.n_vertices}
    base = statistics.median(times["one mesh"]) / single.n_vertices
    print(f"{args.model}: one torus of {single.n_vertices} vertices against 8 tori of {n_batch} in all")
    print(f"  sizes {', '.join(str(g.n_vertices) for g in parts)}")
    print(f"  {'':<24} {'vertices':>8} {'step ms':>9} {'us/vertex':>10} {'ratio':>6}")
    for name in steps:
        med = statistics.median(times[name])
        per = med / sizes[name]
        print(f"  {name:<24} {sizes[name]:>8} {med * 1e3:>9.1f} {per * 1e6:>10.3f} {per / base:>6.2f}")
    t = timed(lambda: Geometry.batch(parts).to_torch(torch.float32, device), device)
    print(f"  of which making the batch (Geometry.batch + to_torch): {t * 1e3:.1f} ms")


# ---------------------------------------------------------------------------------- compile
def compiled(args) -> None:
    import torch._dynamo

    device = args.device
    geometry = preprocess(shapes.icosahedron(args.level)).to_torch(torch.float32, device)
    model = make_model("resnet", device)
    x = torch.randn(geometry.n_vertices, 3, device=device)

    def step(x, geometry):
        return model(x, geometry).square().mean()

    def eager():
        model.zero_grad(set_to_none=True)
        step(x, geometry).backward()

    eager()  # the geometry builds its operators
    explanation = torch._dynamo.explain(step)(x, geometry)
    torch._dynamo.reset()
    fast = torch.compile(step)

    def compiled_step():
        model.zero_grad(set_to_none=True)
        fast(x, geometry).backward()

    first = timed(compiled_step, device)
    times = {"eager": [], "compiled": []}
    for _ in range(2):
        eager(), compiled_step()
    for _ in range(args.repeats):
        times["eager"].append(timed(eager, device))
        times["compiled"].append(timed(compiled_step, device))
    e, c = (statistics.median(times[k]) for k in ("eager", "compiled"))
    print(f"GaugeResNet ({HIDDEN}, 2 blocks) forward+backward, icosphere level {args.level}, V={geometry.n_vertices}")
    print(f"  torch._dynamo.explain: {explanation.graph_count} graph(s), {explanation.graph_break_count} break(s)")
    print(f"  first compiled call (compilation) {first:.1f} s")
    print(f"  eager {e * 1e3:.1f} ms, compiled {c * 1e3:.1f} ms (compiled / eager {c / e:.2f})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", action="store_true", help="a loop over 8 meshes")
    parser.add_argument("--batch", action="store_true", help="8 meshes of ~5k vertices against one of ~41k")
    parser.add_argument("--compile", action="store_true", help="torch.compile against eager")
    parser.add_argument("--model", choices=("conv", "resnet"), default="conv")
    parser.add_argument("--level", type=int, default=5, help="icosphere level for --compile")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    np.random.seed(0)
    name = torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {args.device} ({name}), {args.threads} thread(s), float32")
    if not (args.meshes or args.batch or args.compile):
        parser.error("choose at least one of --meshes, --batch, --compile")
    if args.meshes:
        many_meshes(args)
    if args.batch:
        batches(args)
    if args.compile:
        compiled(args)


if __name__ == "__main__":
    main()
