"""The pre-labeling benchmark (benchmarks/prelabel.py) times the pipeline against forward
only and lists every end-to-end run it was asked for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "prelabel.py"


def test_prelabel_benchmark_lists_each_end_to_end_run_with_its_idle_cores():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--frames", "6", "--distinct", "2", "--size",
         "256x128", "--input-size", "128x64", "--skip-quality", "--archs",
         "lraspp_mobilenet_v3_large", "--image-formats", "jpg", "--repeat-end-to-end", "2",
         "--device", "cpu"],
        capture_output=True, text=True, check=True, timeout=600,
    )
    (speed,) = json.loads(done.stdout)["speed"]
    assert speed["frames"] == 6 and speed["end_to_end_fps"] > 0 and speed["ratio"] > 0
    runs = speed["end_to_end_runs"]
    assert len(runs) == 2 and runs[0]["fps"] == speed["end_to_end_fps"]
    assert all(run["fps"] > 0 and "idle_core_seconds" in run for run in runs)
    cpu = speed["cpu_ms_per_frame"]  # decoded in threads of the process on a CPU
    assert 0 < cpu["decode"] < cpu["process"] and cpu["writer"] > 0
    assert 0 < speed["ratio_if_only_decoding_added"] < 1


def test_prelabel_benchmark_refuses_a_repeat_below_one():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--repeat-end-to-end", "0"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and "--repeat-end-to-end" in done.stderr
