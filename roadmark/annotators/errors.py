"""Errors raised by the annotation tools."""

from __future__ import annotations

from roadmark.core.errors import RoadmarkError


class TrackError(RoadmarkError):
    """A track operation cannot be done (unknown track, conflicting keyframes, ...)."""


class ToolInputError(RoadmarkError):
    """A tool got input it cannot work with (images of different sizes, empty box, ...)."""
