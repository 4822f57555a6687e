"""The guided review dock: model layers, accept/reject buttons, the review queue of
uncertain regions and the audit queue.

Only widgets: the dock shows what :class:`~roadmark.app.features.guided_review.GuidedReview` gives
it and reports the user's choices through signals and the window's actions.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from roadmark.analysis.label_audit import DISAGREEMENT, AuditFinding
from roadmark.analysis.object_audit import MISSING_OBJECT, WRONG_LABEL
from roadmark.core.effort import CostModel
from roadmark.core.prediction import RegionKind, UncertainRegion
from roadmark.core.schema import LabelSchema

SCOPE_FRAME = "frame"
SCOPE_PROJECT = "project"
MAX_ROWS = 500
KIND_TEXT = {
    RegionKind.PIXELS: "pixels",
    RegionKind.BOX_SCORE: "box score",
    RegionKind.BOX_FLIP: "box flip",
}
FINDING_TEXT = {
    WRONG_LABEL: "wrong label?",
    MISSING_OBJECT: "missing object?",
    DISAGREEMENT: "label error?",
}


def _buttons(actions: Sequence[QAction]) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setSpacing(2)
    for action in actions:
        button = QToolButton()
        button.setDefaultAction(action)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        row.addWidget(button)
    row.addStretch(1)
    return row


def _tree(headers: Sequence[str]) -> QTreeWidget:
    tree = QTreeWidget()
    tree.setHeaderLabels(list(headers))
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.setAlternatingRowColors(True)
    tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    return tree


class UncertaintyDock(QDockWidget):
    """Layers, accept and reject, review queue, audit.

    Signals:
        scope_changed(scope): ``frame`` or ``project``.
        model_changed(name): The model whose predictions are shown ("" = the newest).
        region_chosen(index): A queue row was activated.
        finding_chosen(index): An audit row was activated.
        layers_changed(): A layer switch, a layer opacity or the box threshold changed.
    """

    scope_changed = Signal(str)
    model_changed = Signal(str)
    region_chosen = Signal(int)
    finding_chosen = Signal(int)
    layers_changed = Signal()

    def __init__(
        self,
        schema: LabelSchema,
        accept_actions: Sequence[QAction],
        queue_actions: Sequence[QAction],
        audit_actions: Sequence[QAction],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Guided review", parent)
        self.setObjectName("guided_review")
        self.schema = schema

        layers = QGroupBox("Model layers")
        grid = QGridLayout(layers)
        grid.setContentsMargins(4, 4, 4, 4)
        self.show_labels = QCheckBox("Model labels (hatched)")
        self.show_heat = QCheckBox("Uncertainty heat map")
        self.show_boxes = QCheckBox("Model boxes")
        self.show_compare = QCheckBox("Compare with labels")
        self.show_labels.setChecked(False)
        self.show_heat.setChecked(True)
        self.show_boxes.setChecked(True)
        self.heat_opacity = QSlider(Qt.Orientation.Horizontal)
        self.heat_opacity.setRange(5, 100)
        self.heat_opacity.setValue(60)
        self.heat_opacity.setToolTip("Heat map opacity")
        self.labels_opacity = QSlider(Qt.Orientation.Horizontal)
        self.labels_opacity.setRange(5, 100)
        self.labels_opacity.setValue(85)
        self.labels_opacity.setToolTip("Model labels opacity")
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 100)
        self.threshold.setValue(50)
        self.threshold.setToolTip("Hide model boxes below this score; accept above it")
        self.threshold_text = QLabel()
        self.compare_text = QLabel()
        grid.addWidget(self.show_labels, 0, 0)
        grid.addWidget(self.show_compare, 0, 1)
        grid.addWidget(self.compare_text, 0, 2)
        grid.addWidget(self.show_heat, 1, 0)
        grid.addWidget(self.heat_opacity, 1, 1, 1, 2)
        grid.addWidget(self.show_boxes, 2, 0)
        grid.addWidget(self.threshold, 2, 1)
        grid.addWidget(self.threshold_text, 2, 2)
        grid.addWidget(QLabel("Model labels opacity"), 3, 0)
        grid.addWidget(self.labels_opacity, 3, 1, 1, 2)
        for box in (self.show_labels, self.show_heat, self.show_boxes, self.show_compare):
            box.toggled.connect(lambda _on: self.layers_changed.emit())
        for slider in (self.heat_opacity, self.labels_opacity):
            slider.valueChanged.connect(lambda _v: self.layers_changed.emit())
        self.threshold.valueChanged.connect(self._on_threshold)
        self._on_threshold(self.threshold.value())

        self.model_text = QLabel("No prediction for this frame.")
        self.model_text.setWordWrap(True)
        self.model = QComboBox()
        self.model.setToolTip("Whose predictions the layers, the queue and accept use")
        self.model.currentIndexChanged.connect(
            lambda _i: self.model_changed.emit(self.model.currentData() or "")
        )

        queue = QWidget()
        queue_layout = QVBoxLayout(queue)
        queue_layout.setContentsMargins(2, 2, 2, 2)
        top = QHBoxLayout()
        self.scope = QComboBox()
        self.scope.addItem("Whole project", SCOPE_PROJECT)
        self.scope.addItem("This frame", SCOPE_FRAME)
        self.scope.currentIndexChanged.connect(
            lambda _i: self.scope_changed.emit(self.scope.currentData())
        )
        top.addWidget(self.scope)
        self.progress = QLabel()
        top.addWidget(self.progress, 1)
        queue_layout.addLayout(top)
        self.regions = _tree(["Frame", "Kind", "Classes", "Wrong px", "Min"])
        self.regions.itemActivated.connect(
            lambda item, _c: self.region_chosen.emit(self.regions.indexOfTopLevelItem(item))
        )
        queue_layout.addWidget(self.regions, 1)
        queue_layout.addLayout(_buttons(queue_actions))

        audit = QWidget()
        audit_layout = QVBoxLayout(audit)
        audit_layout.setContentsMargins(2, 2, 2, 2)
        self.audit_text = QLabel("Run an audit (Review > Audit labels with a model…).")
        self.audit_text.setWordWrap(True)
        audit_layout.addWidget(self.audit_text)
        self.findings = _tree(["Frame", "Kind", "Labeled", "Predicted", "Conf.", "Area"])
        self.findings.itemActivated.connect(
            lambda item, _c: self.finding_chosen.emit(self.findings.indexOfTopLevelItem(item))
        )
        audit_layout.addWidget(self.findings, 1)
        audit_layout.addLayout(_buttons(audit_actions))

        self.tabs = QTabWidget()
        self.tabs.addTab(queue, "Review queue")
        self.tabs.addTab(audit, "Audit")

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(layers)
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.model, 1)
        layout.addLayout(model_row)
        layout.addWidget(self.model_text)
        layout.addLayout(_buttons(accept_actions))
        layout.addWidget(self.tabs, 1)
        self.setWidget(body)

    # -- reading the controls --------------------------------------------------------------

    @property
    def box_threshold(self) -> float:
        return self.threshold.value() / 100.0

    @property
    def heat_alpha(self) -> float:
        return self.heat_opacity.value() / 100.0

    @property
    def labels_alpha(self) -> float:
        return self.labels_opacity.value() / 100.0

    def _on_threshold(self, value: int) -> None:
        self.threshold_text.setText(f"≥ {value / 100:.2f}")
        self.layers_changed.emit()

    # -- showing ---------------------------------------------------------------------------

    def set_models(self, models: Sequence[str]) -> None:
        """Offer these models (and "newest of any"), keeping the choice when still there."""
        chosen = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItem("newest prediction", "")
        for name in models:
            self.model.addItem(name, name)
        index = self.model.findData(chosen) if chosen else 0
        self.model.setCurrentIndex(max(index, 0))
        self.model.blockSignals(False)

    def _name(self, label_id: int | None) -> str:
        if label_id is None:
            return "(nothing)"
        label = self.schema.by_id.get(label_id)
        return label.name if label else str(label_id)

    def show_regions(
        self,
        regions: Sequence[UncertainRegion],
        frame_names: dict[int, str],
        cost: CostModel,
        current: int,
    ) -> None:
        """List the queue (the first :data:`MAX_ROWS`), marking row ``current``."""
        self.regions.clear()
        items = []
        for region in regions[:MAX_ROWS]:
            frame = frame_names.get(region.frame_id or -1, str(region.frame_id))
            classes = ", ".join(self._name(c) for c in region.classes[:3])
            items.append(
                QTreeWidgetItem(
                    [
                        frame,
                        KIND_TEXT.get(region.kind, region.kind),
                        classes,
                        f"{region.score:.0f}",
                        f"{cost.region_seconds(region) / 60:.1f}",
                    ]
                )
            )
        self.regions.addTopLevelItems(items)
        self.mark_region(current)

    def mark_region(self, index: int) -> None:
        item = self.regions.topLevelItem(index) if index >= 0 else None
        if item is not None:
            self.regions.setCurrentItem(item)
            self.regions.scrollToItem(item)
        else:
            self.regions.clearSelection()

    def show_findings(
        self,
        findings: Sequence[AuditFinding],
        frame_names: dict[int, str],
        flagged: set[int],
    ) -> None:
        self.findings.clear()
        items = []
        for finding in findings[:MAX_ROWS]:
            frame = frame_names.get(finding.frame_id, str(finding.frame_id))
            if finding.frame_id in flagged:
                frame += " ⚑"
            kind = FINDING_TEXT.get(finding.kind, "hard case")
            items.append(
                QTreeWidgetItem(
                    [
                        frame,
                        kind,
                        self._name(finding.labeled),
                        self._name(finding.predicted),
                        f"{finding.confidence:.2f}",
                        f"{finding.area:.0f}",
                    ]
                )
            )
        self.findings.addTopLevelItems(items)

    def current_finding(self) -> int:
        item = self.findings.currentItem()
        return -1 if item is None else self.findings.indexOfTopLevelItem(item)
