"""The decoding benchmark (benchmarks/decode.py) runs and finds the same pixels both ways."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "decode.py"


def test_decode_benchmark_prints_each_kind_with_the_same_pixels():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--frames", "2", "--size", "256x128", "--repeats", "1"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    figures = json.loads(done.stdout)
    assert figures["size"] == "256x128"
    for kind in ("png", "png_level9", "jpeg"):
        assert figures[kind]["same_pixels"] is True
        assert figures[kind]["roadmark_ms"] > 0 and figures[kind]["opencv_ms"] > 0
