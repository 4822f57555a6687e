"""Finding text that cannot be stored or written: lone surrogates in parsed JSON or YAML.

JSON's ``\\ud800`` escapes (and YAML's) can make Python strings that are not valid Unicode;
SQLite, file names and every writer then fail on them. Readers look for the first one
right after parsing, so the error names the file and the place.
"""

from __future__ import annotations

from typing import Any


def first_invalid_text(data: Any) -> tuple[str, int] | None:
    """The place (``categories[3].name``; ``(key)`` for a key) and character position of
    the first string in ``data`` that is not valid Unicode, or ``None``.

    Lists that start with a number (coordinates, RLE counts) are not searched: their items
    are checked as numbers where they are used.
    """
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        place, value = stack.pop()
        if isinstance(value, str):
            position = _invalid_at(value)
            if position is not None:
                return place, position
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    position = _invalid_at(key)
                    if position is not None:
                        return (f"{place}.(key)" if place else "(key)"), position
                stack.append((f"{place}.{key}" if place else str(key), item))
        elif isinstance(value, list) and value and not isinstance(value[0], int | float):
            if all(_numbers_first(item) for item in value):
                continue  # a list of points: none of them would be searched
            stack.extend((f"{place}[{i}]", item) for i, item in reversed(list(enumerate(value))))
    return None


def _numbers_first(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and isinstance(value[0], int | float)


def _invalid_at(text: str) -> int | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None
