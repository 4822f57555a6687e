"""The deflate benchmark (benchmarks/deflate.py) runs, catches the maps' rows and finds
the compiled module's streams identical to zlib's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from roadmark.io import deflate

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "deflate.py"


def test_deflate_benchmark_compresses_every_map_both_ways():
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--frames", "2", "--size", "512x256", "--repeats", "1"],
        capture_output=True, text=True, check=True, timeout=300,
    )
    figures = json.loads(done.stdout)
    assert figures["maps"] == 8  # four maps a frame
    assert figures["compiled"] is deflate.COMPILED
    assert figures["maps_ms"]["zlib"] > 0 and figures["write_frame_ms"]["zlib"] > 0
    if deflate.COMPILED:
        assert figures["same_bytes"] is True
        assert figures["maps_ms"]["compiled"] > 0 and figures["write_frame_ms"]["compiled"] > 0
