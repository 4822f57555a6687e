"""The editing model's psygnal signals: the payloads they carry, weak references to the
watchers, and a watcher's error reaching the code that made the change."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psygnal import SignalInstance

from roadmark.annotators.editor import Editor
from roadmark.core.document import DocumentChange, FrameDocument
from roadmark.core.edits import AddObjects
from roadmark.core.history import History
from roadmark.core.session import EditSession, SessionEvent
from roadmark.io.store import FrameSpec, Project
from tests.helpers import region


class Watcher:
    """A subscriber that is only reachable through the signal it watches."""

    def __init__(self, heard: list[tuple[Any, ...]]) -> None:
        self.heard = heard

    def on_signal(self, *args: Any) -> None:
        self.heard.append(args)


@pytest.fixture
def editor(tmp_path: Path) -> Iterator[Editor]:
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames([FrameSpec(tmp_path / "f.png", None, 64, 48, "s", 0)])
    editor = Editor(EditSession(project), project.schema)
    editor.open(project.frames()[0].id)
    yield editor
    project.close()


def add_region(editor: Editor) -> None:
    document = editor.document
    assert document is not None
    editor.session.execute(AddObjects(document.frame.id, [region(7, 2, 2, 20, 20)], text="add"))


def signals(editor: Editor) -> dict[str, tuple[SignalInstance, Callable[[], None]]]:
    """Each watched object's signal, with an action that makes it fire."""
    document = editor.document
    assert document is not None
    return {
        "history": (editor.session.history.changed, lambda: add_region(editor)),
        "document": (document.changed, lambda: add_region(editor)),
        "session": (editor.session.committed, lambda: add_region(editor)),
        "editor": (editor.changed, lambda: editor.set_tool("brush")),
    }


@pytest.mark.parametrize("name", ["history", "document", "session", "editor"])
def test_a_deleted_watcher_is_not_kept_alive(editor: Editor, name: str):
    signal, fire = signals(editor)[name]
    heard: list[tuple[Any, ...]] = []
    watcher = Watcher(heard)
    signal.connect(watcher.on_signal)
    fire()
    assert heard, "the watcher heard nothing while it was alive"
    alive = weakref.ref(watcher)
    del watcher
    gc.collect()
    assert alive() is None
    count = len(heard)
    fire()
    assert len(heard) == count and len(signal) == 0


def test_payloads(editor: Editor):
    document = editor.document
    assert document is not None
    heard: dict[str, list[tuple[Any, ...]]] = {"history": [], "document": [], "session": []}
    editor.session.history.changed.connect(lambda *args: heard["history"].append(args))
    document.changed.connect(lambda *args: heard["document"].append(args))
    editor.session.committed.connect(lambda *args: heard["session"].append(args))
    add_region(editor)
    ((history,),) = heard["history"]
    assert history is editor.session.history and len(history) == 1
    (doc, change), *_ = heard["document"]
    assert doc is document and isinstance(change, DocumentChange) and change.order
    ((event,),) = heard["session"]
    assert isinstance(event, SessionEvent) and event.action == "do"
    assert event.frame_ids == (document.frame.id,)
    editor.undo()
    assert [args[0].action for args in heard["session"]] == ["do", "undo"]
    assert isinstance(document, FrameDocument)


def test_the_editor_names_what_changed(editor: Editor):
    heard: list[str] = []
    editor.changed.connect(heard.append)
    editor.set_tool("polygon")
    editor.set_label(26)
    assert heard == ["tool", "label"]


def test_a_watchers_error_reaches_the_caller_as_itself():
    history = History()

    def refuse(_history: History) -> None:
        raise KeyError("no")

    history.changed.connect(refuse)
    with pytest.raises(KeyError, match="no"):
        history.clear()
    history.changed.disconnect(refuse)
    history.clear()  # nobody watching: no error
