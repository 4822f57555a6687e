"""Frame > Assign frames: give frames to an annotator and a reviewer from the window.

The frames are written with the numbers the filmstrip shows (from 1: ``3``, ``1-10,12``,
``all``; the open frame by default; the command line's ``--frames`` counts from 0). Each
person box offers the names already in the project and takes any new one; "(keep)"
leaves that assignment as it is and "(nobody)" clears it. The workflow refuses a reviewer
who annotates the frame; the message is shown in the dialog and nothing is changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from roadmark.app.dialog_buttons import ok_cancel
from roadmark.core.annotation import Frame
from roadmark.core.errors import RoadmarkError
from roadmark.core.frame_spec import parse_frame_spec
from roadmark.io import workflow as wf
from roadmark.io.store import Project

KEEP = "(keep)"
NOBODY = "(nobody)"


def _person_box(names: Sequence[str]) -> QComboBox:
    box = QComboBox()
    box.setEditable(True)
    box.addItems([KEEP, NOBODY, *names])
    box.setCurrentIndex(0)
    return box


class AssignDialog(QDialog):
    """Assign frames of ``project`` (listed as ``frames``, in project order).

    Args:
        project: The open project.
        frames: Its frames, in filmstrip order.
        current: Row of the open frame (0-based; the default selection).
        parent: The window it belongs to.

    Attributes:
        assigned: The frames changed by the last successful :meth:`apply`.
    """

    def __init__(
        self,
        project: Project,
        frames: Sequence[Frame],
        current: int | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Assign frames")
        self.project = project
        self.frames = list(frames)
        self.assigned: list[Frame] = []
        states = wf.frame_states(project)
        names = sorted(
            {n for s in states for n in (s.assignee, s.reviewer, s.annotator) if n} | {project.user}
        )
        self.spec = QLineEdit("" if current is None else str(current + 1))
        self.spec.setPlaceholderText("frame numbers: 3, 1-10,12 or all")
        self.annotator = _person_box(names)
        self.reviewer = _person_box(names)
        self.message = QLabel()
        self.message.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Frames", self.spec)
        form.addRow("Annotator", self.annotator)
        form.addRow("Reviewer", self.reviewer)
        buttons = ok_cancel(self, self._accept)
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    @staticmethod
    def _choice(box: QComboBox) -> Any:
        text = box.currentText().strip()
        if text in ("", KEEP):
            return wf.UNCHANGED
        return None if text == NOBODY else text

    def apply(self) -> bool:
        """Assign as the form says; on a refusal show why and change nothing."""
        annotator, reviewer = self._choice(self.annotator), self._choice(self.reviewer)
        try:
            positions = parse_frame_spec(
                self.spec.text(), len(self.frames), first=1, field="frames", empty_is_all=False
            )
            chosen = [self.frames[p] for p in positions]
            if annotator is wf.UNCHANGED and reviewer is wf.UNCHANGED:
                raise RoadmarkError("choose an annotator or a reviewer", field="assign")
            wf.assign(
                self.project,
                [frame.id for frame in chosen],
                annotator=annotator,
                reviewer=reviewer,
            )
        except RoadmarkError as error:
            self.message.setText(f"<span style='color:#e05050'>{error}</span>")
            return False
        self.assigned = chosen
        return True

    def _accept(self) -> None:
        if self.apply():
            self.accept()
