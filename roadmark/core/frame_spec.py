"""Frame lists written by people: ``"all"``, ``"3"``, ``"0-9,12,20-22"``.

One parser for every place that takes such a list (the command line's ``--frames``, the
workflow commands, the export jobs, the window's assign dialog), with one set of rules:

- ``None``, an empty text or ``all`` (any case) selects every frame (where choosing every
  frame by leaving a field empty would be a surprise, as when assigning work, an empty text
  is refused with ``empty_is_all=False``);
- otherwise comma-separated parts, each ``N`` or ``A-B`` (both ends included; spaces
  around numbers are fine);
- the numbers count from ``first`` (0 on the command line, 1 where the window shows frame
  numbers from 1); the result is always 0-based positions;
- the result is in project order (sorted) without repeats, whatever the order of the parts;
- anything else is a :class:`FrameSpecError` naming the part and what would be accepted.
"""

from __future__ import annotations

import re

from roadmark.core.errors import RoadmarkError

__all__ = ["FrameSpecError", "parse_frame_spec"]

_PART = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


class FrameSpecError(RoadmarkError):
    """A frame list that is malformed or names a frame the project does not have."""


def parse_frame_spec(
    spec: str | None,
    count: int,
    *,
    first: int = 0,
    field: str = "--frames",
    empty_is_all: bool = True,
) -> list[int]:
    """0-based positions of the frames that ``spec`` selects among ``count`` frames.

    Args:
        spec: The text (see the module documentation); ``None`` selects every frame.
        count: How many frames there are.
        first: The number that the text gives the first frame (0 or 1).
        field: Where the text came from, named in errors.
        empty_is_all: Whether an empty text selects every frame (else it is refused).

    Raises:
        FrameSpecError: A part that is not ``N`` or ``A-B``, a reversed range, a number
            outside ``first .. first + count - 1``, or an empty text when not
            ``empty_is_all``.
    """
    if spec is not None and not spec.strip() and not empty_is_all:
        raise FrameSpecError(
            f"no frames given (write e.g. {first}-{first + 9},{first + 12} or all)", field=field
        )
    if spec is None or not spec.strip() or spec.strip().lower() == "all":
        return list(range(count))
    chosen: set[int] = set()
    last_number = first + count - 1
    for raw in spec.split(","):
        part = raw.strip()
        match = _PART.match(part)
        if match is None:
            example = f"{first}-{first + 9},{first + 12}"
            raise FrameSpecError(
                f"'{part}' is not a frame number or range (write e.g. {example} or all)",
                field=field,
            )
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if high < low:
            raise FrameSpecError(
                f"bad range '{part}': the first number is larger than the last", field=field
            )
        for number in (low, high):
            if not first <= number <= last_number:
                raise FrameSpecError(_no_such_frame(number, count, first), field=field)
        chosen.update(range(low - first, high - first + 1))
    return sorted(chosen)


def _no_such_frame(number: int, count: int, first: int) -> str:
    if count == 0:
        return f"there is no frame {number}: the project has no frames"
    return f"there is no frame {number}: frames are numbered {first} to {first + count - 1}"
