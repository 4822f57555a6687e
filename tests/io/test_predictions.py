"""The prediction store, uncertainty regions and the predictions export format."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

from roadmark.analysis.uncertainty import RegionParams, box_regions, pixel_regions
from roadmark.core.annotation import Box, FrameStatus
from roadmark.core.prediction import FramePrediction, PredictedBox, SegmentationMaps
from roadmark.core.workflow import Action
from roadmark.io import tables as t
from roadmark.io.formats import Capability, registered_formats
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import export_dataset
from roadmark.io.prediction_writer import PredictionWriter, prepare
from roadmark.io.predictions import (
    PredictionError,
    decode_png,
    delete_predictions,
    encode_png,
    pack,
    predicted_frame_ids,
    prediction_models,
    ranked_regions,
    read_prediction,
    set_regions_resolved,
    write_packed,
    write_predictions,
)
from roadmark.io.store import FrameSpec, Project
from roadmark.io.workflow import events, move

ROAD, SKY, CAR = 7, 23, 26


@pytest.fixture
def project(store_location: str, tmp_path: Path) -> Project:
    """On both back ends: a project file, then a PostgreSQL database."""
    project = Project.create(store_location)
    project.add_frames(
        [
            FrameSpec(tmp_path / f"city_000000_00000{i}_leftImg8bit.png", None, 64, 32, "s", i)
            for i in range(3)
        ]
    )
    yield project
    project.close()


def _maps(seed: int = 0) -> SegmentationMaps:
    rng = np.random.default_rng(seed)
    labels = np.full((16, 32), ROAD, np.uint8)
    labels[:6] = SKY
    confidence = rng.integers(100, 256, (16, 32), dtype=np.uint8)
    margin = (confidence // 2).astype(np.uint8)
    entropy = (255 - confidence).astype(np.uint8)
    return SegmentationMaps(labels, confidence, margin, entropy, 64, 32)


def test_store_keeps_maps_losslessly_and_apart_from_labels(project: Project):
    first, second, _ = (f.id for f in project.frames())
    maps = _maps()
    boxes = (PredictedBox(CAR, 0.5, Box(1, 2, 30, 20), flip_iou=0.25),)
    prediction = FramePrediction(first, "m", "a" * 64, "segmentation", maps, boxes)
    with PredictionWriter(project, params=RegionParams(min_area=1), workers=2) as writer:
        writer.submit(prediction)
        writer.submit(replace(prediction, frame_id=second, maps=_maps(1)))
    assert writer.stored == 2
    back = read_prediction(project, first, "m")
    assert back is not None and back.maps is not None
    for name in ("label_ids", "confidence", "margin", "entropy"):
        assert np.array_equal(getattr(back.maps, name), getattr(maps, name))
    assert back.boxes == boxes and back.regions and back.regions[0].frame_id == first
    assert project.objects(first).live() == []
    assert project.frame(first).status is FrameStatus.PRELABELED
    assert predicted_frame_ids(project, "m", "a" * 64) == {first, second}
    assert predicted_frame_ids(project, "m", "b" * 64) == set()
    assert prediction_models(project) == {"m": 2}
    # A second prediction of the same model replaces the first, regions included.
    with PredictionWriter(project) as writer:
        writer.submit(replace(prediction, boxes=(), maps=_maps(2)))
    assert read_prediction(project, first, "m").boxes == ()
    assert all(r.frame_id != first or r.kind == "pixels" for r in ranked_regions(project))
    uid = ranked_regions(project)[0].uid
    set_regions_resolved(project, [uid])
    assert uid not in {r.uid for r in ranked_regions(project)}
    assert uid in {r.uid for r in ranked_regions(project, include_resolved=True)}
    assert delete_predictions(project, "m", [first]) == 1
    assert read_prediction(project, first) is None and ranked_regions(project, frame_id=first) == []


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (37, 53)])
def test_stored_map_pngs_decode_to_the_same_values_in_any_decoder(dtype: type, shape):
    from PIL import Image

    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    top = np.iinfo(dtype).max
    array = rng.integers(0, top, size=shape, endpoint=True).astype(dtype)
    array.flat[0], array.flat[-1] = top, 0  # rows that wrap around modulo 256
    data = encode_png(array)
    assert np.array_equal(decode_png(data, what="map"), array)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), array)
    with pytest.raises(PredictionError, match="cannot store"):
        encode_png(array.astype(np.float32))
    with pytest.raises(PredictionError, match="cannot store"):
        encode_png(np.zeros((0, 4), dtype=dtype))


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (512, 1024)])
def test_stored_expected_errors_are_the_sum_pixel_by_pixel(shape):
    rng = np.random.default_rng(shape[0])
    level = rng.integers(0, 256, size=shape).astype(np.uint8)
    maps = SegmentationMaps(level, level, level, level, 2 * shape[1], 2 * shape[0])
    packed = pack(FramePrediction(1, "m", "a" * 64, "segmentation", maps, ()))
    assert packed.row["expected_errors"] == maps.expected_errors()  # exactly


def test_prelabeling_records_a_workflow_event_per_moved_frame(project: Project):
    first, second, third = (f.id for f in project.frames())
    move(project, third, Action.START)  # someone works on it already: it is not moved
    prediction = FramePrediction(first, "m", "a" * 64, "segmentation", _maps(), ())
    with PredictionWriter(project, params=RegionParams(min_area=1)) as writer:
        for frame_id in (first, second, third):
            writer.submit(replace(prediction, frame_id=frame_id))
    assert [project.frame(i).status for i in (first, second, third)] == [
        FrameStatus.PRELABELED,
        FrameStatus.PRELABELED,
        FrameStatus.IN_PROGRESS,
    ]
    prelabels = [e for e in events(project) if e.action is Action.PRELABEL]
    assert [(e.frame_id, e.user, e.reason) for e in prelabels] == [
        (first, project.user, "m"),
        (second, project.user, "m"),
    ]
    assert all(
        (e.from_status, e.to_status) == (FrameStatus.NEW, FrameStatus.PRELABELED)
        for e in prelabels
    )
    # Pre-labeling again (a newer model run) moves nothing and records nothing more.
    write_predictions(project, [replace(prediction, model="n")])
    assert sum(e.action is Action.PRELABEL for e in events(project)) == 2


def test_a_batch_replaces_older_predictions_and_keeps_each_frames_regions(project: Project):
    """Predictions of several frames and models stored together (one statement each for
    all of them): older ones of the same frame and model replaced, each region with its own
    prediction, the ids in order; a frame twice in one batch keeps the last."""
    ids = [f.id for f in project.frames()]
    params = RegionParams(min_area=1)

    def prediction(frame_id: int, model: str, seed: int) -> FramePrediction:
        return FramePrediction(frame_id, model, "a" * 64, "segmentation", _maps(seed), ())

    def regions_by_prediction() -> dict[tuple[int, str], list[int]]:
        with project.reading() as conn:
            rows = conn.execute(sa.select(t.predictions.c.id, t.predictions.c.frame_id,
                                          t.predictions.c.model)).all()
            owners = conn.execute(sa.select(t.uncertainty_regions.c.prediction_id,
                                            t.uncertainty_regions.c.frame_id)).all()
        frames = {row.id: row.frame_id for row in rows}
        assert all(frames[owner] == frame_id for owner, frame_id in owners)
        return {(row.frame_id, row.model): [o for o, _ in owners if o == row.id] for row in rows}

    first = [prediction(frame_id, model, seed) for seed, (frame_id, model) in
             enumerate([(ids[0], "m"), (ids[1], "m"), (ids[0], "n"), (ids[2], "n")])]
    stored = write_packed(project, [prepare(p, params) for p in first])
    assert len(set(stored)) == 4 and stored == sorted(stored)
    before = regions_by_prediction()
    assert set(before) == {(ids[0], "m"), (ids[1], "m"), (ids[0], "n"), (ids[2], "n")}
    assert all(before.values())
    again = [prediction(ids[1], "m", 7), prediction(ids[2], "m", 8), prediction(ids[0], "n", 9)]
    newer = write_packed(project, [prepare(p, params) for p in again])
    after = regions_by_prediction()
    assert set(after) == set(before) | {(ids[2], "m")}
    assert after[(ids[0], "m")] == before[(ids[0], "m")]  # untouched
    assert after[(ids[1], "m")][0] == newer[0] and after[(ids[0], "n")][0] == newer[2]
    assert read_prediction(project, ids[1], "m").maps.confidence.tolist() == \
        _maps(7).confidence.tolist()
    twice = write_packed(project, [prepare(prediction(ids[1], "m", 3), params),
                                   prepare(prediction(ids[1], "m", 4), params)])
    assert len(twice) == 2 and set(regions_by_prediction()[(ids[1], "m")]) == {twice[1]}
    assert read_prediction(project, ids[1], "m").maps.confidence.tolist() == \
        _maps(4).confidence.tolist()


def test_frames_that_arrive_one_at_a_time_share_a_commit(project: Project):
    """The writer waits ``gather_seconds`` after a transaction's first frame for more (a
    CPU run hands over a frame at a time), up to ``commit_every``; without the wait each
    frame is its own commit."""
    ids = [f.id for f in project.frames()]
    prediction = FramePrediction(ids[0], "m", "a" * 64, "segmentation", _maps(), ())
    for gather, expect_one_commit in ((3.0, True), (0.0, False)):
        commits: list[int] = []
        with PredictionWriter(
            project, gather_seconds=gather, commit_every=16, on_stored=commits.append
        ) as writer:
            for frame_id in ids:
                writer.submit(replace(prediction, frame_id=frame_id))
                time.sleep(0.3)
            deadline = time.monotonic() + 10
            while writer.stored < len(ids) and time.monotonic() < deadline:
                time.sleep(0.05)  # stored before the writer is closed (closing stores at once)
        assert sum(commits) == len(ids)
        assert (commits == [len(ids)]) is expect_one_commit
    assert predicted_frame_ids(project, "m", "a" * 64) == set(ids)


def test_uncertain_regions_are_found_where_they_were_planted():
    # A confident map with two planted unsure patches (near-uniform probabilities).
    confidence = np.full((100, 200), 250, np.uint8)
    margin = np.full((100, 200), 245, np.uint8)
    planted = [(10, 20, 30, 50), (60, 120, 90, 180)]  # row0, col0, row1, col1
    for r0, c0, r1, c1 in planted:
        confidence[r0:r1, c0:c1] = 90
        margin[r0:r1, c0:c1] = 10
    labels = np.full((100, 200), ROAD, np.uint8)
    labels[60:90, 120:150] = CAR
    maps = SegmentationMaps(labels, confidence, margin, 255 - confidence, 400, 200)
    regions = pixel_regions(maps, RegionParams())
    assert len(regions) == 2
    big, small = regions  # highest score (expected wrong pixels) first
    assert big.score > small.score
    for region, (r0, c0, r1, c1) in zip(regions, planted[::-1], strict=True):
        # map pixels are 2x2 frame pixels; smoothing moves edges by a pixel or two
        assert region.box.x0 == pytest.approx(2 * c0, abs=4)
        assert region.box.x1 == pytest.approx(2 * c1, abs=4)
        assert region.box.y0 == pytest.approx(2 * r0, abs=4)
        assert region.box.y1 == pytest.approx(2 * r1, abs=4)
        expected_wrong = (r1 - r0) * (c1 - c0) * 4 * (1 - 90 / 255)
        assert region.score == pytest.approx(expected_wrong, rel=0.15)
    assert big.classes == (ROAD, CAR) and small.classes == (ROAD,)
    assert big.mean_uncertainty > 0.85  # the 0.2 threshold takes in the blurred rim too
    # Entropy as the measure finds the same places.
    by_entropy = pixel_regions(maps, RegionParams(measure="entropy", threshold=0.5))
    assert len(by_entropy) == 2
    for found, region in zip(by_entropy, regions, strict=True):
        for a, b in zip(
            (found.box.x0, found.box.y0, found.box.x1, found.box.y1),
            (region.box.x0, region.box.y0, region.box.x1, region.box.y1),
            strict=True,
        ):
            assert a == pytest.approx(b, abs=4)


def test_uncertain_boxes_middle_band_and_flip_disagreement():
    sure = PredictedBox(CAR, 0.95, Box(0, 0, 10, 10), flip_iou=0.9)
    unsure = PredictedBox(CAR, 0.5, Box(0, 0, 10, 10), flip_iou=0.9)
    flipped = PredictedBox(CAR, 0.95, Box(0, 0, 20, 10), flip_iou=0.1)
    only = PredictedBox(CAR, 0.6, Box(0, 0, 10, 10), flip_iou=0.0, flip_only=True)
    background = PredictedBox(CAR, 0.1, Box(0, 0, 10, 10))
    regions = box_regions([sure, unsure, flipped, only, background])
    assert [(r.kind, r.score) for r in regions] == [
        ("box_flip", pytest.approx(200 * 0.45)),
        ("box_score", 50.0),
        ("box_flip", 50.0),
    ]


def test_predictions_export_format(project: Project, tmp_path: Path):
    assert "predictions" in registered_formats(Capability.EXPORT)
    first, second, third = (f.id for f in project.frames())
    maps = _maps()
    boxes = (PredictedBox(CAR, 0.8, Box(1, 2, 30, 20)),)
    from roadmark.io.predictions import write_predictions

    write_predictions(
        project,
        [
            FramePrediction(first, "seg", "a" * 64, "segmentation", maps),
            FramePrediction(second, "det", "b" * 64, "detection", None, boxes),
        ],
    )
    out = tmp_path / "out"
    report = export_dataset(project, "predictions", out)
    assert [w.path for w in report.warnings] == [project.frames()[2].path]
    labels = cv2.imread(str(out / "city_000000_000000_pred_labelIds.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (32, 64) and labels.dtype == np.uint8
    assert (labels[:12] == SKY).all() and (labels[12:] == ROAD).all()
    uncertainty = cv2.imread(str(out / "city_000000_000000_uncertainty.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(uncertainty[::2, ::2], 255 - maps.margin)
    det = json.loads((out / "city_000000_000001_pred_boxes.json").read_text())
    assert det == [{"label": "car", "label_id": CAR, "score": 0.8, "box": [1, 2, 30, 20]}]
    index = json.loads((out / "predictions.json").read_text())
    assert [f["model"] for f in index["frames"]] == ["seg", "det"]
    assert third not in (first, second)
    with pytest.raises(FormatError, match="no exported frame has a prediction"):
        export_dataset(project, "predictions", tmp_path / "none", frames="2")
    assert not (tmp_path / "none").exists()
