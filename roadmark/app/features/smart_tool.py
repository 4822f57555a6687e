"""The Smart tool in the window: a promptable model behind clicks, embeddings computed ahead.

One background thread holds the model (imported there, so the window opens without
torch) and serves, in this order: the latest decode request of the Smart tool (a hover or a
click; older ones are dropped), the open frame's embedding, and the embeddings of the next
frames in filmstrip order. Embeddings go to the project's cache
(``NAME.roadmark-cache/``), so a frame is encoded once, whether here or by
``roadmark embed``. Background encoding starts the first time the tool is chosen, so
people who never use it pay nothing.

The model is the bundled click model unless one is chosen (Tools > Smart tool model…).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog

from roadmark.annotators.editor import EditorChange
from roadmark.annotators.tools.smart import SmartRequest, SmartResult, SmartTool
from roadmark.app.shortcuts import ActionSpec, register
from roadmark.app.signals import emit
from roadmark.core.errors import RoadmarkError

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow

AHEAD = 3  # frames after the open one whose embeddings are computed in the background

SMART_ACTIONS = [
    ActionSpec("tool.smart", "&Smart (click to mask)", "Tools", ("S",)),
    ActionSpec("tool.smart_model", "Smart tool &model…", "Tools"),
]
register(SMART_ACTIONS)


class _Worker(threading.Thread):
    """The model's thread: decodes first, then embeddings for the open and next frames."""

    def __init__(self, feature: SmartFeature, model_path: Path | None, cache_root: Path | None):
        super().__init__(name="roadmark-smart", daemon=True)
        self.feature = feature
        self.model_path = model_path
        self.cache_root = cache_root
        self.embedder: Any = None
        self._cv = threading.Condition()
        self._decode: tuple[SmartRequest, np.ndarray] | None = None
        self._ahead: list[tuple[int, Path, int | None]] = []
        self._stop = False
        self.embedded: set[int] = set()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()

    def decode(self, request: SmartRequest, image: np.ndarray) -> None:
        with self._cv:
            self._decode = (request, image)
            self._cv.notify()

    def embed_ahead(self, frames: list[tuple[int, Path, int | None]]) -> None:
        with self._cv:
            self._ahead = [f for f in frames if f[0] not in self.embedded]
            self._cv.notify()

    def _load(self) -> Any:
        if self.embedder is None:
            from roadmark.io.embedding_cache import EmbeddingCache
            from roadmark.models.embedding import Embedder
            from roadmark.models.promptable import bundled_click_model, load_promptable

            model = load_promptable(self.model_path or bundled_click_model())
            cache = (
                EmbeddingCache(self.cache_root, model.digest) if self.cache_root is not None
                else None
            )
            self.embedder = Embedder(model, cache)
            emit(self.feature.loaded, model.name)
        return self.embedder

    def run(self) -> None:
        while True:
            with self._cv:
                while not self._stop and self._decode is None and not self._ahead:
                    self._cv.wait()
                if self._stop:
                    return
                job = self._decode
                self._decode = None
                ahead = self._ahead.pop(0) if job is None else None
            try:
                embedder = self._load()
                if job is not None:
                    self._run_decode(embedder, *job)
                elif ahead is not None:
                    self._run_embed(embedder, *ahead)
            except RoadmarkError as error:
                if job is not None:
                    emit(self.feature.decoded, job[0], error, 0.0)
                else:
                    emit(self.feature.failed, error.message)
            except Exception as error:  # handed to the GUI thread, never lost
                message = f"the Smart tool failed: {type(error).__name__}: {error}"
                if job is not None:
                    emit(self.feature.decoded, job[0], RoadmarkError(message), 0.0)
                else:
                    emit(self.feature.failed, message)

    def _run_decode(self, embedder: Any, request: SmartRequest, image: np.ndarray) -> None:
        from roadmark.models.promptable import Prompts

        start = time.perf_counter()
        embedding = embedder.get(image)
        prompts = Prompts(points=request.points, box=request.box, mask=request.mask)
        candidates = embedder.model.decode(embedding, prompts)
        result = SmartResult(
            candidates.masks, tuple(float(s) for s in candidates.scores), embedder.model.name
        )
        emit(self.feature.decoded, request, result, time.perf_counter() - start)

    def _run_embed(self, embedder: Any, frame_id: int, path: Path, video_frame: int | None
                   ) -> None:
        from roadmark.models.train_data import read_frame

        embedder.get(read_frame(path, video_frame))
        self.embedded.add(frame_id)
        emit(self.feature.embedded, frame_id)


