"""The GPU correctness script (benchmarks/gpu_check.py) is the first thing a GPU run executes,
and a GPU is lent rarely: its dry run on the CPU must pass here, every check either passed
or skipped for want of a GPU, so that the script cannot break unnoticed between GPU runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
GPU_ONLY = {"bf16_label_flips", "host_copy", "no_sync_in_segmentation"}


def test_gpu_check_dry_run_passes_every_check_it_can_run_on_a_cpu():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--device", "cpu", "--size", "512x256", "--frames", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["device"] == "cpu" and report["failed"] == []
    checks = {name: value for name, value in report.items()
              if isinstance(value, dict) and ("passed" in value or "skipped" in value)}
    assert {name for name, value in checks.items() if "skipped" in value} == GPU_ONLY
    ran = {name for name, value in checks.items() if value.get("passed") is True}
    assert ran >= {"fp32_matches_cpu", "detector_fp32_matches_cpu", "detection_box_error",
                   "programs_on_device", "nan_raises", "training"}
    assert report["training"]["fp32"]["steps"] == 20
    models = report["programs_on_device"]["models"]
    assert all(m["ran"] and not m["stray_devices"] for m in models.values()) and len(models) == 3
