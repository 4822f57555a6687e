"""What every format shares: the data passed to and from formats, label mapping, warnings,
progress and cancellation, ``--frames`` specs, safe paths, and roadmark's extra keys.

Formats only see these plain objects and :mod:`roadmark.core` types; opening the project,
adding frames and the one transaction happen in :mod:`roadmark.io.formats.jobs`.

Roadmark extras: both formats may carry a ``"roadmark"`` object per annotation with what
the format itself has no field for (written by :func:`roadmark.io.codec.extras_of`, the
object codec the store and the change log share, read back by :func:`apply_extras`)::

    {"instance_id": 3, "track_id": 12, "attributes": {"occluded": true},
     "source": "human", "created_by": "ana", "created_at": "2024-05-01T10:00:00+00:00",
     "updated_by": "ana", "updated_at": "2024-05-01T10:02:00+00:00",
     "verified": true, "confidence": 0.93}

Tools that do not know the key ignore it (cityscapesScripts and pycocotools do).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from numpy.typing import NDArray

from roadmark.core.annotation import AnnotationObject, Box, Frame, Provenance
from roadmark.core.errors import SchemaError
from roadmark.core.jobs import CancelToken, ProgressReporter
from roadmark.core.schema import Label, LabelSchema
from roadmark.io.formats.errors import FormatError, UnknownLabelsError
from roadmark.io.text_checks import first_invalid_text

EXTRAS_KEY = "roadmark"


# -- progress, cancellation, warnings -------------------------------------------------------


@dataclass
class Job:
    """Progress reporting and cancellation for a long import or export.

    A GUI worker passes its job's reporter and token; the command line passes a tqdm bar
    and a token that Ctrl+C cancels. Both are optional.

    Attributes:
        progress: Called with ``(done, total, stage)`` within the current stage, where
            ``stage`` is a short description ("reading", "checking images", "writing").
        cancel: Checked between frames; once cancelled the job raises
            :class:`~roadmark.core.jobs.JobCancelled` and nothing is written.
        stage: The stage now running ("" before the first).
    """

    progress: ProgressReporter | None = None
    cancel: CancelToken | None = None
    stage: str = ""

    def begin(self, name: str, total: int = 0) -> None:
        """Start a stage of ``total`` steps."""
        self.stage = name
        self.report(0, total)

    def report(self, done: int, total: int) -> None:
        if self.progress:
            self.progress(done, total, self.stage)

    def check(self) -> None:
        """Raise :class:`~roadmark.core.jobs.JobCancelled` when cancellation was requested."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled("cancelled; nothing was written")


@dataclass(frozen=True)
class FormatWarning:
    """Something imported or exported with a change the user should know about."""

    message: str
    path: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        return ": ".join(part for part in (self.path, self.field, self.message) if part)


@dataclass
class WarningLog:
    """Warnings collected during a job, in the order they happened."""

    items: list[FormatWarning] = field(default_factory=list)

    def warn(self, message: str, *, path: str | None = None, field: str | None = None) -> None:
        self.items.append(FormatWarning(message, path, field))

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[FormatWarning]:
        return iter(self.items)


# -- labels --------------------------------------------------------------------------------


