"""The sources pass ruff and mypy (both configured in pyproject.toml, both in the test extras)."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    pytest.importorskip("ruff", reason="ruff is in the test extras")
    r = _run("ruff", "check", "--no-cache", "--output-format", "concise", "python", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_is_clean():
    pytest.importorskip("mypy", reason="mypy is in the test extras")
    r = _run("mypy", "--no-incremental")
    assert r.returncode == 0, r.stdout + r.stderr
