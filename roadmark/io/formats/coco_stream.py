"""Reading a COCO file of any size in bounded memory.

One streaming pass (``ijson``, its C parser where installed) builds the small top-level
parts (``info``, ``images``, ``categories``) and checks each annotation as it goes by
(an object, a unique id, an image it names); the annotations themselves go to a
temporary SQLite table keyed by image, since a file need not be grouped by image and its
``categories`` may come last (roadmark's own export writes them last). Afterwards the
annotations of one image at a time come back in file order. Peak memory is the images
and categories, one image's annotations and the parser's buffer, whatever the file's size.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

from roadmark.io.formats.common import read_json
from roadmark.io.formats.errors import FormatError
from roadmark.io.text_checks import first_invalid_text

TOP_LEVEL = ("info", "images", "categories", "annotations")
SPILL_BATCH = 2000  # annotations inserted per statement
MAX_DEPTH = 100  # JSON nesting; COCO needs 4
INT64 = 2**63


class CocoStream:
    """One COCO file, read once: top-level parts in memory, annotations spilled.

    Use as a context manager (the spill table is removed on exit).

    Attributes:
        info: The ``info`` object (``None`` when absent).
        images: The ``images`` value (a list when well formed; checked by the reader).
        categories: The ``categories`` value.
        annotations: The ``annotations`` value when it is not a list (``None`` when absent
            or a list; a list is streamed, see :meth:`annotations_of`).
        annotation_count: Annotations streamed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = str(path)
        self.info: Any = None
        self.images: Any = None
        self.categories: Any = None
        self.annotations: Any = None
        self.annotation_count = 0
        self.present: set[str] = set()
        self._folder = tempfile.TemporaryDirectory(prefix="roadmark-coco-")
        self._db = sqlite3.connect(Path(self._folder.name) / "annotations.sqlite")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE ann (image TEXT, position INTEGER, body TEXT)")

    def __enter__(self) -> CocoStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._folder.cleanup()

    # -- the pass ---------------------------------------------------------------------------

    def read(self, check_annotation: Any, on_images: Any) -> None:
        """Stream the file; ``check_annotation(index, ann)`` is called for each annotation
        in file order and returns its image key (it raises on a bad annotation), and
        ``on_images(images)`` as soon as the ``images`` value is read.

        Raises:
            FormatError: Missing or unreadable file, invalid JSON (with line and column),
                or a top level that is not an object.
        """
        try:
            if has_surrogate_escape(self.path):
                # The C parser turns a lone surrogate into "?" silently: Python's parser
                # reads such a (rare) file whole and refuses a lone one by its place.
                read_json(self.path)
            with open(self.path, "rb") as handle:
                self._read(ijson.parse(handle, use_float=True), check_annotation, on_images)
        except FileNotFoundError as error:
            raise FormatError("no such file", path=self.where) from error
        except OSError as error:
            raise FormatError(f"cannot read ({error.strerror})", path=self.where) from error
        except (ijson.JSONError, UnicodeDecodeError) as error:
            # Python's parser names the line and column of a syntax error; a file it reads
            # holds what the streaming parser refuses: NaN, infinities, huge integers.
            data = read_json(self.path)
            field, problem = first_unusable_number(data) or ("", _first_line(error))
            raise FormatError(problem, path=self.where, field=field or None) from error
        self._db.execute("CREATE INDEX ann_image ON ann (image, position)")

    def _read(self, events: Iterator[tuple[str, str, Any]], check: Any, on_images: Any) -> None:
        first = next(events, None)
        if first is None or first[1] != "start_map":
            for _ in events:  # a syntax error later in the file is reported as such
                pass
            raise FormatError(
                "must be an object with images, annotations, categories", path=self.where
            )
        batch: list[tuple[str, int, str]] = []
        for prefix, event, value in events:
            if prefix != "" or event != "map_key":
                continue  # the end of the top-level object
            key = value
            self.present.add(key)
            prefix, event, value = next(events)
            if key == "annotations" and event == "start_array":
                for ann in self._array_items(events, "annotations.item", self.where):
                    field = f"annotations[{self.annotation_count}]"
                    _check_text(ann, where=self.where, field=field)
                    image = check(self.annotation_count, ann)
                    batch.append((json.dumps(image), self.annotation_count, json.dumps(ann)))
                    self.annotation_count += 1
                    if len(batch) >= SPILL_BATCH:
                        self._db.executemany("INSERT INTO ann VALUES (?, ?, ?)", batch)
                        batch.clear()
                continue
            built = _build(events, event, value, where=self.where)
            _check_text(built, where=self.where, field=str(key))
            if key in TOP_LEVEL:
                setattr(self, key, built)
            if key == "images":
                on_images(built)
        if batch:
            self._db.executemany("INSERT INTO ann VALUES (?, ?, ?)", batch)

    @staticmethod
    def _array_items(
        events: Iterator[tuple[str, str, Any]], item: str, where: str
    ) -> Iterator[Any]:
        for prefix, event, value in events:
            if event == "end_array" and prefix != item:
                return
            yield _build(events, event, value, where=where)

    # -- after the pass ---------------------------------------------------------------------

    def annotations_of(self, image_id: Any) -> list[tuple[int, dict]]:
        """``(index in the file, annotation)`` of one image, in file order."""
        rows = self._db.execute(
            "SELECT position, body FROM ann WHERE image = ? ORDER BY position",
            (json.dumps(image_id),),
        )
        return [(position, json.loads(body)) for position, body in rows]


def _build(events: Iterator[tuple[str, str, Any]], event: str, value: Any, *, where: str) -> Any:
    """The value that starts with ``(event, value)``, consuming its events.

    Raises:
        FormatError: The value nests deeper than :data:`MAX_DEPTH`.
    """
    if event not in ("start_map", "start_array"):
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for _, event, value in events:
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
            if depth > MAX_DEPTH:
                raise FormatError("JSON nested too deeply", path=where)
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                break
    return builder.value


def _check_text(value: Any, *, where: str, field: str) -> None:
    found = first_invalid_text(value)
    if found is not None:
        place, position = found
        joined = f"{field}.{place}" if place and not place.startswith("[") else field + place
        raise FormatError(
            f"is not valid Unicode text (a lone surrogate at character {position})",
            path=where,
            field=joined,
        )


def first_unusable_number(data: Any) -> tuple[str, str] | None:
    """The JSON path and the problem of the first number that no COCO field can hold: NaN,
    an infinity, or an integer beyond 64 bits (``None`` when there is none)."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        place, value = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not -INT64 <= value < INT64:
            return place, "must fit in 64 bits (a signed integer)"
        if isinstance(value, float) and not math.isfinite(value):
            return place, f"must be a finite number, got {value}"
        if isinstance(value, dict):
            items = [(f"{place}.{key}" if place else str(key), item) for key, item in value.items()]
            stack.extend(reversed(items))
        elif isinstance(value, list):
            stack.extend((f"{place}[{i}]", item) for i, item in reversed(list(enumerate(value))))
    return None


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
SCAN_CHUNK = 1 << 22


def has_surrogate_escape(path: Path) -> bool:
    """Whether a JSON file holds a ``\\uD800``-``\\uDFFF`` escape (read in chunks)."""
    tail = b""
    with open(path, "rb") as handle:
        while chunk := handle.read(SCAN_CHUNK):
            if _SURROGATE_ESCAPE.search(tail + chunk):
                return True
            tail = chunk[-5:]
    return False


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return f"not valid JSON ({text.splitlines()[0] if text else type(error).__name__})"