class LabelMapper:
    """Resolves label names found in a dataset to the project's label ids.

    Names go through ``mapping`` first (``--map FROM=TO``). A name the schema does not
    have is either added to a copy of the schema (``add_missing``, new ids and distinct
    colors) or counted; :meth:`check` then raises one error listing every unknown name.

    Args:
        schema: The project's schema.
        mapping: Dataset name -> schema label name.
        add_missing: Add unknown names as new labels.

    Raises:
        FormatError: A mapping target is not a label of the schema.
    """

    def __init__(
        self,
        schema: LabelSchema,
        mapping: Mapping[str, str] | None = None,
        *,
        add_missing: bool = False,
    ) -> None:
        self.original = schema
        self.schema = schema
        self.mapping = dict(mapping or {})
        self.add_missing = add_missing
        self.unknown: Counter[str] = Counter()
        self.added: list[str] = []
        for source, target in self.mapping.items():
            if target not in schema.by_name:
                raise FormatError(
                    f"{source}={target}: {target!r} is not a label of the project's schema "
                    f"({schema.name!r})",
                    field="--map",
                )

    def knows(self, name: str) -> bool:
        """Whether ``name`` (after mapping) is a label of the schema."""
        return self.mapping.get(name, name) in self.schema.by_name

    def resolve(self, name: str) -> Label | None:
        """The schema label for ``name``; ``None`` (and counted) when it is unknown."""
        target = self.mapping.get(name, name)
        label = self.schema.by_name.get(target)
        if label is not None:
            return label
        if self.add_missing:
            self.schema = self.schema.with_labels([target])
            self.added.append(target)
            return self.schema.by_name[target]
        self.unknown[name] += 1
        return None

    def check(self, source: str) -> None:
        """Raise :class:`UnknownLabelsError` listing every unknown name and its count."""
        if not self.unknown:
            return
        listed = ", ".join(f"{name!r} ({count})" for name, count in sorted(self.unknown.items()))
        raise UnknownLabelsError(
            f"labels not in the project's schema {self.schema.name!r}: {listed}; add them "
            "with --add-labels or map them with --map NAME=LABEL",
            dict(self.unknown),
            path=source,
        )


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``["cargroup=car", ...]`` -> ``{"cargroup": "car"}``.

    Raises:
        FormatError: An item is not ``FROM=TO`` or maps one name twice.
    """
    out: dict[str, str] = {}
    for item in items:
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise FormatError(f"expected FROM=TO, got {item!r}", field="--map")
        source, target = source.strip(), target.strip()
        if source in out and out[source] != target:
            raise FormatError(f"{source!r} is mapped twice", field="--map")
        out[source] = target
    return out


# -- data exchanged with formats ------------------------------------------------------------


@dataclass
class ImportedFrame:
    """One image of a dataset with its objects, as a format read it.

    Attributes:
        image: The image file (absolute path); it must exist.
        objects: Objects in z-order (bottom first) with the project's label ids.
        where: The annotation file, for messages.
        width: Width declared by the dataset, checked against the image.
        height: Height declared by the dataset.
        video_frame: Frame number when ``image`` is a video.
        originals: Per object, the format's original representation (JSON-compatible, or its
            JSON text as :class:`~roadmark.io.codec.JsonText`),
            kept so that an unedited object is exported exactly as it was read; ``None``
            where there is nothing to keep.
        sequence: Sequence a new frame joins (a video name); ``None``: named as ``roadmark
            add`` names it.
        sequence_index: The new frame's position in ``sequence``.
    """

    image: Path
    objects: list[AnnotationObject]
    where: str
    width: int | None = None
    height: int | None = None
    video_frame: int | None = None
    originals: list[Any] | None = None
    sequence: str | None = None
    sequence_index: int | None = None


@dataclass
class ImportContext:
    """What a format's reader may use.

    Attributes:
        labels: Resolves dataset label names.
        images: The ``--images`` folder, if given.
        masks: The ``--masks`` folder, if given (where a format with mask files, such as
            COCO panoptic, finds them instead of its default place).
        user: User name for provenance of objects without one.
        now: The import's time, for provenance of objects without one.
        source: ``import:FORMAT``, the provenance source of imported objects.
        warnings: Where to report repairs and skipped entries.
        job: Progress and cancellation.
    """

    labels: LabelMapper
    images: Path | None
    user: str
    now: datetime
    source: str
    warnings: WarningLog = field(default_factory=WarningLog)
    job: Job = field(default_factory=Job)
    masks: Path | None = None

    def provenance(self, **changes: Any) -> Provenance:
        """Provenance of an imported object (``changes`` override fields)."""
        return replace(self._base, **changes) if changes else self._base

    @cached_property
    def _base(self) -> Provenance:
        # Provenance is frozen: one instance serves every object without changes.
        return Provenance.new(self.source, self.user, at=self.now)


@dataclass
class ExportFrame:
    """One frame to export.

    Attributes:
        frame: The project's frame.
        image: Its image or video file (absolute path).
        objects: All its objects in z-order, soft-deleted ones included.
        originals: ``uid -> original`` for objects imported from this format and not
            edited since (same geometry), as the format's reader returned them.
    """

    frame: Frame
    image: Path
    objects: list[AnnotationObject]
    originals: dict[int, Any] = field(default_factory=dict)


@dataclass
class ExportContext:
    """What a format's writer may use.

    Attributes:
        schema: The project's label schema.
        frames: Every frame that will be exported, in order (their objects come with the
            :class:`ExportFrame` iterator).
        files: Frame id -> its image or video file (absolute).
        image_root: The deepest folder holding every exported frame's file.
        warnings: Where to report what could not be written exactly.
        job: Progress and cancellation.
        stats: Figures the writer reports (counts, agreement measures).
        prediction: Frame id -> that frame's newest stored model prediction (``None``
            when it has none), for formats that export predictions.
        link_images: Formats that copy source images may hard-link them instead
            (``--link-images``); by default an export never shares a file with a source.
    """

    schema: LabelSchema
    frames: list[Frame]
    files: dict[int, Path]
    image_root: Path
    warnings: WarningLog = field(default_factory=WarningLog)
    job: Job = field(default_factory=Job)
    stats: dict[str, Any] = field(default_factory=dict)
    prediction: Callable[[int], Any] = field(default=lambda _frame_id: None)
    link_images: bool = False


# -- files -----------------------------------------------------------------------------------


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a JSON escape of a surrogate


def read_json(path: Path) -> Any:
    """Parse a JSON file (raises :class:`FormatError` as :func:`read_json_bytes`)."""
    return read_json_bytes(path)[0]


def read_json_bytes(path: Path) -> tuple[Any, bytes]:
    """Parse a JSON file; also returns the file's bytes as read.

    Raises:
        FormatError: Missing, unreadable, not UTF-8 or not valid JSON (with line and column).
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        data = json.loads(raw)
    except FileNotFoundError as error:
        raise FormatError("no such file", path=str(path)) from error
    except RecursionError as error:
        raise FormatError("JSON nested too deeply", path=str(path)) from error
    except json.JSONDecodeError as error:
        raise FormatError(
            f"not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})",
            path=str(path),
        ) from error
    except UnicodeDecodeError as error:
        raise FormatError("not valid JSON (not UTF-8 text)", path=str(path)) from error
    except OSError as error:
        raise FormatError(f"cannot read ({error.strerror})", path=str(path)) from error
    # UTF-8 cannot hold a lone surrogate (the decoder refuses it), so in a UTF-8 file only
    # a \ud800-\udfff escape can make one: without such an escape there is none to find
    if json.detect_encoding(raw) not in ("utf-8", "utf-8-sig") or _SURROGATE_ESCAPE.search(raw):
        check_text(data, where=str(path))
    return data, raw


