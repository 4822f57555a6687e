"""Reading a COCO file of any size in bounded memory.

One streaming pass builds the small top-level parts (``info``, ``images``,
``categories``) and checks each annotation as it goes by (an object, a unique id, an
image it names); the annotations themselves go to a temporary SQLite table keyed by
image, since a file need not be grouped by image and its ``categories`` may come last
(roadmark's own export writes them last). Afterwards the annotations of one image at a
time come back in file order. Peak memory is the images and categories, one image's
annotations and the read buffer, whatever the file's size.

The pass reads the file's text a chunk at a time and walks only the top-level object and
the ``annotations`` array itself; every value in them is parsed by the standard library's
C scanner (``json``), which is several times faster than building values from a
streaming parser's events in Python. What that scanner lets through and a COCO file must
not hold is refused here, with the place named (:func:`first_unusable_number`, run on a
value that may hold one): NaN and infinities (the scanner's hooks see every such constant
and every integer; an exponent of three digits or a polygon value that is not finite
flags a float that overflowed), integers beyond 64 bits, and nesting deeper than
:data:`MAX_DEPTH`. A syntax error is reported by Python's parser reading the file whole,
with line and column.

A polygon (a list of plain numbers in ``segmentation``) is spilled as the bytes of a
float64 array and comes back as a read-only numpy array: nothing else is built from it
on the way back, and the reader range-checks the array as a whole.
"""

from __future__ import annotations

import codecs
import json
import marshal
import math
import re
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from roadmark.io.formats.common import read_json
from roadmark.io.formats.errors import FormatError
from roadmark.io.text_checks import first_invalid_text

TOP_LEVEL = ("info", "images", "categories", "annotations")
SPILL_BATCH = 2000  # annotations inserted per statement
MAX_DEPTH = 100  # JSON nesting; COCO needs 4
INT64 = 2**63
READ_CHUNK = 1 << 22  # bytes of the file read at a time

_TOKEN = re.compile(r"[^ \t\n\r]")  # where the next token starts
# An exponent of three digits: 1e999 is an infinity for Python's parser.
_LARGE_EXPONENT = re.compile(r"[eE]\+?[0-9]{3}")
_POLYGON_TYPES = frozenset({float, int})


