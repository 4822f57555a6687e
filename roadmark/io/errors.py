"""Errors raised by the project store and the frame sources."""

from __future__ import annotations

from roadmark.core.errors import EditConflictError, RoadmarkError


class ProjectError(RoadmarkError):
    """A project file cannot be created, opened or written."""


class NotAProjectError(ProjectError):
    """The file exists but is not a roadmark project."""


class ProjectVersionError(ProjectError):
    """The project was written by a newer roadmark."""


class ProjectLockedError(ProjectError):
    """Another process holds the project's write lock."""


class ProjectReadOnlyError(ProjectError):
    """The project file (or its folder) is read-only."""


class FrameSourceError(RoadmarkError):
    """An image, folder or video cannot be used as frames."""


class StaleEditError(ProjectError, EditConflictError):
    """An edit was based on an object version that someone else has changed since."""


class FrameLeasedError(ProjectError):
    """Another person holds the edit lease of the frame."""


class PermissionDeniedError(ProjectError):
    """The user's role in a team project does not allow the action."""
