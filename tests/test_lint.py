"""The code passes ruff (lint and format), the project's one linter."""

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["gaugeconv", "tests", "examples", "benchmarks"]
OPTIONS = ["--line-length", "120"]
CHECK_RULES = ["--select", "E,F,W,I"]


def _ruff():
    exe = shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is a test dependency: pip install -e .[test]")
    return exe


@pytest.mark.parametrize("command", [["check", *CHECK_RULES], ["format", "--check"]])
def test_ruff(command):
    result = subprocess.run(
        [_ruff(), *command, *OPTIONS, *TARGETS], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _unsafe_loads(source: str, where: str = "<string>") -> list:
    """Every call in ``source`` that may unpickle: ``np.load``/``numpy.load`` with ``allow_pickle``
    other than the literal False (its default is False, so leaving it out is safe), ``torch.load``
    without ``weights_only=True``, and anything from the ``pickle`` module (load, loads, Unpickler).
    One entry per offending call, ``"where:line: call"``."""
    offenders = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        keywords = {k.arg: k.value for k in node.keywords}
        literal = {k: v.value for k, v in keywords.items() if isinstance(v, ast.Constant)}
        bad = (
            (
                name in ("np.load", "numpy.load")
                and "allow_pickle" in keywords
                and literal.get("allow_pickle") is not False
            )
            or (name == "torch.load" and literal.get("weights_only") is not True)
            or name.startswith(("pickle.", "cPickle.", "dill.", "joblib.load"))
        )
        if bad:
            offenders.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return offenders


def test_the_pickle_check_finds_each_unsafe_call():
    source = """
import numpy as np, pickle, torch
np.load("a.npz", allow_pickle=False)
np.load("b.npz")
np.load("c.npz", allow_pickle=True)
np.load("d.npz", allow_pickle=flag)
torch.load("e.pt", weights_only=True)
torch.load("f.pt")
pickle.loads(data)
"""
    found = [line.split(": ", 1)[1] for line in _unsafe_loads(source)]
    assert found == [
        "np.load('c.npz', allow_pickle=True)",
        "np.load('d.npz', allow_pickle=flag)",
        "torch.load('f.pt')",
        "pickle.loads(data)",
    ]


def test_no_pickle_loading_of_user_files():
    """Every call in the package, the examples and the benchmarks that reads a file never unpickles."""
    offenders = []
    for folder in ("gaugeconv", "examples", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            offenders += _unsafe_loads(path.read_text(), str(path.relative_to(ROOT)))
    assert not offenders, offenders
