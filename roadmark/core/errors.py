"""Exception types shared by every layer.

Every error the user can cause derives from :class:`RoadmarkError`; the command line turns
one into a single line on stderr and exit status 2.
"""

from __future__ import annotations

from typing import Any


class RoadmarkError(Exception):
    """A problem the user can fix (bad input, missing file, wrong project).

    Args:
        message: What is wrong, in one sentence.
        path: The file concerned, when there is one; it leads the rendered message.
        field: The entry or field inside that file, when known.
    """

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep path and field when an error crosses a process boundary (export workers).
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))

    def __str__(self) -> str:
        parts = []
        if self.path:
            parts.append(str(self.path))
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


def _restore_error(
    cls: type[RoadmarkError], args: tuple[Any, ...], state: dict[str, Any]
) -> RoadmarkError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class SchemaError(RoadmarkError):
    """A label schema is malformed (duplicate id, bad color, unknown field...)."""


class GeometryError(RoadmarkError):
    """A geometry cannot be used (too few points, empty, not finite)."""


class EditConflictError(RoadmarkError):
    """An edit was refused because someone else changed the same objects first."""