class SmartFeature(QObject):
    """The Smart tool, its model thread and its actions, installed into a window.

    Attributes:
        tool: The Qt-free tool.
        ahead: How many frames after the open one are encoded in the background.
        last_seconds: Time the model thread spent on the last decode (embedding included
            when it was missing).

    Signals:
        embedded(int): A frame's embedding was computed and cached (from the model thread).
    """

    decoded = Signal(object, object, float)
    embedded = Signal(int)
    failed = Signal(str)
    loaded = Signal(str)

    def __init__(self, window: ProjectWindow, *, model_path: Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.editor = window.editor
        self.ahead = AHEAD
        self.last_seconds = 0.0
        self.model_name = ""
        self.model_path = model_path
        window.state.set_promptable_model(model_path)
        self.tool = SmartTool(self.editor.context)
        self.tool.segmenter = self._request
        self.editor.tools[self.tool.name] = self.tool
        self._worker: _Worker | None = None
        self._active = False
        self.decoded.connect(self._on_decoded, Qt.ConnectionType.QueuedConnection)
        self.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        self.loaded.connect(self._on_loaded, Qt.ConnectionType.QueuedConnection)

        window.actions.bind("tool.smart", window.guard(self.activate))
        window.actions.bind("tool.smart_model", window.guard(self.choose_model))
        action = window.actions["tool.smart"]
        action.setCheckable(True)
        group = window.actions["tool.select"].actionGroup()
        if group is not None:
            group.addAction(action)
        action.setIconText("Smart")
        keys = ", ".join(k.toString() for k in action.shortcuts())
        action.setToolTip(f"Smart: click to mask ({keys})")
        window.add_tool_action(action)
        self.editor.changed.connect(self._on_editor)
        window.on_close(self.close)

    # -- the model thread ------------------------------------------------------------------

    def _cache_root(self) -> Path | None:
        location = str(self.window.project.location)
        if "://" in location:
            return None
        from roadmark.io.embedding_cache import cache_folder

        return cache_folder(Path(location))

    def worker(self) -> _Worker:
        if self._worker is None:
            self._worker = _Worker(self, self.model_path, self._cache_root())
            self._worker.start()
        return self._worker

    def activate(self) -> None:
        """Make the Smart tool current and start encoding the open and next frames."""
        self.editor.set_tool(SmartTool.name)

    def set_model(self, path: Path | None) -> None:
        """Use another promptable model (``None``: the bundled click model)."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        self.model_path = path
        self.window.state.set_promptable_model(path)
        self.tool.cancel()
        if self._active:
            self._schedule()

    def choose_model(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self.window, "Smart tool model (a promptable .roadmodel or model folder)",
            "", "roadmark models (*.roadmodel manifest.json);;All files (*)",
        )
        if name:
            path = Path(name)
            self.set_model(path.parent if path.name == "manifest.json" else path)

    def _request(self, request: SmartRequest) -> None:
        image = self.window.shown_image(request.frame_id)
        if image is None:
            self.tool.set_result(request, RoadmarkError("the frame is not shown any more"))
            return
        self.worker().decode(request, image)

    def _schedule(self) -> None:
        """Encode the open frame and the next :attr:`ahead` ones (filmstrip order)."""
        document = self.editor.document
        state = self.window.state
        row = state.row_of(document.frame.id) if document is not None else None
        if row is None:
            return
        rows = range(row, min(row + 1 + self.ahead, len(state)))
        frames = [state.frame(r) for r in rows]
        project = self.window.project
        self.worker().embed_ahead(
            [(f.id, project.frame_file(f), f.video_frame) for f in frames]
        )

    @property
    def embedded_frames(self) -> set[int]:
        """Ids of the frames encoded by the background thread so far."""
        return set(self._worker.embedded) if self._worker is not None else set()

    # -- answers (GUI thread) --------------------------------------------------------------

    @Slot(object, object, float)
    def _on_decoded(self, request: SmartRequest, outcome: object, seconds: float) -> None:
        self.last_seconds = seconds
        if self.tool.set_result(request, outcome):  # type: ignore[arg-type]
            self.window.canvas.refresh()
            if isinstance(outcome, RoadmarkError) and not request.hover:
                self.window.statusBar().showMessage(f"Smart: {outcome.message}", 6000)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.window.statusBar().showMessage(f"Smart: {message}", 8000)

    @Slot(str)
    def _on_loaded(self, name: str) -> None:
        self.model_name = name
        self.window.statusBar().showMessage(f"Smart tool model: {name}", 4000)

    def _on_editor(self, what: EditorChange) -> None:
        if what == "tool":
            is_smart = self.editor.tool is self.tool
            self.window.actions["tool.smart"].setChecked(is_smart)
            if is_smart and not self._active:
                self._active = True
                self._schedule()
        elif what == "document" and self._active:
            self._schedule()

    def close(self) -> None:
        """Stop the model thread (the window is closing)."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None


def install(window: ProjectWindow, *, model_path: Path | None = None) -> SmartFeature:
    """Add the Smart tool to ``window``."""
    return SmartFeature(window, model_path=model_path)
