"""Train a gauge-equivariant network on your own folder of meshes with a labels file.

    gaugeconv preprocess my_meshes/*.obj --cache my_cache --levels 2 --workers 4   # optional, in parallel
    python examples/train_folder.py my_meshes --labels my_meshes/labels.npz --cache my_cache --levels 2

The folder holds mesh files (obj, ply, off, stl, glb, gltf); the labels file (docs/data.md) is

* ``labels.npz``: one array per mesh, keyed by the file's stem, e.g.
  ``numpy.savez("labels.npz", __kind__="vertex", chair_01=labels_01, chair_02=labels_02)`` with one
  class per vertex of the file (``__kind__="face"``: per face; scalars: one class per mesh);
* ``labels.csv``: lines ``name,label``, one class (number or name) per mesh.

Per-vertex and per-face classes train a :class:`gaugeconv.models.GaugeUNet` (``--levels`` coarse
levels, at least 1) with cross entropy per vertex (per face: the mean of its corners' scores);
per-mesh classes a :class:`gaugeconv.models.GaugeResNet` with mean pooling. Inputs are the
rotation-invariant ``constant`` and ``curvature`` features by default (``--inputs``). Every mesh is
preprocessed once into the cache (``--cache``; in memory without it). The meshes are split at
random into training and test sets (``--test-share``); the script prints the accuracy on both and
saves the model's ``state_dict`` with ``--save``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from gaugeconv import FieldType, MeshError
from gaugeconv.data import MeshDataset, collate
from gaugeconv.models import GaugeResNet, GaugeUNet


def make_model(kind: str, in_dim: int, n_classes: int, levels: int) -> torch.nn.Module:
    in_type, out_type = FieldType(f"{in_dim}x0"), FieldType(f"{n_classes}x0")
    if kind == "mesh":
        return GaugeResNet(in_type, FieldType("16x0 + 8x1 + 8x2"), out_dim=n_classes, depth=2, pool="mean")
    widths = [FieldType("8x0 + 4x1 + 4x2"), FieldType("12x0 + 6x1 + 6x2"), FieldType("16x0 + 8x1 + 8x2")]
    widths += [widths[-1]] * max(levels + 1 - len(widths), 0)
    return GaugeUNet(in_type, out_type, widths[: levels + 1], rings=2)


def scores(model, batch, kind: str) -> torch.Tensor:
    """Class scores aligned with ``batch.y``: per vertex, per face (mean of its corners), per mesh."""
    out = model(batch.x, batch.geometry)
    return out[batch.geometry.faces].mean(1) if kind == "face" else out


@torch.no_grad()
def accuracy(model, loader, kind: str) -> float:
    model.eval()
    right = total = 0
    for batch in loader:
        pred = scores(model, batch, kind).argmax(-1)
        right += int((pred == batch.y).sum())
        total += batch.y.numel()
    model.train()
    return right / max(total, 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="folder of mesh files")
    parser.add_argument("--labels", required=True, help="labels file (.npz or .csv, see docs/data.md)")
    parser.add_argument("--cache", default=None, help="preprocessing cache folder (default: in memory)")
    parser.add_argument("--levels", type=int, default=2, help="coarse levels of the U-Net (default 2)")
    parser.add_argument("--inputs", default="constant,curvature", help="comma-separated input features")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=None, help="stop after this many training steps")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--test-share", type=float, default=0.2, help="share of meshes held out for testing")
    parser.add_argument("--repair", action="store_true", help="repair meshes while loading")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--save", default=None, help="write the trained model's state_dict here")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    try:
        data = MeshDataset.from_folder(
            args.folder,
            labels=args.labels,
            levels=args.levels,
            cache_dir=args.cache,
            inputs=tuple(args.inputs.split(",")),
            repair=args.repair,
        )
        kind = data.target_kind
        if kind != "mesh" and args.levels < 1:
            raise ValueError("per-vertex and per-face labels train a U-Net: use --levels 1 or more")
        data.prepare()
        classes = int(max(int(np.max(data[i].y)) for i in range(len(data)))) + 1
    except (ValueError, MeshError) as exc:
        print(f"train_folder: error: {exc}", file=sys.stderr)
        return 2
    order = np.random.default_rng(args.seed).permutation(len(data))
    n_test = int(round(args.test_share * len(data)))
    if len(data) > 1:
        n_test = min(max(n_test, 1), len(data) - 1)
    subsets = {"train": order[n_test:].tolist(), "test": order[:n_test].tolist()}
    loaders = {
        name: torch.utils.data.DataLoader(
            torch.utils.data.Subset(data, index),
            batch_size=args.batch_size,
            shuffle=name == "train",
            collate_fn=collate,
            num_workers=args.workers,
        )
        for name, index in subsets.items()
        if index
    }
    model = make_model(kind, data[0].x.shape[1], classes, args.levels)
    print(
        f"{len(data)} meshes ({len(subsets['train'])} train, {n_test} test), per-{kind} labels, {classes} classes, "
        f"inputs {args.inputs}; {type(model).__name__} with {sum(p.numel() for p in model.parameters())} parameters; "
        f"data ready in {time.perf_counter() - start:.1f} s"
    )
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step = 0
    for epoch in range(args.epochs):
        total = 0.0
        for batch in loaders["train"]:
            loss = F.cross_entropy(scores(model, batch, kind), batch.y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            step += 1
            if args.steps is not None and step >= args.steps:
                break
        print(f"epoch {epoch + 1}: loss {total / max(len(loaders['train']), 1):.3f}")
        if args.steps is not None and step >= args.steps:
            break
    print("\n| set | meshes | accuracy |\n|---|---:|---:|")
    for name, loader in loaders.items():
        print(f"| {name} | {len(subsets[name])} | {accuracy(model, loader, kind):.3f} |")
    if args.save:
        torch.save(model.state_dict(), args.save)
        print(f"model -> {args.save}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
