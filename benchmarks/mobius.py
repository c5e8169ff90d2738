"""Training-step time of the Möbius example's models, and NormNonlinearity's shortcuts against its general path.

For every model of ``examples/mobius_digits.py`` (parameter counts matched to the seam-padded
CNN's): one training step (forward, backward, Adam) on a batch of 128 random 28 x 28 strips,
median over interleaved repeats after warm-up, and its ratio to the seam-padded CNN's step
measured in the same process. For the gauge models also the same step with every
``NormNonlinearity`` forced onto its general path (norms summed over each field's channels, both
branches computed for every channel: the layer before its shortcuts for types with only
trivial/regular fields or with one-channel norm fields), and the ratio of the two.

Run::

    python benchmarks/mobius.py                          # the example's widths, 1 thread
    python benchmarks/mobius.py --channels 12 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import mobius_digits as md  # noqa: E402
from measure import timed  # noqa: E402

from gaugeconv.nn import NormNonlinearity  # noqa: E402


def general_path(model: torch.nn.Module) -> torch.nn.Module:
    """Force every NormNonlinearity of ``model`` onto its general path (same values, no shortcut)."""
    for layer in model.modules():
        if isinstance(layer, NormNonlinearity):
            layer._all_pointwise, layer._one_channel_norms, layer._any_pointwise = False, False, True
    return model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=8, help="the example's --channels")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, y = torch.randn(128, 1, md.SIZE, md.SIZE), torch.randint(0, 10, (128,))
    steps = {}
    for key, make in md.build_models(args.channels, 5, list(md.NAMES)).items():
        variants = [(key, make())]
        if key in md.FIELDS:
            variants.append((key + " (general path)", general_path(make())))
        for name, model in variants:
            optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step(model=model, optimiser=optimiser):
                optimiser.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimiser.step()

            steps[name] = (model, step)
    for _, step in steps.values():  # warm-up
        step(), step()
    times = {name: [] for name in steps}
    for _ in range(args.repeats):  # interleaved: load changes hit every variant alike
        for name, (_, step) in steps.items():
            times[name].append(timed(step))
    ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch 128, --channels {args.channels}")
    print("| model | fields / channels per stage | params | ms / step | / seam CNN | shortcuts: general / now |")
    print("|---|---|---:|---:|---:|---:|")
    for key in md.NAMES:
        model, _ = steps[key]
        general = ms.get(key + " (general path)")
        speedup = f"{general / ms[key]:.2f}" if general else ""
        print(
            f"| {md.NAMES[key]} | {md.describe(model)} | {md.n_params(model)} | {ms[key]:.0f} | "
            f"{ms[key] / ms['seam']:.2f} | {speedup} |"
        )


if __name__ == "__main__":
    main()
