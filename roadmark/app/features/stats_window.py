"""The statistics window: the report's figures and charts, and saving the HTML report.

It shows the same sections as ``roadmark stats --html`` (built by
:func:`roadmark.analysis.report.sections`): the charts are the report's SVG, drawn with Qt's SVG
renderer, recolored for the window's dark theme (a bright page beside the dark window
dazzles). The "time left" card shows the same remaining effort as the Guided review dock
when the project has model predictions (one number, from one place: the window's
:class:`~roadmark.core.effort.EffortEstimate`); otherwise the estimate from logged time.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtSvgWidgets import QSvgWidget
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QLabel,
    QMessageBox,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from roadmark.analysis.report import (
    TEXT_STYLE,
    TRACK_COLOR,
    Block,
    Chart,
    Section,
    Table,
    Text,
    sections,
    summary,
    write_html,
)
from roadmark.core.effort import EffortEstimate
from roadmark.core.errors import RoadmarkError
from roadmark.io.stats import project_stats
from roadmark.io.store import Project

PAGE_STYLE = """
QWidget#page { background: #1f2226; }
QFrame#panel, QFrame#card { background: #2a2d33; border: 1px solid #3a3e46;
  border-radius: 6px; }
QLabel { color: #dcdee2; background: transparent; }
QLabel#title { font-size: 15px; font-weight: 600; }
QLabel#card-title { color: #9aa1a9; font-size: 10px; }
QLabel#card-value { font-size: 20px; font-weight: 600; }
QLabel#note { color: #9aa1a9; }
QTableWidget { background: #2a2d33; color: #dcdee2; gridline-color: #3a3e46; border: none; }
QHeaderView, QHeaderView::section { background: #2a2d33; color: #9aa1a9; border: none; }
"""
REPORT_TEXT = TEXT_STYLE.split('fill="')[1].rstrip('"')
# The report's SVG is made for a light page: its text and bar tracks, for a dark one.
SVG_DARK = (
    (f'fill="{REPORT_TEXT}"', 'fill="#dcdee2"'),
    (f'fill="{TRACK_COLOR}"', 'fill="#3a3e46"'),
)
EffortSource = Callable[[], "EffortEstimate | None"]
TIME_LEFT_SECTION = "Estimated time left"  # the report's section this window adds to


def _svg_widget(svg: str) -> QSvgWidget:
    for light, dark in SVG_DARK:
        svg = svg.replace(light, dark)
    widget = QSvgWidget()
    widget.load(QByteArray(svg.encode("utf-8")))
    size = widget.renderer().defaultSize()
    widget.setFixedSize(size if size.isValid() else QSize(540, 40))
    return widget


def _legend(chart: Chart) -> QLabel:
    keys = "&nbsp;&nbsp;".join(
        f"<span style='color:{color}'>■</span> {escape(name)}" for name, color in chart.legend
    )
    return QLabel(keys)


def _table(table: Table) -> QTableWidget:
    widget = QTableWidget(len(table.rows), len(table.header))
    widget.setHorizontalHeaderLabels(list(table.header))
    widget.verticalHeader().setVisible(False)
    widget.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    widget.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    for r, row in enumerate(table.rows):
        for c, value in enumerate(row):
            widget.setItem(r, c, QTableWidgetItem(value))
    widget.resizeColumnsToContents()
    widget.horizontalHeader().setStretchLastSection(True)
    height = widget.horizontalHeader().height() + sum(
        widget.rowHeight(r) for r in range(widget.rowCount())
    )
    widget.setFixedHeight(height + 4)
    return widget


def _block_widgets(block: Block) -> list[QWidget]:
    out: list[QWidget] = []
    if isinstance(block, Text):
        label = QLabel(block.text)
        label.setWordWrap(True)
        if block.note:
            label.setObjectName("note")
        return [label]
    if block.title:
        title = QLabel(f"<b>{escape(block.title)}</b>")
        out.append(title)
    if isinstance(block, Chart):
        if block.empty:
            note = QLabel("nothing recorded yet")
            note.setObjectName("note")
            out.append(note)
            return out
        if block.legend:
            out.append(_legend(block))
        out.append(_svg_widget(block.svg))
    elif block.rows:
        out.append(_table(block))
    return out


def _panel(section: Section) -> QFrame:
    panel = QFrame()
    panel.setObjectName("panel")
    layout = QVBoxLayout(panel)
    title = QLabel(section.title)
    title.setObjectName("title")
    layout.addWidget(title)
    for block in section.blocks:
        for widget in _block_widgets(block):
            layout.addWidget(widget)
    layout.addStretch(1)
    return panel


def _card(title: str, value: str, note: str) -> QFrame:
    card = QFrame()
    card.setObjectName("card")
    layout = QVBoxLayout(card)
    layout.setSpacing(0)
    for text, name in ((title.upper(), "card-title"), (value, "card-value"), (note, "note")):
        label = QLabel(text)
        label.setObjectName(name)
        layout.addWidget(label)
    return card


class StatsWindow(QDialog):
    """Project statistics with charts; Save writes the self-contained HTML report.

    Args:
        project: The open project.
        parent: The window it belongs to.
        effort: The window's remaining-effort estimate (the Guided review dock's), if any.
    """

    def __init__(
        self, project: Project, parent: QWidget | None = None, effort: EffortSource | None = None
    ) -> None:
        super().__init__(parent)
        self.project = project
        self.effort = effort
        self.setWindowTitle(f"Statistics — {Path(project.location).name}")
        self.resize(1220, 860)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        save = buttons.addButton("Save HTML report…", QDialogButtonBox.ButtonRole.ActionRole)
        refresh = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ActionRole)
        save.clicked.connect(self.save_dialog)
        refresh.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll_area, 1)
        layout.addWidget(buttons)
        self.stats: dict[str, Any] = {}
        self.refresh()

    def refresh(self) -> None:
        """Compute the statistics again and rebuild the page."""
        self.stats = project_stats(self.project)
        page = QWidget()
        page.setObjectName("page")
        page.setStyleSheet(PAGE_STYLE)
        grid = QGridLayout(page)
        grid.setSpacing(10)
        cards = [
            self._time_left(card) if card[0] == "time left" else card
            for card in summary(self.stats)
        ]
        for column, card in enumerate(cards):
            grid.addWidget(_card(*card), 0, column)
        for index, section in enumerate(self._with_effort(sections(self.stats))):
            row, half = divmod(index, 2)
            grid.addWidget(_panel(section), 1 + row, half * 3, 1, 3, Qt.AlignmentFlag.AlignTop)
        grid.setRowStretch(grid.rowCount(), 1)
        self.scroll_area.setWidget(page)

    def _remaining(self) -> EffortEstimate | None:
        effort = self.effort() if self.effort is not None else None
        return effort if effort is not None and effort.frames else None

    def _time_left(self, card: tuple[str, str, str]) -> tuple[str, str, str]:
        """The "time left" card from the window's effort estimate, when there is one."""
        effort = self._remaining()
        if effort is None:
            return card
        return (
            "time left",
            f"~{effort.minutes:.1f} min",
            f"{effort.regions_left} uncertain regions on {len(effort.frames)} frames "
            "(as in Guided review)",
        )

    def _with_effort(self, parts: list[Section]) -> list[Section]:
        """The time-left section opens with the same figure as the card (and the dock)."""
        effort = self._remaining()
        if effort is None:
            return parts
        lead = Text(
            f"Guided review: ~{effort.minutes:.1f} minutes for {effort.regions_left} uncertain "
            f"regions on {len(effort.frames)} frames (the figure on the card above and in the "
            "Guided review dock). From logged time:"
        )
        return [
            Section(part.title, (lead, *part.blocks)) if part.title == TIME_LEFT_SECTION else part
            for part in parts
        ]

    def save_report(self, path: Path) -> Path:
        """Write the HTML report of the statistics shown to ``path``."""
        return write_html(self.stats, path)

    def save_dialog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(
            self,
            "Save statistics report",
            str(Path(self.project.location).with_suffix(".stats.html")),
            "HTML (*.html)",
        )
        if not name:
            return
        try:
            self.save_report(Path(name))
        except RoadmarkError as error:
            QMessageBox.warning(self, "roadmark", str(error))
