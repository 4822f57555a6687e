"""Queue regions a person can act on: a size cap, class-boundary and grid cuts, outlines
stored with the prediction, accept along the outline, and the queue's coverage."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import shapely

from roadmark.analysis.region_pieces import split_components
from roadmark.analysis.uncertainty import RegionParams, pixel_regions, queue_coverage
from roadmark.annotators.review.guided import objects_in, region_proposals
from roadmark.annotators.review.prelabels import proposals
from roadmark.cli import main
from roadmark.core.edits import AddObjects
from roadmark.core.errors import RoadmarkError
from roadmark.core.prediction import FramePrediction, RegionKind, SegmentationMaps
from roadmark.core.schema import cityscapes_schema
from roadmark.core.session import EditSession
from roadmark.io import tables
from roadmark.io.prediction_writer import PredictionWriter
from roadmark.io.predictions import (
    queue_coverage_by_frame,
    ranked_regions,
    read_prediction,
)
from roadmark.io.store import FrameSpec, Project
from tests.helpers import make_version_1
from tests.helpers import region as helper_region

ROAD, SIDEWALK, CAR = 7, 8, 26


def _maps(labels: np.ndarray, margin: np.ndarray, scale: int = 2) -> SegmentationMaps:
    confidence = (128 + margin // 2).astype(np.uint8)  # two classes: top-1 = (1 + margin) / 2
    entropy = (255 - margin).astype(np.uint8)
    h, w = labels.shape
    return SegmentationMaps(labels, confidence, margin, entropy, w * scale, h * scale)


def _uncertain_everywhere(height: int = 200, width: int = 400) -> SegmentationMaps:
    """A frame (800 x 400) the model is unsure about everywhere: road left, sidewalk right."""
    labels = np.full((height, width), ROAD, np.uint8)
    labels[:, width // 2 :] = SIDEWALK
    margin = np.full((height, width), 40, np.uint8)  # uncertainty 0.84
    return _maps(labels, margin)


def test_no_region_is_larger_than_the_cap_and_nothing_is_lost():
    maps = _uncertain_everywhere()
    regions = pixel_regions(maps, RegionParams(max_extent=256.0, sigma=0))
    assert len(regions) > 1
    for region in regions:
        assert region.box.width <= 256.0 + 1e-6 and region.box.height <= 256.0 + 1e-6
    # The pieces tile the component: their scores add up to the whole frame's.
    assert sum(r.score for r in regions) == pytest.approx(maps.expected_errors(), rel=1e-6)
    assert sum(r.area for r in regions) == pytest.approx(800 * 400)
    # Cut along the predicted classes first: no piece mixes road and sidewalk.
    assert all(len(r.classes) == 1 for r in regions)
    assert {r.classes[0] for r in regions} == {ROAD, SIDEWALK}
    # Without a cap the component stays whole.
    whole = pixel_regions(maps, RegionParams(max_extent=None, sigma=0))
    assert len(whole) == 1 and whole[0].box.width == 800


def test_a_small_cap_cuts_compact_pieces_of_one_class():
    labels = np.full((60, 60), ROAD, np.uint8)
    margin = np.full((60, 60), 255, np.uint8)
    margin[10:50, 5:55] = 0  # one uncertain road patch, 100 x 80 frame pixels
    regions = pixel_regions(_maps(labels, margin), RegionParams(max_extent=32.0, sigma=0))
    assert len(regions) == 4 * 3  # ceil(100 / 32) columns x ceil(80 / 32) rows
    widths = {round(r.box.width) for r in regions}
    heights = {round(r.box.height) for r in regions}
    assert max(widths) <= 32 and min(widths) >= 20  # even cells, not a 32 + 4 remainder
    assert max(heights) <= 32 and min(heights) >= 20


def test_each_region_keeps_its_outline_in_frame_pixels():
    labels = np.full((40, 40), ROAD, np.uint8)
    margin = np.full((40, 40), 255, np.uint8)
    margin[5:25, 5:10] = 0  # an L: a bar down ...
    margin[20:25, 5:30] = 0  # ... and a foot to the right
    (region,) = pixel_regions(_maps(labels, margin), RegionParams(sigma=0, min_area=1))
    assert region.outline is not None
    assert region.outline.area == pytest.approx(region.area)  # 200 map px x 4
    assert region.outline.area < 0.5 * region.box.area  # the L, not its box
    x0, y0, x1, y1 = region.outline.bounds
    assert (x0, y0, x1, y1) == (region.box.x0, region.box.y0, region.box.x1, region.box.y1)
    assert region.shape is region.outline


def test_max_extent_is_validated():
    with pytest.raises(RoadmarkError, match="max_extent"):
        RegionParams(max_extent=2.0)


@pytest.fixture
def project(tmp_path: Path):
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames([FrameSpec(tmp_path / "f0.png", None, 80, 80, "s", 0)])
    yield project
    project.close()


def _l_prediction(frame_id: int) -> FramePrediction:
    labels = np.full((40, 40), ROAD, np.uint8)
    labels[0:30, 0:15] = CAR
    margin = np.full((40, 40), 255, np.uint8)
    margin[5:25, 5:10] = 0
    margin[20:25, 5:30] = 0
    return FramePrediction(frame_id, "m", "d" * 64, "segmentation", _maps(labels, margin))


def test_outline_is_stored_and_accept_cuts_along_it(project: Project):
    frame_id = project.frames()[0].id
    with PredictionWriter(project, params=RegionParams(sigma=0, min_area=1)) as writer:
        writer.submit(_l_prediction(frame_id))
    (region,) = ranked_regions(project)
    assert region.outline is not None and region.outline.area == pytest.approx(200 * 4)
    prediction = read_prediction(project, frame_id, "m")
    assert prediction is not None
    found = proposals(prediction, cityscapes_schema(), user="u")
    clipped = region_proposals(found, region)
    assert clipped
    taken = shapely.union_all([p.object.region for p in clipped])
    # Accept takes the model's labels inside the L only, not the rectangle around it.
    assert taken.area == pytest.approx(region.outline.area)
    assert taken.area < 0.5 * region.box.area
    assert shapely.difference(taken, region.outline.buffer(1e-6)).area == pytest.approx(0)
    # A label overlapping the box but not the outline is not selected with the region.
    session = EditSession(project)
    document = session.open(frame_id)
    session.execute(
        AddObjects(
            frame_id,
            [helper_region(CAR, 40, 10, 58, 35), helper_region(CAR, 12, 12, 18, 18)],
            text="draw",
        )
    )
    outside, inside = (o.uid for o in document.live())
    assert set(objects_in(document, region.box)) == {outside, inside}
    assert objects_in(document, region.box, region.outline) == [inside]


def test_queue_coverage_is_stored_and_reported(project: Project, tmp_path: Path, capsys):
    frame_id = project.frames()[0].id
    prediction = _l_prediction(frame_id)
    assert prediction.maps is not None
    expected = prediction.maps.expected_errors()
    with PredictionWriter(project, params=RegionParams(sigma=0, min_area=1)) as writer:
        writer.submit(prediction)
    back = read_prediction(project, frame_id, "m", with_maps=False)
    assert back is not None and back.expected_errors == pytest.approx(expected)
    share = queue_coverage(back.regions, back.expected_errors)
    # The L holds 200 of 1600 map pixels with 1 - confidence = 0.5; the rest 0.
    assert share == pytest.approx(1.0, abs=1e-6)
    assert queue_coverage_by_frame(project) == {(frame_id, "m"): pytest.approx(share)}
    assert queue_coverage([], 100.0) == 0.0
    project.close()
    assert main(["queue", str(tmp_path / "p.roadmark"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["frame_coverage"] == pytest.approx(1.0)
    assert main(["queue", str(tmp_path / "p.roadmark"), "--effort", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["queue_coverage"] == pytest.approx(1.0)


def test_a_version_1_project_gains_the_outline_columns(tmp_path: Path):
    path = tmp_path / "old.roadmark"
    Project.create(path).close()
    make_version_1(path)
    with Project.open(path) as project:
        assert project.version == tables.SCHEMA_VERSION
        project.add_frames([FrameSpec(tmp_path / "f0.png", None, 80, 80, "s", 0)])
        frame_id = project.frames()[0].id
        with PredictionWriter(project, params=RegionParams(sigma=0, min_area=1)) as writer:
            writer.submit(_l_prediction(frame_id))
        (region,) = ranked_regions(project)
        assert region.kind == RegionKind.PIXELS and region.outline is not None


@pytest.mark.parametrize("labels_in_component", [2, 6])
def test_a_component_of_many_classes_is_cut_into_single_class_connected_pieces(
    labels_in_component: int,
):
    rng = np.random.default_rng(labels_in_component)
    height, width = 60, 90
    blobs = cv2.resize(
        rng.integers(1, labels_in_component + 1, (6, 9)).astype(np.uint8),
        (width, height),
        interpolation=cv2.INTER_NEAREST,
    )
    inside = np.zeros((height, width), dtype=np.uint8)
    inside[5:55, 4:86] = 1
    _, components, stats, _ = cv2.connectedComponentsWithStats(inside, connectivity=8)
    pieces_map, pieces = split_components(
        components, stats, blobs, np.array([1]), max_cells=(40, 30)
    )
    assert (pieces_map > 0).sum() == inside.sum()  # every pixel in exactly one piece
    labels_seen = []
    for piece in pieces:
        mask = pieces_map == piece.id
        assert mask.sum() == piece.area
        assert len(np.unique(blobs[mask])) == 1  # one class
        assert piece.width <= 40 and piece.height <= 30
        parts, _ = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        assert parts == 2  # connected (background + the piece)
        labels_seen.append(int(blobs[mask][0]))
    assert labels_seen == sorted(labels_seen)  # class by class, in order


def test_a_piece_that_fills_its_box_has_the_outline_tracing_gives():
    from roadmark.analysis.pixel_outline import label_outlines
    from roadmark.analysis.region_pieces import Piece, piece_outlines

    pieces_map = np.zeros((40, 60), dtype=np.int32)
    pieces_map[2:12, 3:20] = 1  # solid
    pieces_map[15:30, 10:40] = 2
    pieces_map[20:25, 20:30] = 0  # a hole: traced
    pieces_map[30:38, 40:41] = 3  # one column, solid
    found = []
    for piece_id in (1, 2, 3):
        rows, cols = np.nonzero(pieces_map == piece_id)
        left, top = int(cols.min()), int(rows.min())
        width, height = int(cols.max()) - left + 1, int(rows.max()) - top + 1
        found.append(Piece(piece_id, left, top, width, height, len(rows)))
    outlines = piece_outlines(pieces_map, found, (2.0, 0.5))
    traced = label_outlines(pieces_map, scale=(2.0, 0.5))
    assert set(outlines) == {1, 2, 3}
    for piece_id, outline in outlines.items():  # the same vertices in the same order
        assert outline.equals_exact(traced[piece_id], 0)
        assert list(outline.exterior.coords) == list(traced[piece_id].exterior.coords)
