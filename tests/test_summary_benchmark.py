"""The CPU summary benchmark (benchmarks/summary.py) runs both ways on both models and
finds the kernel's maps within one level of PyTorch's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from roadmark.models import cpu_summary

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "summary.py"


def test_summary_benchmark_times_the_kernel_and_pytorch_on_both_models():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--frames", "1", "--size", "256x128",
         "--input-size", "128x64", "--repeats", "1"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    figures = json.loads(done.stdout)
    for name in ("trained", "random"):
        model = figures[name]
        assert model["forward_ms"] > 0 and model["torch_ms"] > 0
        if cpu_summary.fast_summary is not None:
            assert model["kernel_ms"] > 0 and model["kernel_ms_channels_last"] > 0
            assert model["max_level_difference"] <= 1
            assert model["labels_differ"].endswith("%")
