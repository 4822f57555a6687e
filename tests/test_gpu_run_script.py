"""The one command a lent GPU machine runs (benchmarks/gpu_run.sh), rehearsed on the CPU at
small sizes: a GPU is lent rarely and for minutes, so the script and the benchmarks it runs
(gpu_check.py first) must not break unnoticed between GPU runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU_ONLY = {"bf16_label_flips", "host_copy", "no_sync_in_segmentation"}


def test_gpu_run_rehearsed_on_the_cpu_gives_every_figure(tmp_path: Path):
    out = tmp_path / "out"
    env = {**os.environ, "DEVICE": "cpu", "QUICK": "1", "OUT": str(out),
           "PYTHON": sys.executable, "GPU_WHEELS": str(tmp_path / "no-wheels"),
           "SKIP_BUILD": "1"}  # (the tree's compiled modules, as the other tests use them)
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_run.sh")], env=env,
                          capture_output=True, text=True, timeout=900)
    log = (out / "steps.log").read_text()
    assert done.returncode == 0, log + done.stderr[-2000:]
    ended = dict(re.findall(r"end (\w+): rc=(\d+)", log))
    assert ended == {"gpu_check": "0", "prelabel": "0", "writer": "0"}, log
    assert "MISSING" not in log and log.count("compiled module roadmark.") == 6
    # at most eight files come back from the device machine
    assert len(list(out.iterdir())) <= 8

    check = json.loads((out / "gpu_check.json").read_text())
    assert check["device"] == "cpu" and check["failed"] == []
    checks = {name: value for name, value in check.items()
              if isinstance(value, dict) and ("passed" in value or "skipped" in value)}
    assert {name for name, value in checks.items() if "skipped" in value} == GPU_ONLY
    assert {name for name, value in checks.items() if value.get("passed") is True} >= {
        "fp32_matches_cpu", "detector_fp32_matches_cpu", "detection_box_error",
        "device_decoding", "programs_on_device", "nan_raises", "training"}
    models = check["programs_on_device"]["models"]
    assert len(models) == 3 and all(m["ran"] and not m["stray_devices"] for m in models.values())

    speed = json.loads((out / "prelabel.json").read_text())["speed"]
    assert {(s["arch"], s["image_format"]) for s in speed} == {
        (arch, fmt) for arch in ("lraspp_mobilenet_v3_large", "demo-lraspp",
                                 "fasterrcnn_mobilenet_v3_large_fpn") for fmt in ("jpg", "png")}
    assert all(s["end_to_end_fps"] > 0 and s["forward_only_fps"] > 0 for s in speed)

    writer = json.loads((out / "writer.json").read_text())
    assert writer["random_weights"]["ms_per_frame"] > 0
    assert writer["trained_weights"]["ms_per_frame"] > 0
