"""Frames that an export's worker process reads from the project file itself.

An export that writes its frames in worker processes (Cityscapes: rasterizing, tracing
and encoding take ~60 CPU ms a frame) used to read every frame's objects in the export's
own process and send them over: decoding the rows, pickling the objects and their
geometry took ~6 ms a frame there, a tenth of the export's CPU, on top of unpickling in
the workers. For a project that is a file, the export now hands out a
:class:`StoredFrame` instead (the frame, its image and where the project is), and the
worker reads the objects through its own read-only :class:`~roadmark.io.store.Project`,
opened once per process: the same rows, the same checks, the same errors (a bad row, a
frame deleted since the export began), raised from the worker.

Projects on a server stay with the reading in the export's process (a worker would need
its own connection and credentials), and so do small exports, written from threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from roadmark.core.annotation import Frame
from roadmark.io.formats.common import ExportFrame

if TYPE_CHECKING:
    from roadmark.io.store import Project

_open: dict[str, Project] = {}  # this process's project, opened by the first frame it reads
# The stats key under which a writer counts the objects of the frames its workers loaded
# (not deleted), for the export's report.
OBJECTS_READ = "objects_read_by_workers"


@dataclass(frozen=True)
class StoredFrame:
    """A frame to export whose objects are read where :meth:`load` is called.

    Attributes:
        frame: The project's frame.
        image: Its image or video file (absolute path).
        project: The project file.
        format_id: The format written (for the objects' unchanged originals).
        has_sources: The project keeps imported originals (looked up once per export).
    """

    frame: Frame
    image: Path
    project: str
    format_id: str
    has_sources: bool

    def load(self) -> ExportFrame:
        """The frame with its objects and their unchanged originals, read now.

        Raises:
            ProjectError: The project cannot be opened, a row does not parse, or the frame
                was deleted since the export began.
        """
        return read_frame(
            _opened(self.project), self.frame, self.image, self.format_id, self.has_sources
        )


def read_frame(
    project: Project, frame: Frame, image: Path, format_id: str, has_sources: bool
) -> ExportFrame:
    """A frame to export with its objects and (``has_sources``: the project keeps imported
    originals) their unchanged originals for ``format_id``, read from ``project`` now: in
    the export's process, or in a worker for a :class:`StoredFrame`.

    Raises:
        ProjectError: A row does not parse, or the frame was deleted since the export began.
    """
    from roadmark.io.formats import sources

    objects = project.frame_objects(frame.id)
    if not objects:
        project.frame(frame.id)  # a frame deleted since the export began: refused
    originals = {}
    if has_sources:
        with project.reading() as conn:  # the store's read connection (same package)
            originals = sources.unchanged_originals(conn, format_id, objects)
    return ExportFrame(frame, image, objects, originals)


def _opened(path: str) -> Project:
    """The project at ``path``, opened read-only by this process (one at a time)."""
    from roadmark.io.store import Project

    project = _open.get(path)
    if project is None:
        for other in _open.values():
            other.close()
        _open.clear()
        project = _open[path] = Project.open(path, read_only=True)
    return project


def close_opened() -> None:
    """Close the project this process opened for :meth:`StoredFrame.load`, if any."""
    for project in _open.values():
        project.close()
    _open.clear()
