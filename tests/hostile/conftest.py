"""Hostile-input tests: run this folder alone with ``pytest tests/hostile``."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m roadmark ARGS`` in a child process (its own stderr, its own exit status)."""
    return subprocess.run(
        [sys.executable, "-m", "roadmark", *args], capture_output=True, text=True, timeout=timeout
    )


def one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert exit 2 with exactly one stderr line holding every needle; return the line."""
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def cli():
    return run_cli
