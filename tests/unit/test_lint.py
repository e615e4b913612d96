"""ruff and ``mypy --strict`` are part of the test suite, so CI runs them on every change."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import MYPY, ROOT


def test_ruff() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "toctou_sim", "tests"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy(request: pytest.FixtureRequest) -> None:
    """``mypy`` with the project's settings (``strict = true`` in pyproject.toml)."""
    process = request.config.stash.get(MYPY, None)
    if process is None:
        process = subprocess.Popen([sys.executable, "-m", "mypy"], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    assert "Success" in output
