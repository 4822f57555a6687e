"""The queue of uncertain regions in the Guided review dock: the frame's or the project's
regions ranked by expected error, the effort left, going from region to region (switching
frame, zooming to the region with context, selecting the objects there), marking a region
resolved, and the filmstrip ordered by remaining effort.

The queue itself is Qt-free (:class:`~roadmark.annotators.review.guided.ReviewQueue`);
this module shows it and moves through it. The frame order is the window state's
(:meth:`~roadmark.app.state.ProjectState.set_order`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from roadmark.annotators.review.guided import ReviewQueue, focus_rect, objects_in
from roadmark.app.docks.uncertainty import SCOPE_FRAME, SCOPE_PROJECT, UncertaintyDock
from roadmark.app.features.model_layers import FocusItem
from roadmark.core.effort import DEFAULT_COST_MODEL, EffortEstimate, estimate
from roadmark.core.errors import RoadmarkError
from roadmark.core.prediction import UncertainRegion
from roadmark.io.predictions import ranked_regions

if TYPE_CHECKING:
    from roadmark.app.window_api import ProjectWindow
    from roadmark.io.store import Project

REVIEW_MAX_ZOOM = 2.5  # a region is shown at 250 % at most, with the frame around it


class RegionQueue:
    """Shows a :class:`ReviewQueue` in the dock and moves the window through it.

    Args:
        window: The project window.
        queue: The queue (shared with the accept actions, which resolve its regions).
        dock: The Guided review dock.
        focus: The canvas item that outlines the current region.

    Attributes:
        scope: :data:`SCOPE_PROJECT` or :data:`SCOPE_FRAME` (the open frame's regions).
        effort: Remaining effort of the project (or, in frame scope, of every region).
    """

    def __init__(
        self, window: ProjectWindow, queue: ReviewQueue, dock: UncertaintyDock, focus: FocusItem
    ) -> None:
        self.window = window
        self.project = window.project
        self.editor = window.editor
        self.queue = queue
        self.dock = dock
        self.focus = focus
        self.scope = SCOPE_PROJECT
        self.effort = EffortEstimate()
        self.sorting = False  # the filmstrip is being reordered by effort right now

    @property
    def frame_id(self) -> int | None:
        document = self.editor.document
        return None if document is None else document.frame.id

    def set_scope(self, scope: str) -> None:
        self.scope = scope
        self.reload()

    def reload(self) -> None:
        """Read the queue and the effort estimate again and show them."""
        self.queue.reload(self.frame_id if self.scope == SCOPE_FRAME else None)
        regions = (
            ranked_regions(self.project, model=self.queue.model)
            if self.scope == SCOPE_FRAME
            else self.queue.regions
        )
        self.effort = estimate(regions)
        self.show()

    def show(self) -> None:
        """Show the regions (with the frames' names and positions) and the progress."""
        names = frame_names(self.project)
        self.dock.show_regions(self.queue.regions, names, DEFAULT_COST_MODEL, self.queue.index)
        self.show_progress()

    def show_progress(self) -> None:
        """Show the regions and minutes left (and keep the effort order, when on)."""
        here = self.effort.frame_minutes(self.frame_id) if self.frame_id is not None else 0.0
        self.dock.progress.setText(
            f"{len(self.queue)} regions left · ~{self.effort.minutes:.1f} min "
            f"(this frame {here:.1f} min)"
        )
        if self.window.actions["frame.sort_effort"].isChecked():
            self.sort_by_effort(True)

    # -- moving ----------------------------------------------------------------------------

    def next_region(self) -> None:
        self.go(self.queue.next())

    def previous_region(self) -> None:
        self.go(self.queue.previous())

    def go_to_index(self, index: int) -> None:
        self.go(self.queue.go(index))

    def go(self, region: UncertainRegion | None) -> None:
        """Show ``region``: its frame, zoomed to it, the objects there selected."""
        if region is None:
            self.window.statusBar().showMessage("No uncertain regions left.", 5000)
            return
        self.show_frame(region.frame_id)
        document = self.editor.document
        if document is None or document.frame.id != region.frame_id:
            return
        rect = focus_rect(region.box, document.width, document.height)
        self.window.canvas.zoom_to(rect.x0, rect.y0, rect.x1, rect.y1, max_zoom=REVIEW_MAX_ZOOM)
        document.select(objects_in(document, region.box, region.outline))
        self.focus.set_box(region.box, region.outline)
        self.dock.mark_region(self.queue.index)
        self.window.statusBar().showMessage(
            f"Region {self.queue.index + 1} of {len(self.queue)}: "
            f"~{region.score:.0f} wrong pixels expected",
            5000,
        )

    def show_frame(self, frame_id: int | None) -> None:
        """Open frame ``frame_id`` unless it is open already."""
        if frame_id is not None and frame_id != self.frame_id:
            self.window.show_frame(frame_id)

    def resolve_region(self) -> None:
        """Mark the current region resolved and go to the next one."""
        if self.queue.resolve() is None:
            raise RoadmarkError("go to a region first (U)")
        self.focus.set_box(None)
        self.reload()
        if len(self.queue):
            self.next_region()

    # -- active ordering -------------------------------------------------------------------

    def sort_by_effort(self, on: bool) -> None:
        """Order the filmstrip by remaining effort, most first (project order when off)."""
        state = self.window.state
        frames = state.frames
        if on:
            effort = estimate(ranked_regions(self.project, model=self.queue.model))
            position = {frame.id: i for i, frame in enumerate(self.project.frames())}
            frames.sort(key=lambda f: (-effort.frame_seconds(f.id), position.get(f.id, 0)))
        else:
            listed = {f.id: f for f in frames}
            frames = [listed[f.id] for f in self.project.frames() if f.id in listed]
        self.sorting = True
        try:
            state.set_order(frames)  # the filmstrip follows, the open frame stays selected
        finally:
            self.sorting = False


def frame_names(project: Project) -> dict[int, str]:
    """Frame id -> its position in the project (1-based, as the filmstrip shows it
    unsorted) and its name."""
    return {frame.id: f"{row + 1} {frame.name}" for row, frame in enumerate(project.frames())}
