"""Errors raised while importing or exporting datasets."""

from __future__ import annotations

from roadmark.core.errors import RoadmarkError


class FormatError(RoadmarkError):
    """A dataset cannot be read or written: bad content, missing image, unknown format.

    The message names the file (``path``) and the entry inside it (``field``, for example
    ``annotations[3] (id 17).segmentation``).
    """


class UnknownLabelsError(FormatError):
    """The dataset uses labels that the project's schema does not have.

    Attributes:
        names: The unknown names with how many objects use each.
    """

    def __init__(self, message: str, names: dict[str, int], *, path: str | None = None):
        super().__init__(message, path=path)
        self.names = names


class DuplicateFormatError(ValueError):
    """Two format classes were registered with the same id (a programming error)."""