def check_text(data: Any, *, where: str) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate, which JSON's ``\\ud800``
    escapes can make) anywhere in parsed JSON, naming the first place it occurs.

    Raises:
        FormatError: Naming the file and the JSON path.
    """
    found = first_invalid_text(data)
    if found is not None:
        place, position = found
        raise FormatError(
            f"is not valid Unicode text (a lone surrogate at character {position})",
            path=where,
            field=place or None,
        )


def safe_relative(name: Any, *, where: str, field: str) -> PurePosixPath:
    """A file name from a dataset as a relative path that stays inside its root.

    Raises:
        FormatError: Not text, empty, absolute, or with ``..`` components.
    """
    if not isinstance(name, str) or not name.strip() or any(ord(c) < 32 for c in name):
        raise FormatError(f"must be a file name, got {name!r}", path=where, field=field)
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
        raise FormatError(
            f"{name!r} leaves the images folder (absolute path or '..'); file names must be "
            "relative to it",
            path=where,
            field=field,
        )
    return path


def common_root(paths: Sequence[Path]) -> Path:
    """The deepest folder containing every path (their own folder for a single path)."""
    if not paths:
        return Path.cwd()
    return Path(os.path.commonpath([str(Path(p).parent) for p in paths]))


# -- values from untrusted JSON --------------------------------------------------------------


def number(value: Any, *, where: str, field: str) -> float:
    """A finite number (not a bool).

    Raises:
        FormatError: Anything else.
    """
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            if math.isfinite(value):
                return float(value)
        except OverflowError:  # an integer past float's range
            pass
    raise FormatError(f"must be a finite number, got {value!r:.40}", path=where, field=field)


def integer(value: Any, *, where: str, field: str, minimum: int | None = None) -> int:
    """An integer (a float with no fraction is accepted), at least ``minimum``.

    Raises:
        FormatError: Anything else.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"must be an integer, got {value!r}", path=where, field=field)
    if not -(2**63) <= value < 2**63:
        raise FormatError("must fit in 64 bits (a signed integer)", path=where, field=field)
    if minimum is not None and value < minimum:
        raise FormatError(f"must be at least {minimum}, got {value}", path=where, field=field)
    return value


_NUMBERS = (int, float)


def points(value: Any, *, where: str, field: str) -> list[tuple[float, float]]:
    """``[[x, y], ...]`` with at least 3 finite points.

    Raises:
        FormatError: Not a list of pairs, non-numbers, or fewer than 3 points.
    """
    return list(map(tuple, point_array(value, where=where, field=field).tolist()))


def point_array(value: Any, *, where: str, field: str) -> NDArray[np.float64]:
    """:func:`points` as an ``(N, 2)`` float array.

    Raises:
        FormatError: Not a list of pairs, non-numbers, or fewer than 3 points.
    """
    if not isinstance(value, list):
        raise FormatError(
            f"must be a list of [x, y] points, got {type(value).__name__}", path=where, field=field
        )
    if len(value) >= 3 and all(
        type(point) is list  # exact types: a bool is not a number here
        and len(point) == 2
        and type(point[0]) in _NUMBERS
        and type(point[1]) in _NUMBERS
        for point in value
    ):  # the usual case, checked at once (the loop below names the first bad point)
        try:  # flattened: numpy's walk of the nested lists took half again as long
            array = np.fromiter(chain(*value), np.float64, 2 * len(value)).reshape(-1, 2)
        except OverflowError:
            array = None
        if array is not None and np.isfinite(array).all():
            return array
    out = []
    for index, point in enumerate(value):
        if not isinstance(point, list | tuple) or len(point) != 2:
            raise FormatError(
                f"point {index} must be [x, y], got {point!r}", path=where, field=field
            )
        out.append(
            (
                number(point[0], where=where, field=f"{field}[{index}]"),
                number(point[1], where=where, field=f"{field}[{index}]"),
            )
        )
    if len(out) < 3:
        raise FormatError(
            f"a polygon needs at least 3 points, got {len(out)}", path=where, field=field
        )
    return np.asarray(out, dtype=np.float64)


