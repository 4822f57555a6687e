"""The effort model fitted to recorded time: which parameters, their error, the defaults."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from roadmark.cli import main
from roadmark.core.annotation import Box
from roadmark.core.effort import DEFAULT_COST_MODEL
from roadmark.core.effort_fit import MIN_SAMPLES, FrameSample, fit_effort, frame_sample
from roadmark.core.prediction import FramePrediction, RegionKind, UncertainRegion
from roadmark.core.timetracking import ActiveSpan
from roadmark.io.effort_samples import effort_samples
from roadmark.io.predictions import ranked_regions, set_regions_resolved, write_predictions
from roadmark.io.store import FrameSpec, Project
from roadmark.io.workflow import log_time

TRUE = {"frame_overhead_s": 30.0, "region_fix_s": 5.0, "vertex_s": 1.2, "box_check_s": 3.0}


def _samples(n: int, *, boxes: bool = True, noise: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        regions = int(rng.integers(1, 12))
        vertices = float(rng.uniform(2, 15) * regions)
        count = int(rng.integers(0, 5)) if boxes else 0
        seconds = (
            TRUE["frame_overhead_s"]
            + TRUE["region_fix_s"] * regions
            + TRUE["vertex_s"] * vertices
            + TRUE["box_check_s"] * count
            + rng.normal(0, noise)
        )
        out.append(FrameSample(i, seconds, regions, vertices, count))
    return out


def test_the_fit_recovers_the_seconds_with_their_errors():
    fit = fit_effort(_samples(40))
    assert set(fit.fitted) == set(TRUE) and fit.defaults == ()
    for name, (value, error) in fit.fitted.items():
        assert value == pytest.approx(TRUE[name], abs=max(4 * error, 0.05 * TRUE[name]))
        assert 0 < error < 0.5 * TRUE[name]
    assert fit.rmse_s == pytest.approx(1.0, rel=0.35)
    assert fit.model.vertex_s == fit.fitted["vertex_s"][0]
    data = fit.to_json()
    assert data["samples"] == 40 and set(data["fitted"]) == set(TRUE) and data["defaults"] == {}


def test_too_few_samples_keep_the_defaults_and_say_why():
    fit = fit_effort(_samples(MIN_SAMPLES - 1))
    assert fit.model == DEFAULT_COST_MODEL and fit.fitted == {}
    assert f"of the {MIN_SAMPLES} frames" in fit.reason
    assert fit.rmse_s is not None and fit.rmse_s > 5  # the defaults are off for this data
    assert fit_effort([]).rmse_s is None


def test_a_parameter_without_data_stays_default_and_none_goes_negative():
    fit = fit_effort(_samples(30, boxes=False))
    assert "box_check_s" not in fit.fitted and fit.defaults == ("box_check_s",)
    assert fit.model.box_check_s == DEFAULT_COST_MODEL.box_check_s
    # Time that falls with more regions cannot make a negative cost.
    odd = [FrameSample(i, 100.0 - 3 * i, i + 1, 4.0 * (i + 1), 0) for i in range(10)]
    fitted = fit_effort(odd)
    assert all(value >= 0 for value, _ in fitted.fitted.values())
    assert fitted.fitted["region_fix_s"] == (0.0, 0.0)


def test_frame_sample_counts_what_the_cost_model_charges():
    pixel = UncertainRegion(RegionKind.PIXELS, Box(0, 0, 48, 48), 900.0, 0.5, (7,), 400.0)
    box = UncertainRegion(RegionKind.BOX_SCORE, Box(0, 0, 10, 10), 100.0, 0.9, (26,), 50.0)
    sample = frame_sample(3, 60.0, [pixel, box], DEFAULT_COST_MODEL)
    assert (sample.regions, sample.boxes) == (1, 1)
    assert sample.vertices == pytest.approx(0.5 * DEFAULT_COST_MODEL.region_vertices(pixel.box))


def test_queue_effort_json_reports_the_fitted_parameters(tmp_path: Path, capsys):
    path = tmp_path / "p.roadmark"
    rng = np.random.default_rng(1)
    with Project.create(path) as project:
        ids, _ = project.add_frames(
            [FrameSpec(tmp_path / f"f{i}.png", None, 200, 100, "s", i) for i in range(12)]
        )
        predictions = []
        for fid in ids:
            n = int(rng.integers(1, 6))
            regions = tuple(
                UncertainRegion(
                    RegionKind.PIXELS,
                    Box(0, 0, float(rng.integers(20, 90)), 40),
                    800.0,
                    float(rng.uniform(0.3, 0.9)),
                    (7,),
                    100.0,
                )
                for _ in range(n)
            )
            predictions.append(FramePrediction(fid, "m", "d" * 64, "segmentation", regions=regions))
        write_predictions(project, predictions)
        by_frame: dict[int, list[UncertainRegion]] = {}
        for region in ranked_regions(project):
            by_frame.setdefault(region.frame_id, []).append(region)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        for fid in ids[:10]:  # ten frames reviewed, two left
            set_regions_resolved(project, [r.uid for r in by_frame[fid]])
            sample = frame_sample(fid, 0.0, by_frame[fid], DEFAULT_COST_MODEL)
            seconds = 30 + 5 * sample.regions + 1.2 * sample.vertices + rng.normal(0, 0.5)
            log_time(project, [ActiveSpan(fid, "review", now, seconds)], user="ann")
        assert len(effort_samples(project)) == 10
    assert main(["queue", str(path), "--effort", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    cost = data["cost_model"]
    assert cost["samples"] == 10
    assert set(cost["fitted"]) == {"frame_overhead_s", "region_fix_s", "vertex_s"}
    assert cost["fitted"]["vertex_s"]["value"] == pytest.approx(1.2, abs=0.3)
    assert set(cost["defaults"]) == {"box_check_s"} and cost["rmse_s"] < 2
    assert main(["queue", str(path), "--effort"]) == 0
    assert "cost model: fitted to 10 frames" in capsys.readouterr().out


def test_a_region_costs_the_vertices_of_its_outline():
    import shapely

    band = shapely.box(0, 0, 240, 4)  # a thin band: 488 px around, in a 240 x 240 box
    thin = UncertainRegion(
        RegionKind.PIXELS, Box(0, 0, 240, 240), 960.0, 1.0, (7,), 10.0, outline=band
    )
    boxed = replace(thin, outline=None)
    assert DEFAULT_COST_MODEL.outline_vertices(thin) == 21  # ceil(488 / 24)
    assert DEFAULT_COST_MODEL.outline_vertices(boxed) == 40  # ceil(960 / 24)
    assert DEFAULT_COST_MODEL.region_seconds(thin) == 8 + 21 * 2
