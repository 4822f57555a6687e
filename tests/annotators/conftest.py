"""An editor on a one-frame project (200 x 100 pixels), as the GUI builds it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from roadmark.annotators.editor import Editor
from roadmark.core.annotation import AnnotationObject
from roadmark.core.document import FrameDocument
from roadmark.core.session import EditSession
from roadmark.io.store import FrameSpec, Project

WIDTH, HEIGHT = 200, 100


@dataclass
class Bench:
    project: Project
    session: EditSession
    editor: Editor
    frame_id: int

    @property
    def doc(self) -> FrameDocument:
        document = self.editor.document
        assert document is not None
        return document

    def stored(self) -> list[AnnotationObject]:
        """The frame's live objects as the store has them, bottom first."""
        return self.project.objects(self.frame_id).live()

    def seed(self, objects: list[AnnotationObject]) -> list[AnnotationObject]:
        """Store objects directly and reopen the frame (not an undoable edit)."""
        stored = self.project.add_objects(self.frame_id, objects)
        self.editor.open(self.frame_id)
        return stored


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    project = Project.create(tmp_path / "p.roadmark")
    ids, _ = project.add_frames([FrameSpec(tmp_path / "f.png", None, WIDTH, HEIGHT, "s", 0)])
    session = EditSession(project)
    editor = Editor(session, project.schema)
    editor.open(ids[0])
    yield Bench(project, session, editor, ids[0])
    project.close()