class MalformedJSONError(ValueError):
    """The text is not one JSON object (Python's parser then names line and column)."""


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
        self._db.execute("CREATE TABLE ann (image TEXT, position INTEGER, body BLOB)")

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
                a number no field can hold or too deep a nesting (with its place), or a
                top level that is not an object.
        """
        try:
            # A "\ud800" escape can make a lone surrogate, which no writer takes: Python's
            # parser reads such a (rare) file whole and refuses a lone one by its place.
            # Without such an escape the strict UTF-8 decoding cannot make one.
            surrogates = has_surrogate_escape(self.path)
            if surrogates:
                read_json(self.path)
            with open(self.path, "rb") as handle:
                _Pass(self, handle, check_annotation, on_images, surrogates).run()
        except FileNotFoundError as error:
            raise FormatError("no such file", path=self.where) from error
        except OSError as error:
            raise FormatError(f"cannot read ({error.strerror})", path=self.where) from error
        except RecursionError as error:  # deeper than Python's parser goes
            raise FormatError("JSON nested too deeply", path=self.where) from error
        except (MalformedJSONError, json.JSONDecodeError, UnicodeDecodeError) as error:
            read_json(self.path)  # names the line and column of a syntax error
            raise FormatError(_first_line(error), path=self.where) from error
        self._db.execute("CREATE INDEX ann_image ON ann (image, position)")

    def spill(self, rows: list[tuple[str, int, bytes]]) -> None:
        self._db.executemany("INSERT INTO ann VALUES (?, ?, ?)", rows)

    # -- after the pass ---------------------------------------------------------------------

    def annotations_of(self, image_id: Any) -> list[tuple[int, dict]]:
        """``(index in the file, annotation)`` of one image, in file order; a polygon
        whose values are all plain numbers comes back as a read-only float64 array."""
        rows = self._db.execute(
            "SELECT position, body FROM ann WHERE image = ? ORDER BY position",
            (json.dumps(image_id),),
        )
        return [(position, _unpacked(marshal.loads(body))) for position, body in rows]


class _Decoder(json.JSONDecoder):
    """The standard decoder, its scanner typed (``__init__`` sets ``scan_once``: C's
    scanner, which takes a text and a position and returns a value and its end)."""

    scan_once: Callable[[str, int], tuple[Any, int]]


class _Pass:
    """The one pass over a file: the top-level object and the annotations array are
    walked here, every value in them parsed by ``json``'s scanner."""

    def __init__(
        self, stream: CocoStream, handle: IO[bytes], check: Any, on_images: Any, texts: bool
    ) -> None:
        self.stream = stream
        self.where = stream.where
        self.handle = handle
        self.check = check
        self.on_images = on_images
        self.texts = texts  # look for lone surrogates (the file has surrogate escapes)
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.scan = _Decoder(parse_int=self._integer, parse_constant=self._constant).scan_once
        self.unusable = False  # the value being scanned holds NaN, an infinity or a huge int
        self.text = ""
        self.pos = 0
        self.eof = False

    def run(self) -> None:
        first = self._peek()
        if first != "{":
            if first is not None:
                self._value()  # not a value at all: reported as invalid JSON
            read_json(self.stream.path)  # a syntax error anywhere is reported as such
            raise FormatError(
                "must be an object with images, annotations, categories", path=self.where
            )
        self.pos += 1
        if self._peek() == "}":
            self.pos += 1
        else:
            self._members()
        if self._peek() is not None:
            raise MalformedJSONError("extra data after the top-level object")

    def _members(self) -> None:
        stream = self.stream
        while True:
            key, _ = self._value()
            if not isinstance(key, str) or self._peek() != ":":
                raise MalformedJSONError("expected a key and a colon")
            self.pos += 1
            stream.present.add(key)
            if key == "annotations" and self._peek() == "[":
                self.pos += 1
                self._annotations()
            else:
                value = self._checked(key)
                if key in TOP_LEVEL:
                    setattr(stream, key, value)
                if key == "images":
                    self.on_images(value)
            if not self._another("}", "object"):
                return

    def _annotations(self) -> None:
        stream = self.stream
        batch: list[tuple[str, int, bytes]] = []
        if self._peek() == "]":
            self.pos += 1
            return
        while True:
            index = stream.annotation_count
            field = f"annotations[{index}]"
            ann = self._checked(field)
            image = self.check(index, ann)
            batch.append((json.dumps(image), index, marshal.dumps(_packed(ann, self.where, field))))
            stream.annotation_count += 1
            if len(batch) >= SPILL_BATCH:
                stream.spill(batch)
                batch.clear()
            if not self._another("]", "array"):
                break
        if batch:
            stream.spill(batch)

    def _another(self, close: str, what: str) -> bool:
        """Past the delimiter after an item: ``True`` for a comma (another item follows),
        ``False`` for ``close``.

        Raises:
            MalformedJSONError: Anything else.
        """
        delimiter = self._peek()
        self.pos += 1
        if delimiter == close:
            return False
        if delimiter != ",":
            raise MalformedJSONError(f"expected a comma or the end of the {what}")
        return True

    # -- values ----------------------------------------------------------------------------

    def _checked(self, field: str) -> Any:
        """The next value, refused (naming ``field`` and the place inside it) when it nests
        too deeply or holds a number or text that no COCO field can."""
        self.unusable = False
        value, (start, end) = self._value()
        text = self.text
        if text.count("[", start, end) + text.count("{", start, end) > MAX_DEPTH:
            if _depth(value) > MAX_DEPTH:
                raise FormatError("JSON nested too deeply", path=self.where)
        if self.unusable or _LARGE_EXPONENT.search(text, start, end):
            found = first_unusable_number(value)
            if found is not None:
                place, problem = found
                raise FormatError(problem, path=self.where, field=_joined(field, place))
        if self.texts:
            invalid = first_invalid_text(value)
            if invalid is not None:
                place, position = invalid
                raise FormatError(
                    f"is not valid Unicode text (a lone surrogate at character {position})",
                    path=self.where,
                    field=_joined(field, place),
                )
        return value

    def _value(self) -> tuple[Any, tuple[int, int]]:
        """The value at the read position and its span in :attr:`text` (the position
        moves past it; more of the file is read while the value may be cut off)."""
        self._peek()
        while True:
            try:
                value, end = self.scan(self.text, self.pos)
            except StopIteration as error:
                if self._more():
                    continue
                raise MalformedJSONError("expected a value") from error
            except json.JSONDecodeError:
                if self._more():
                    continue
                raise
            if end == len(self.text) and self._more():
                continue  # a number may go on in the next chunk
            start, self.pos = self.pos, end
            return value, (start, end)

    def _integer(self, text: str) -> int:
        value = int(text)
        if not -INT64 <= value < INT64:
            self.unusable = True
        return value

    def _constant(self, name: str) -> float:
        self.unusable = True  # NaN, Infinity or -Infinity
        return float(name)

    def _peek(self) -> str | None:
        """The next character that is not whitespace (``None`` at the end of the file)."""
        while True:
            found = _TOKEN.search(self.text, self.pos)
            if found is not None:
                self.pos = found.start()
                return self.text[self.pos]
            self.pos = len(self.text)
            if not self._more():
                return None

    def _more(self) -> bool:
        """Read more of the file (at least as much as is buffered, so a long value is
        scanned a bounded number of times); ``False`` at its end."""
        if self.eof:
            return False
        data = self.handle.read(max(READ_CHUNK, len(self.text) - self.pos))
        self.eof = not data
        self.text = self.text[self.pos :] + self.decoder.decode(data, final=self.eof)
        self.pos = 0
        return True


def _packed(ann: Any, where: str, field: str) -> Any:
    """``ann`` as spilled: each polygon of plain numbers as float64 bytes.

    Raises:
        FormatError: A polygon value is not finite (a float literal too long for a
            float, which no exponent gave away).
    """
    if not isinstance(ann, dict):
        return ann
    segmentation = ann.get("segmentation")
    if not isinstance(segmentation, list):
        return ann
    polygons = []
    for flat in segmentation:
        if isinstance(flat, list) and set(map(type, flat)) <= _POLYGON_TYPES:
            values = np.array(flat, dtype=np.float64)
            if not np.isfinite(values).all():
                place, problem = first_unusable_number(ann) or ("", "must be a finite number")
                raise FormatError(problem, path=where, field=_joined(field, place))
            flat = values.tobytes()
        polygons.append(flat)
    return ann | {"segmentation": polygons}


def _unpacked(ann: Any) -> Any:
    if not isinstance(ann, dict):
        return ann
    segmentation = ann.get("segmentation")
    if isinstance(segmentation, list):
        ann["segmentation"] = [
            np.frombuffer(flat, dtype=np.float64) if isinstance(flat, bytes) else flat
            for flat in segmentation
        ]
    return ann


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (0 for a scalar, 1 for a flat list or object)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _joined(field: str, place: str) -> str:
    if not place:
        return field
    return f"{field}{place}" if place.startswith("[") else f"{field}.{place}"


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
