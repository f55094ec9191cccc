"""pyflakes-class checks over the whole tree (undefined names, unused imports and variables,
syntax errors): a missing import must fail here, not in a request handler."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_no_undefined_names_or_unused_imports():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed")
    out = subprocess.run([ruff, "check", "--select", "F,E9", "--no-cache", "collector", "tests", "bench", "scripts"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-4000:]
