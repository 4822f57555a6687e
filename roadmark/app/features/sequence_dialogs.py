"""The sequence tools' small dialogs: File > Add video's options and the number of frames
Frame > Propagate through the next frames carries the objects through."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFormLayout,
    QInputDialog,
    QSpinBox,
    QWidget,
)

from roadmark.app.dialog_buttons import ok_cancel

DEFAULT_FRAMES = 10  # what Propagate through the next frames offers first
MAX_FRAMES = 10_000


class VideoOptions(QDialog):
    """Every Nth frame, frame range and extraction for File > Add video."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add video")
        self.every = QSpinBox(minimum=1, maximum=10_000, value=1)
        self.start = QSpinBox(minimum=0, maximum=10_000_000, value=0)
        self.end = QSpinBox(minimum=0, maximum=10_000_000, value=0)
        self.end.setSpecialValueText("end of the video")
        self.extract = QCheckBox("Extract the frames as PNG beside the project (faster browsing)")
        form = QFormLayout(self)
        form.addRow("Every Nth frame", self.every)
        form.addRow("First frame", self.start)
        form.addRow("Stop before frame", self.end)
        form.addRow(self.extract)
        form.addRow(ok_cancel(self))


def ask_frame_count(parent: QWidget, default: int = DEFAULT_FRAMES) -> int | None:
    """How many following frames to propagate through (``None``: cancelled)."""
    count, ok = QInputDialog.getInt(
        parent,
        "Propagate through the next frames",
        "Frames to carry the objects through\n(several frames need a video model as the "
        "Smart tool's model;\nalong the optical flow one frame is done at a time):",
        default,
        1,
        MAX_FRAMES,
    )
    return count if ok else None


def flow_note(asked: int) -> str:
    """What the status line adds when several frames were asked for and the optical flow
    did one (the chosen model is no video model)."""
    if asked <= 1:
        return ""
    return (
        f" One frame of the {asked} asked for: propagating through several frames needs a "
        "video model (Tools > Smart tool model…)."
    )