# -- roadmark extras ---------------------------------------------------------------------------


def _text(value: Any, *, where: str, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise FormatError(f"must be non-empty text, got {value!r}", path=where, field=field)
    return value


def _time(value: Any, *, where: str, field: str) -> datetime:
    text = _text(value, where=where, field=field)
    try:
        when = datetime.fromisoformat(text)
    except ValueError as error:
        raise FormatError(
            f"must be an ISO-8601 time, got {text!r}", path=where, field=field
        ) from error
    if when.tzinfo is None:
        raise FormatError(f"must include a UTC offset, got {text!r}", path=where, field=field)
    return when


def apply_extras(obj: AnnotationObject, extras: Any, *, where: str, field: str) -> AnnotationObject:
    """``obj`` with the values of a ``"roadmark"`` extras object applied.

    Raises:
        FormatError: The extras are not an object or hold values of the wrong type.
    """
    if extras is None:
        return obj
    changes, prov_changes = extras_changes(extras, where=where, field=field)
    if prov_changes:
        changes["provenance"] = replace(obj.provenance, **prov_changes)
    return replace(obj, **changes) if changes else obj


def extras_changes(extras: Any, *, where: str, field: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What :func:`apply_extras` changes: the object's fields and its provenance's (for a
    reader that builds the object once with both).

    Raises:
        FormatError: The extras are not an object or hold values of the wrong type.
    """
    if not isinstance(extras, dict):
        raise FormatError(
            f"must be an object, got {type(extras).__name__}", path=where, field=field
        )
    changes: dict[str, Any] = {}
    for key in ("instance_id", "track_id"):
        if extras.get(key) is not None:
            changes[key] = integer(extras[key], where=where, field=f"{field}.{key}")
    if "attributes" in extras:
        attributes = extras["attributes"]
        if not isinstance(attributes, dict):
            raise FormatError("must be an object", path=where, field=f"{field}.attributes")
        changes["attributes"] = attributes
    prov_changes: dict[str, Any] = {}
    for key in ("source", "created_by", "updated_by"):
        if key in extras:
            prov_changes[key] = _text(extras[key], where=where, field=f"{field}.{key}")
    for key in ("created_at", "updated_at"):
        if key in extras:
            prov_changes[key] = _time(extras[key], where=where, field=f"{field}.{key}")
    if "verified" in extras:
        if not isinstance(extras["verified"], bool):
            raise FormatError("must be true or false", path=where, field=f"{field}.verified")
        prov_changes["verified"] = extras["verified"]
    if extras.get("confidence") is not None:
        prov_changes["confidence"] = number(
            extras["confidence"], where=where, field=f"{field}.confidence"
        )
    return changes, prov_changes


def checked_attributes(
    obj: AnnotationObject, schema: LabelSchema, warnings: WarningLog, *, where: str, field: str
) -> AnnotationObject:
    """``obj`` without the attributes its label does not allow (each dropped one warned)."""
    if not obj.attributes:
        return obj
    kept: dict[str, Any] = {}
    for key, value in obj.attributes.items():
        try:
            schema.validate_attributes(obj.label_id, {key: value})
        except SchemaError as error:
            warnings.warn(f"attribute {key!r} dropped: {error.message}", path=where, field=field)
            continue
        kept[key] = value
    return obj if len(kept) == len(obj.attributes) else replace(obj, attributes=kept)


def number_instances(
    objects: Sequence[AnnotationObject], schema: LabelSchema
) -> list[AnnotationObject]:
    """Instance numbers (1, 2, ... per label in z-order) for the regions of labels with
    instances that have none (crowds and boxes are left without)."""
    counts: dict[int, int] = {}
    out = []
    for obj in objects:
        label = schema.by_id.get(obj.label_id)
        if (
            obj.instance_id is None
            and label is not None
            and label.has_instances
            and not obj.crowd
            and not isinstance(obj.geometry, Box)
        ):
            counts[obj.label_id] = counts.get(obj.label_id, 0) + 1
            obj = replace(obj, instance_id=counts[obj.label_id])
        out.append(obj)
    return out
