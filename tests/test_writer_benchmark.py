"""The writer benchmark (benchmarks/writer.py) runs both models and reports its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "writer.py"


def test_writer_benchmark_prints_each_model_per_thread_count():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--frames", "2", "--size", "512x256",
         "--input-size", "256x128", "--threads", "1,2", "--repeats", "1"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    figures = json.loads(done.stdout)
    assert figures["frame_size"] == "512x256" and figures["input_size"] == "256x128"
    for model in ("random_weights", "trained_weights"):
        found = figures[model]
        assert found["map_size"] == "256x128"  # half the frame size: pre-labeling's default
        assert set(found["threads"]) == {"1", "2"}
        assert all(t["frames_per_second"] > 0 for t in found["threads"].values())
        assert found["threads"]["1"]["speedup"] == 1.0 and found["ms_per_frame"] > 0
        assert 0.0 <= found["serial_share"] <= 1.0
        at = found["frames_per_second_at"]
        assert at["4"] <= at["8"] <= at["12"]  # more cores never estimated slower
        if figures["cpu_count"] < 2:  # no other core for the counting thread: not measured
            assert "gil_held_share" not in found
            continue
        assert 0.0 <= found["gil_held_share"] <= 1.0 and found["gil_ms_per_frame"] >= 0
        bound = found["gil_bound_frames_per_second"]
        assert bound is None or bound * found["ms_per_frame"] >= 999  # one frame's GIL at a time
    assert figures["trained_weights"]["regions_per_frame"] > 0
