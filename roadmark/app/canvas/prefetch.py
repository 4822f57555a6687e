"""Frames made ready before they are shown: pixels decoded, objects read, pixel map drawn.

Switching frames is what annotators do most. While one frame is being edited, a
background thread prepares its neighbors, and the frame the user leaves is kept as it is
(its document stays current: every edit of it went through the session), so stepping to
the next or back to the previous frame only swaps documents. A frame that a command
changes while it is not open is dropped and read again when needed. Nothing here holds
Qt objects; the main window decides what to prepare.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roadmark.core.annotation import Frame
from roadmark.core.document import FrameDocument
from roadmark.io.frames import FrameLoader
from roadmark.io.store import Project

DEFAULT_KEEP = 4
DEFAULT_BUDGET_MB = 1024  # ROADMARK_PREFETCH_MB overrides it
OBJECT_BYTES = 2048  # what one region's geometry and caches hold, roughly (22 vertices)


def default_budget() -> int:
    """The memory frames held ahead may take, in bytes (``ROADMARK_PREFETCH_MB``)."""
    text = os.environ.get("ROADMARK_PREFETCH_MB", "")
    try:
        megabytes = float(text) if text else DEFAULT_BUDGET_MB
    except ValueError:
        megabytes = DEFAULT_BUDGET_MB
    return int(max(megabytes, 0.0) * 2**20)


@dataclass
class PreparedFrame:
    """A frame ready to show: its pixels (RGB), its document, and whatever the viewer
    rendered from them ahead of time (``views``, filled by the ``render`` callback)."""

    frame: Frame
    image: np.ndarray
    document: FrameDocument
    views: dict[str, Any] = field(default_factory=dict)

    def footprint(self) -> int:
        """Bytes held, roughly: the pixels, the buffers rendered ahead and the objects."""
        buffers = sum(int(getattr(view, "nbytes", 0)) for view in self.views.values())
        return int(self.image.nbytes) + buffers + OBJECT_BYTES * len(self.document.objects)


class FramePreparer:
    """Prepares frames in one background thread and keeps the last few.

    Args:
        project: The open project (read from the worker thread too).
        loader: Decodes frame pixels (thread-safe, with its own cache).
        keep: How many prepared frames to hold besides the open one.
        budget: How many bytes they may take together (:meth:`PreparedFrame.footprint`;
            the oldest go first, as soon as a frame finishes and the sum is known);
            :func:`default_budget` unless told.
        enabled: With ``False`` nothing is prepared ahead (every frame is read when shown).
        render: Called (in the worker thread) with each frame prepared ahead, to render
            what the viewer shows into :attr:`PreparedFrame.views`.
    """

    def __init__(
        self,
        project: Project,
        loader: FrameLoader,
        *,
        keep: int = DEFAULT_KEEP,
        budget: int | None = None,
        enabled: bool = True,
        render: Callable[[PreparedFrame], None] | None = None,
    ) -> None:
        self.project = project
        self.render = render
        self.loader = loader
        self.keep_count = keep
        self.budget = default_budget() if budget is None else budget
        self.enabled = enabled
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="roadmark-prefetch")
        # Frames asked for now (shown while they are read) do not queue behind neighbors.
        self._foreground = ThreadPoolExecutor(1, thread_name_prefix="roadmark-open")
        self._ready: OrderedDict[int, Future[PreparedFrame]] = OrderedDict()
        self._lock = threading.RLock()  # cancel() runs done callbacks that trim
        self._closed = False

    def prepare_now(self, frame_id: int, hidden_labels: Iterable[int] = ()) -> PreparedFrame:
        """Read and draw a frame on the calling thread.

        Raises:
            RoadmarkError: The frame, its image or its objects cannot be read.
        """
        annotations = self.project.objects(frame_id)
        frame = annotations.frame
        image = self.loader.load(frame.path, frame.video_frame)
        document = FrameDocument(annotations, hidden_labels=hidden_labels)
        return PreparedFrame(frame, image, document)

    def _prepare_ahead(self, frame_id: int, hidden_labels: tuple[int, ...]) -> PreparedFrame:
        prepared = self.prepare_now(frame_id, hidden_labels)
        if self.render is not None:
            self.render(prepared)
        return prepared

    def take(self, frame_id: int, hidden_labels: Iterable[int] = ()) -> PreparedFrame:
        """The prepared frame (waiting for it when it is being prepared), or read now.

        The frame leaves the cache: it is the caller's to show and edit.
        """
        with self._lock:
            future = self._ready.pop(frame_id, None)
        if future is not None and not future.cancelled():
            try:
                return future.result()
            except Exception:
                pass
        return self.prepare_now(frame_id, hidden_labels)

    def is_ready(self, frame_id: int) -> bool:
        """Whether :meth:`take` would return ``frame_id`` without waiting."""
        with self._lock:
            future = self._ready.get(frame_id)
        return future is not None and future.done() and not future.cancelled()

    def take_later(self, frame_id: int, hidden_labels: Iterable[int] = ()) -> Future[PreparedFrame]:
        """The frame as a future: the one held or being prepared, or one read and rendered
        now in a background thread (even with ``enabled=False``; it does not wait for the
        neighbors being prepared). The frame leaves the cache, as with :meth:`take`; a
        future that fails holds the :class:`RoadmarkError` of the read."""
        with self._lock:
            future = self._ready.pop(frame_id, None)
        if future is not None and not future.cancelled():
            return future
        return self._foreground.submit(self._prepare_ahead, frame_id, tuple(hidden_labels))

    def request(self, frame_ids: Iterable[int], hidden_labels: Iterable[int] = ()) -> None:
        """Start preparing frames not prepared yet (the oldest beyond ``keep`` are dropped)."""
        if not self.enabled or self._closed:
            return
        hidden = tuple(hidden_labels)
        with self._lock:
            for frame_id in frame_ids:
                if frame_id in self._ready:
                    self._ready.move_to_end(frame_id)
                    continue
                future = self._executor.submit(self._prepare_ahead, frame_id, hidden)
                self._ready[frame_id] = future
                future.add_done_callback(self._trim_when_done)
            self._trim()

    def keep(self, prepared: PreparedFrame) -> None:
        """Hold a frame the user leaves, as it is, to come back to it at once."""
        if not self.enabled or self._closed:
            return
        future: Future[PreparedFrame] = Future()
        future.set_result(prepared)
        with self._lock:
            self._ready.pop(prepared.frame.id, None)
            self._ready[prepared.frame.id] = future
            self._trim()

    def invalidate(self, frame_ids: Iterable[int]) -> None:
        """Forget frames whose objects changed while they were not open."""
        with self._lock:
            for frame_id in frame_ids:
                future = self._ready.pop(frame_id, None)
                if future is not None:
                    future.cancel()

    def _trim_when_done(self, _future: Future[PreparedFrame]) -> None:
        with self._lock:
            self._trim()

    def _trim(self) -> None:
        """Drop the oldest frames beyond ``keep`` or beyond the memory budget (called
        with the lock held)."""
        while len(self._ready) > self.keep_count or self._held_bytes() > self.budget:
            _, future = self._ready.popitem(last=False)
            future.cancel()

    def _held_bytes(self) -> int:
        return sum(
            future.result().footprint()
            for future in self._ready.values()
            if future.done() and not future.cancelled() and future.exception() is None
        )

    def held_bytes(self) -> int:
        """Bytes the frames held take (those still being prepared not counted)."""
        with self._lock:
            return self._held_bytes()

    def prepared_ids(self) -> list[int]:
        """Frames held or being prepared, oldest first."""
        with self._lock:
            return list(self._ready)

    def wait(self) -> None:
        """Block until every requested frame is prepared (benchmarks and tests)."""
        with self._lock:
            futures = list(self._ready.values())
        for future in futures:
            if not future.cancelled():
                try:
                    future.result()
                except Exception:
                    pass

    def close(self) -> None:
        self._closed = True
        with self._lock:
            for future in self._ready.values():
                future.cancel()
            self._ready.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._foreground.shutdown(wait=True, cancel_futures=True)
