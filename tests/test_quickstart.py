"""The README's main job (examples/quickstart.py) runs and reports exact equivariance."""

import importlib.util
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load_quickstart():
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples" / "quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_on_a_shipped_mesh(tmp_path, capsys):
    quickstart = _load_quickstart()
    assert quickstart.main([str(ROOT / "meshes" / "mobius.obj"), "--out", str(tmp_path), "--no-picture"]) == 0
    out = capsys.readouterr().out
    match = re.search(r"gauge equivariance error (\S+) \(float64\); with broken transporters (\S+)", out)
    assert match, out
    assert float(match.group(1)) < 1e-10
    assert float(match.group(2)) > 1e-3  # the negative control fails
    assert "structure group O2" in out
    with np.load(tmp_path / "mobius_features.npz", allow_pickle=False) as data:
        assert data["output"].shape[1] == 3 and np.isfinite(data["output"]).all()


def test_quickstart_bad_input_exits_2(tmp_path, capsys):
    quickstart = _load_quickstart()
    assert quickstart.main([str(tmp_path / "missing.obj"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
