"""The code passes ruff (lint and format), the project's one linter."""

import shutil
import subprocess
import sys
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


def test_no_pickle_loading_of_user_files():
    """np.load must never allow pickles and torch.load must be weights-only."""
    offenders = []
    for path in (ROOT / "gaugeconv").rglob("*.py"):
        text = path.read_text()
        if "allow_pickle=True" in text or "pickle.load" in text:
            offenders.append(str(path))
        if "torch.load(" in text and "weights_only=True" not in text:
            offenders.append(str(path))
    assert not offenders, offenders
    assert sys.version_info >= (3, 9)
