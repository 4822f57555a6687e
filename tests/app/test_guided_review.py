"""Guided review in the window: jump through the queue, accept and reject, undo an accept,
provenance in the objects dock, model layers, effort ordering, the audit queue."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from roadmark.analysis.uncertainty import frame_regions
from roadmark.app.main_window import MainWindow
from roadmark.core.annotation import Box
from roadmark.core.prediction import FramePrediction, PredictedBox, SegmentationMaps
from roadmark.core.provenance import EDITED, MODEL, VERIFIED, provenance_kind
from roadmark.io.frames import scan
from roadmark.io.label_audit import AuditState
from roadmark.io.predictions import ranked_regions, write_predictions
from roadmark.io.store import Project
from tests.app.conftest import show
from tests.helpers import make_image, region

ROAD, CAR, PERSON, SKY = 7, 26, 24, 23


def _prediction(frame_id: int, unsure_at: tuple[int, int]) -> FramePrediction:
    """Maps at stride 2 (80 x 45) of a 160 x 90 frame: sky, road, a car; one unsure patch."""
    labels = np.full((45, 80), ROAD, np.uint8)
    labels[:15] = SKY
    labels[20:30, 20:40] = CAR
    confidence = np.full((45, 80), 240, np.uint8)
    margin = np.full((45, 80), 230, np.uint8)
    r, c = unsure_at
    confidence[r : r + 8, c : c + 10] = 110
    margin[r : r + 8, c : c + 10] = 10
    maps = SegmentationMaps(labels, confidence, margin, (255 - margin).astype(np.uint8), 160, 90)
    boxes = (
        PredictedBox(PERSON, 0.9, Box(120, 30, 140, 80)),
        PredictedBox(PERSON, 0.45, Box(2, 40, 12, 70)),
    )
    pred = FramePrediction(frame_id, "tiny", "d" * 64, "segmentation", maps, boxes)
    return replace(pred, regions=tuple(frame_regions(maps, boxes)))


@pytest.fixture
def predicted(tmp_path: Path) -> Path:
    path = tmp_path / "p.roadmark"
    images = [make_image(tmp_path / f"f{i}.png", 160, 90, seed=i) for i in range(3)]
    with Project.create(path) as project:
        ids, _ = project.add_frames(scan(images))
        # Frame 0 is labeled by people; the car is labeled as a person (a planted error).
        project.add_objects(
            ids[0],
            [
                region(SKY, 0, 0, 160, 30),
                region(ROAD, 0, 30, 160, 90),
                region(PERSON, 40, 40, 80, 60),
            ],
        )
        write_predictions(
            project,
            [
                _prediction(ids[0], (32, 60)),
                _prediction(ids[1], (32, 60)),
                _prediction(ids[2], (5, 5)),
            ],
        )
    return path


def open_window(qtbot, path: Path, frame: int = 0) -> MainWindow:
    window = MainWindow.open_project(str(path), frame=frame, prefetch=False)
    qtbot.addWidget(window)
    window.resize(1300, 850)
    show(qtbot, window)
    return window


def test_queue_accept_reject_undo_and_provenance(qtbot, predicted: Path):
    window = open_window(qtbot, predicted, frame=0)
    guided = window.guided_review
    project = window.project
    frames = project.frames()
    regions = ranked_regions(project)
    assert len(guided.queue) == len(regions) > 3
    assert "regions left" in guided.dock.progress.text()
    assert guided.regions.effort.minutes > 0

    # U jumps to the highest-scored region: switches frame, zooms, marks the region.
    QTest.keyClick(window, Qt.Key.Key_U)
    first = guided.queue.current
    assert first is not None and first.uid == regions[0].uid
    assert guided.frame_id == first.frame_id
    assert guided.focus.box == first.box
    # The highlight follows the region's stored outline, not only its box.
    assert first.outline is not None and guided.focus.outline.equals(first.outline)
    assert "the queue holds about" in guided.dock.model_text.text()
    visible = window.canvas.mapToScene(window.canvas.viewport().rect()).boundingRect()
    # zoomed in on the region, but to 250 % at most (this 160 px frame fits at more than
    # that, so the whole frame stays in view)
    assert window.canvas.zoom <= max(2.5, window.canvas.fit_zoom()) + 1e-6
    assert visible.contains(first.box.x0 + 1, first.box.y0 + 1)
    QTest.keyClick(window, Qt.Key.Key_U)
    assert guided.queue.current.uid == regions[1].uid
    QTest.keyClick(window, Qt.Key.Key_U, Qt.KeyboardModifier.ShiftModifier)
    assert guided.queue.current.uid == regions[0].uid

    # Accept the whole frame: one undo step, model provenance.
    window.select_row(1)
    frame_id = frames[1].id
    assert guided.prediction is not None and guided.prediction.frame_id == frame_id
    QTest.keyClick(
        window,
        Qt.Key.Key_Y,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    live = project.objects(frame_id).live()
    assert len(live) == 4  # road, sky, car, the 0.9 person box (the 0.45 one is not accepted)
    assert {provenance_kind(o) for o in live} == {MODEL}
    assert window.objects_dock.model.rows[0].provenance.source == "model:tiny"
    assert "(model)" in window.objects_dock.model.data(window.objects_dock.model.index(0, 4))
    window.undo()
    assert project.objects(frame_id).live() == []
    window.redo()
    assert len(project.objects(frame_id).live()) == 4

    # Reject a model label (one step), verify another, edit a third: provenance kinds.
    document = window.editor.document
    box = next(o for o in document.live() if o.kind.value == "box")
    document.select([box.uid])
    QTest.keyClick(window, Qt.Key.Key_X)
    assert box.uid not in {o.uid for o in project.objects(frame_id).live()}
    window.undo()
    assert box.uid in {o.uid for o in project.objects(frame_id).live()}
    car = next(o for o in document.live() if o.label_id == CAR)
    document.select([car.uid])
    QTest.keyClick(window, Qt.Key.Key_V, Qt.KeyboardModifier.ShiftModifier)
    assert provenance_kind(document.get(car.uid)) == VERIFIED
    document.select([box.uid])
    window.editor.nudge(1, 0)
    assert provenance_kind(document.get(box.uid)) == EDITED
    combo = window.objects_dock.kind_filter
    combo.setCurrentIndex(combo.findData(EDITED))
    assert [o.uid for o in window.objects_dock.model.rows] == [box.uid]
    combo.setCurrentIndex(combo.findData(VERIFIED))
    assert [o.uid for o in window.objects_dock.model.rows] == [car.uid]
    combo.setCurrentIndex(0)

    # Accept one region on frame 2: only the labels inside the region's box, then resolved.
    guided.dock.scope.setCurrentIndex(guided.dock.scope.findData("frame"))
    window.select_row(2)
    assert {r.frame_id for r in guided.queue.regions} == {frames[2].id}
    before = len(guided.queue)
    QTest.keyClick(window, Qt.Key.Key_U)
    target = guided.queue.current
    QTest.keyClick(window, Qt.Key.Key_Y)
    added = project.objects(frames[2].id).live()
    assert added and all(o.provenance.source == "model:tiny" for o in added)
    for obj in added:
        b = obj.bounds
        assert target.box.x0 - 1e-6 <= b.x0 and b.x1 <= target.box.x1 + 1e-6
    assert len(guided.queue) == before - 1
    assert target.uid not in {r.uid for r in ranked_regions(project)}
    window.undo()  # the accept is undone in one step; the region stays resolved
    assert project.objects(frames[2].id).live() == []


def test_layers_threshold_compare_and_effort_order(qtbot, predicted: Path):
    window = open_window(qtbot, predicted, frame=0)
    guided, dock = window.guided_review, window.guided_review.dock
    assert guided.heat_layer.isVisible() and guided.boxes_item.isVisible()
    assert len(guided.boxes_item.shown()) == 1  # 0.9 shown, 0.45 under the 0.5 threshold
    dock.threshold.setValue(40)
    assert len(guided.boxes_item.shown()) == 2
    dock.heat_opacity.setValue(30)
    assert guided.heat_layer.opacity() == pytest.approx(0.3)
    dock.show_labels.setChecked(True)
    assert guided.labels_layer.isVisible() and guided.labels_layer.buffer.shape[:2] == (45, 80)
    dock.show_compare.setChecked(True)
    # The car is labeled a person on frame 0: the comparison shows the difference.
    assert guided.compare_layer.isVisible() and guided.compare_layer.different_pixels >= 200
    assert "px differ" in dock.compare_text.text()

    window.actions["frame.sort_effort"].trigger()
    order = [f.id for f in window.frames.frames()]
    minutes = [guided.regions.effort.frame_seconds(f) for f in order]
    assert minutes == sorted(minutes, reverse=True)
    assert window.frames.frame(window.current_row).id == guided.frame_id
    window.actions["frame.sort_effort"].trigger()
    assert [f.id for f in window.frames.frames()] == [f.id for f in window.project.frames()]


def test_audit_queue_fix_confirm_flag(qtbot, predicted: Path):
    window = open_window(qtbot, predicted, frame=1)
    guided = window.guided_review
    window.actions["audit.refresh"].trigger()
    qtbot.waitUntil(lambda: guided.auditor.audit is not None, timeout=10000)
    first = guided.auditor.findings[0]
    frame0 = window.project.frames()[0].id
    assert first.kind == "wrong_label" and first.frame_id == frame0
    assert (first.labeled, first.predicted) == (PERSON, CAR)
    guided.dock.findings.setCurrentItem(guided.dock.findings.topLevelItem(0))
    guided.auditor.go_to_finding(0)
    assert guided.frame_id == frame0
    assert list(window.editor.document.selection) == list(first.uids)
    window.actions["audit.flag"].trigger()
    assert AuditState.load(window.project).flagged == {frame0}
    count = len(guided.auditor.findings)
    window.actions["audit.confirm"].trigger()
    assert len(guided.auditor.findings) == count - 1
    assert AuditState.load(window.project).confirmed == {first.key}
    assert provenance_kind(window.editor.document.get(first.uids[0])) == VERIFIED


def test_no_shortcut_conflicts(qtbot, predicted: Path):
    window = open_window(qtbot, predicted)
    assert window.actions.shortcuts.conflicts() == {}


def test_audit_runs_a_model_in_the_background(qtbot, predicted: Path, tmp_path: Path):
    from roadmark.core.schema import cityscapes_schema
    from roadmark.models.create import new_torchvision_model

    model = tmp_path / "seg.roadmodel"
    new_torchvision_model(model, "lraspp_mobilenet_v3_large", schema=cityscapes_schema(), seed=0)
    window = open_window(qtbot, predicted, frame=1)
    guided = window.guided_review
    guided.auditor.jobs.dialogs = False
    guided.auditor.ask_model = lambda: str(model)
    window.actions["audit.run"].trigger()
    qtbot.waitUntil(lambda: guided.auditor.audit is not None, timeout=60000)
    assert guided.auditor.audit.model == "seg"
    assert guided.auditor.audit.frames == (window.project.frames()[0].id,)  # the labeled frame
    assert guided.dock.tabs.currentIndex() == 1
    assert guided.dock.findings.topLevelItemCount() == len(guided.auditor.findings)


def test_model_chooser_limits_layers_queue_and_accept(qtbot, predicted: Path):
    with Project.open(predicted) as project:
        frame_id = project.frames()[1].id
        other = replace(_prediction(frame_id, (5, 60)), model="other", boxes=())
        write_predictions(project, [other])
    window = open_window(qtbot, predicted, frame=1)
    guided, dock = window.guided_review, window.guided_review.dock
    assert [dock.model.itemData(i) for i in range(dock.model.count())] == ["", "other", "tiny"]
    assert guided.prediction.model == "other"  # the newest by default
    total = len(guided.queue)
    dock.model.setCurrentIndex(dock.model.findData("tiny"))
    assert guided.prediction.model == "tiny"
    assert {r.model for r in guided.queue.regions} == {"tiny"} and len(guided.queue) < total
    guided.accept_frame()
    sources = {o.provenance.source for o in window.project.objects(frame_id).live()}
    assert sources == {"model:tiny"}
    dock.model.setCurrentIndex(dock.model.findData("other"))
    assert {r.model for r in guided.queue.regions} == {"other"}
    assert guided.boxes_item.boxes == ()


def test_opening_on_a_pre_labeled_frame_shows_the_queue(qtbot, predicted: Path, tmp_path: Path):
    window = open_window(qtbot, predicted, frame=1)
    # Same tab stack: only the tab in front has a visible region.
    assert not window.guided_review.dock.visibleRegion().isEmpty()
    assert window.attributes_dock.visibleRegion().isEmpty()
    window.close()

    plain = tmp_path / "plain.roadmark"
    with Project.create(plain) as project:
        project.add_frames(scan([make_image(tmp_path / "g.png", 160, 90)]))
    window = open_window(qtbot, plain, frame=0)
    assert not window.attributes_dock.visibleRegion().isEmpty()
    assert window.guided_review.dock.visibleRegion().isEmpty()
