"""Opening a frame without waiting for its regions: the image at once, the overlay after.

A frame the background preparer holds ready (see :mod:`roadmark.app.canvas.prefetch`)
is swapped in at once. A frame it does not hold, with many objects, would keep the window
frozen while its objects are read and its pixel map is rasterized (seconds at 10,000
regions on a 4K frame), so it is opened in two steps: its pixels are shown at once (the
canvas edits nothing meanwhile), its document and overlay are read and rendered in a
background thread, and the window shows them when they arrive, exactly as a synchronous
open would have. A frame with few objects is opened synchronously: reading it costs less
than the second repaint.

Nothing here decides what the window does with the frame; :class:`FrameOpener` only
tells it, on the GUI thread, that the frame it waits for is ready.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import CancelledError, Future, wait
from functools import partial
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal

from roadmark.annotators.editor import Editor
from roadmark.app.canvas.layers import OverlayLayer, argb_from_rgb
from roadmark.app.canvas.prefetch import FramePreparer, PreparedFrame
from roadmark.app.signals import emit
from roadmark.core.annotation import Frame
from roadmark.io.store import Project

PROGRESSIVE_OBJECTS = 300  # frames with fewer stored objects are opened synchronously


def _hand_over(reading: Future[PreparedFrame], read: Future[PreparedFrame]) -> None:
    """Settle the opener's ``reading`` with the preparer's finished ``read``."""
    if read.cancelled():
        reading.set_exception(CancelledError())
    elif (error := read.exception()) is not None:
        reading.set_exception(error)
    else:
        reading.set_result(read.result())


class FrameOpener(QObject):
    """Reads frames in the background for the window and hands them back on its thread.

    Args:
        project: The open project (to count a frame's objects).
        preparer: Reads and renders frames.
        editor: The editor (its hidden labels decide the overlay).
        overlay: The canvas's overlay layer (its colors and outline mode).
        show: Called on the GUI thread with the frame waited for, once it is ready.
        fail: Called on the GUI thread with the frame and the error when it cannot be read.

    Attributes:
        progressive_from: Frames with at least this many stored objects (soft-deleted
            ones included) are opened progressively unless prepared already.
        pending: The frame shown as an image while its document is read, if any.
        reading: The last read started (done or not).
    """

    _arrived = Signal(int, object)

    def __init__(
        self,
        project: Project,
        preparer: FramePreparer,
        editor: Editor,
        overlay: OverlayLayer,
        *,
        show: Callable[[PreparedFrame], None],
        fail: Callable[[Frame, Exception], None],
    ) -> None:
        super().__init__()
        self.project = project
        self.preparer = preparer
        self.editor = editor
        self.overlay = overlay
        self._show = show
        self._fail = fail
        self.progressive_from = PROGRESSIVE_OBJECTS
        self.pending: Frame | None = None
        self.pending_row: int | None = None
        self.reading: Future[PreparedFrame] | None = None
        self._read: Future[PreparedFrame] | None = None  # the preparer's, once started
        self._serial = 0
        self._arrived.connect(self._on_arrived, Qt.ConnectionType.QueuedConnection)

    def shows_later(self, frame: Frame) -> bool:
        """Whether ``frame`` should be opened progressively (see the module's text)."""
        if self.preparer.is_ready(frame.id):
            return False
        return self.project.stored_object_count(frame.id) >= self.progressive_from

    def wait_for(self, frame: Frame, row: int) -> Future[PreparedFrame]:
        """Read ``frame`` (at filmstrip ``row``) in the background; ``show`` gets it unless
        another frame is asked for (or :meth:`forget` is called) first.

        The read starts once the event loop runs again, after the image is painted: a
        thread parsing thousands of rows would otherwise share the GIL with that repaint
        (and with the window's first show at start-up). Returns the read; it runs
        (:meth:`Future.running`) once started.
        """
        self.forget()  # a read not started yet is cancelled: stepping fast queues nothing
        serial = self._serial
        self.pending, self.pending_row = frame, row
        reading: Future[PreparedFrame] = Future()
        reading.add_done_callback(lambda done: emit(self._arrived, serial, done))
        self.reading = reading
        hidden = sorted(self.editor.hidden_labels)
        QTimer.singleShot(0, self, partial(self._start, serial, reading, frame.id, hidden))
        return reading

    def _start(
        self, serial: int, reading: Future[PreparedFrame], frame_id: int, hidden: list[int]
    ) -> None:
        if serial != self._serial or not reading.set_running_or_notify_cancel():
            return
        self._read = self.preparer.take_later(frame_id, hidden)
        self._read.add_done_callback(partial(_hand_over, reading))

    def forget(self) -> None:
        """Stop waiting: a frame arriving now is dropped."""
        self._serial += 1
        if self.pending is not None:
            # Only a read not started yet stops; a started one runs on and is dropped.
            if self.reading is not None and self.reading.cancel():
                self.reading.set_running_or_notify_cancel()  # wakes those who wait on it
            if self._read is not None:
                self._read.cancel()
        self._read = None
        self.pending = self.pending_row = None

    def finish(self) -> None:
        """Wait here for the frame being read and show it (a screenshot, a benchmark):
        events are processed until it has arrived; a started read is waited for as the
        idle event loop would, without holding the GIL."""
        app = QCoreApplication.instance()
        while self.pending is not None and app is not None:
            reading = self.reading
            if reading is not None and reading.running():
                wait([reading])
            app.processEvents()

    def _on_arrived(self, serial: int, future: Future[PreparedFrame]) -> None:
        frame = self.pending
        if serial != self._serial or frame is None or future.cancelled():
            return  # another frame was asked for since: this one is read again if needed
        self.pending = self.pending_row = None
        self._read = None
        try:
            prepared = future.result()
        except Exception as error:  # a RoadmarkError from the read, shown by the window
            self._fail(frame, error)
            return
        self._show(prepared)

    # -- what the canvas shows, rendered ahead -------------------------------------------

    def overlay_key(self) -> tuple[bool, tuple[int, ...]]:
        """What an overlay rendered ahead depends on: outline mode and hidden labels."""
        return (self.overlay.outline, tuple(sorted(self.editor.hidden_labels)))

    def render_ahead(self, prepared: PreparedFrame) -> None:
        """Render a frame's canvas buffers (in the preparer's thread: numpy only)."""
        key = self.overlay_key()
        prepared.views = {
            "argb": argb_from_rgb(prepared.image),
            "overlay": self.overlay.colors.render(prepared.document, outline=key[0]),
            "overlay_key": key,
        }

    def overlay_of(self, prepared: PreparedFrame) -> Any:
        """The overlay rendered ahead for ``prepared`` if it is still right, else ``None``."""
        views = prepared.views
        return views.get("overlay") if views.get("overlay_key") == self.overlay_key() else None
