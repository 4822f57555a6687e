"""Frames and the objects on them.

Coordinates are float image pixels with the origin at the top-left corner of the top-left
pixel, so pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)`` and its center is
``(col + 0.5, row + 0.5)``.

An object's geometry is a :class:`Box` or a shapely (Multi)Polygon (a region, holes
allowed). Objects are immutable: an edit makes a new object with :func:`dataclasses.replace`,
so a command can keep the before and after of what it changed and nothing else.
A frame's objects are a list in z-order (last on top, as in Cityscapes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeAlias

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from roadmark.core.errors import GeometryError


class ObjectKind(StrEnum):
    """What an object's geometry is."""

    BOX = "box"
    REGION = "region"


class FrameStatus(StrEnum):
    """Where a frame is in the labeling workflow."""

    NEW = "new"
    PRELABELED = "prelabeled"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    IN_REVIEW = "in_review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


HUMAN = "human"


def utc_now() -> datetime:
    """The current time, timezone-aware, to the microsecond."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in float image pixels, ``x0 <= x1`` and ``y0 <= y1``."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        values = (self.x0, self.y0, self.x1, self.y1)
        if not all(math.isfinite(v) for v in values):
            raise GeometryError(f"box coordinates must be finite, got {values}")
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise GeometryError(f"box corners are swapped: {values}")

    @classmethod
    def from_corners(cls, xa: float, ya: float, xb: float, yb: float) -> Box:
        """A box from any two opposite corners."""
        return cls(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float) -> Box:
        return cls(x, y, x + w, y + h)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return self.width * self.height

    def to_xywh(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.width, self.height)

    def to_polygon(self) -> Polygon:
        return shapely.box(self.x0, self.y0, self.x1, self.y1)

    def clipped(self, width: float, height: float) -> Box:
        """This box limited to the image ``[0, width] x [0, height]``."""
        return Box(
            min(max(self.x0, 0.0), width),
            min(max(self.y0, 0.0), height),
            min(max(self.x1, 0.0), width),
            min(max(self.y1, 0.0), height),
        )

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


Region: TypeAlias = Polygon | MultiPolygon
SNAP = 1e-9  # pixels: the grid an outline GEOS cannot repair as given is snapped to
Geometry: TypeAlias = Box | Region


def as_region(geometry: BaseGeometry) -> Region:
    """Turn any areal shapely geometry into a valid (Multi)Polygon.

    Invalid input (self-intersections, bow ties) is repaired with ``make_valid`` and only
    its areal parts are kept (united). Where GEOS cannot repair or unite it as given
    (vertices a subnormal distance apart make its overlay fail), the vertices are snapped
    to a grid of :data:`SNAP` pixels first.

    Raises:
        GeometryError: The result has no area, or it cannot be repaired.
    """
    try:
        return _areal(geometry)
    except shapely.errors.GEOSException:
        try:
            return _areal(shapely.transform(geometry, lambda xy: (xy / SNAP).round() * SNAP))
        except shapely.errors.GEOSException as error:
            raise GeometryError(f"region cannot be repaired ({error})") from error


def _areal(geometry: BaseGeometry) -> Region:
    """:func:`as_region` without the snapping (GEOS errors pass through)."""
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    if isinstance(geometry, Polygon | MultiPolygon):
        region: BaseGeometry = geometry
    else:
        polygons = [
            part
            for part in getattr(geometry, "geoms", [geometry])
            if isinstance(part, Polygon | MultiPolygon)
        ]
        region = shapely.union_all(polygons) if polygons else Polygon()
    if region.is_empty or region.area <= 0:
        raise GeometryError("region has no area")
    return region


def polygon_from_points(points: Sequence[Sequence[float]]) -> Region:
    """A region from an outline ``[[x, y], ...]`` (repaired when self-intersecting).

    Raises:
        GeometryError: Fewer than 3 points, non-finite values, or no area.
    """
    if len(points) < 3:
        raise GeometryError(f"a polygon needs at least 3 points, got {len(points)}")
    for point in points:
        if len(point) != 2 or not all(math.isfinite(float(v)) for v in point):
            raise GeometryError(f"bad polygon point {point!r}")
    return as_region(Polygon([(float(x), float(y)) for x, y in points]))


def region_parts(region: Region) -> list[Polygon]:
    """The polygons of a region, largest first."""
    parts = list(region.geoms) if isinstance(region, MultiPolygon) else [region]
    return sorted(parts, key=lambda part: part.area, reverse=True)


def geometry_bounds(geometry: Geometry) -> Box:
    """The bounding box of a box or region."""
    if isinstance(geometry, Box):
        return geometry
    x0, y0, x1, y1 = geometry.bounds
    return Box(x0, y0, x1, y1)


@dataclass(frozen=True)
class Provenance:
    """Where an object came from and who touched it last.

    Attributes:
        source: ``human``, ``model:NAME`` or ``import:FORMAT``.
        created_by: User name of whoever created it (or the importing user).
        created_at: When it was created.
        updated_by: User name of the last editor.
        updated_at: When it was last edited.
        verified: A human has checked it.
        confidence: The model's confidence, for model labels.
    """

    source: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    verified: bool = False
    confidence: float | None = None

    @classmethod
    def new(cls, source: str, user: str, *, at: datetime | None = None, **extra: Any) -> Provenance:
        """Provenance of an object created now by ``user``."""
        when = at or utc_now()
        return cls(
            source=source,
            created_by=user,
            created_at=when,
            updated_by=user,
            updated_at=when,
            **extra,
        )

    def touched(self, user: str, *, at: datetime | None = None) -> Provenance:
        """This provenance after ``user`` edited the object."""
        return replace(self, updated_by=user, updated_at=at or utc_now())

    @property
    def is_model(self) -> bool:
        return self.source.startswith("model:")


@dataclass(frozen=True, eq=False)
class AnnotationObject:
    """One labeled object on a frame.

    Attributes:
        label_id: Id of the label in the project's schema.
        geometry: A :class:`Box` or a shapely (Multi)Polygon.
        provenance: Source, authors and times, verified flag, confidence.
        instance_id: Instance number (objects of ``hasInstances`` labels), unique per frame.
        track_id: The same physical object across frames.
        attributes: Schema attributes (occluded, truncated, ...).
        crowd: A group of objects labeled as one (Cityscapes ``cargroup``, COCO iscrowd).
        deleted: Soft-deleted: kept in the store, not drawn or exported as live.
        uid: The store's id, ``None`` until stored.
    """

    label_id: int
    geometry: Geometry
    provenance: Provenance
    instance_id: int | None = None
    track_id: int | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    crowd: bool = False
    deleted: bool = False
    uid: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, Box | Polygon | MultiPolygon):
            raise GeometryError(f"unsupported geometry {type(self.geometry).__name__}")

    @property
    def kind(self) -> ObjectKind:
        return ObjectKind.BOX if isinstance(self.geometry, Box) else ObjectKind.REGION

    @property
    def bounds(self) -> Box:
        return geometry_bounds(self.geometry)

    @property
    def region(self) -> Region:
        """The object's area as a shapely geometry (a box becomes a rectangle)."""
        if isinstance(self.geometry, Box):
            return self.geometry.to_polygon()
        return self.geometry

    def same_content(self, other: AnnotationObject, *, tolerance: float = 0.0) -> bool:
        """Equal label, flags, ids, attributes and geometry (within ``tolerance`` pixels)."""
        if (
            self.label_id != other.label_id
            or self.kind != other.kind
            or self.instance_id != other.instance_id
            or self.track_id != other.track_id
            or dict(self.attributes) != dict(other.attributes)
            or self.crowd != other.crowd
            or self.deleted != other.deleted
        ):
            return False
        if isinstance(self.geometry, Box) and isinstance(other.geometry, Box):
            a, b = self.geometry, other.geometry
            return all(
                abs(u - v) <= tolerance
                for u, v in zip((a.x0, a.y0, a.x1, a.y1), (b.x0, b.y0, b.x1, b.y1), strict=True)
            )
        return bool(shapely.equals_exact(self.region, other.region, tolerance)) or (
            self.region.symmetric_difference(other.region).area <= tolerance * self.region.length
        )


@dataclass(frozen=True)
class Frame:
    """One image of a sequence.

    Attributes:
        id: The store's id.
        path: Image or video file, relative to the project folder (POSIX separators) or
            absolute when it is on another drive.
        video_frame: Index of the frame in the video, ``None`` for an image file.
        width: Width in pixels (after EXIF orientation).
        height: Height in pixels.
        sequence: Sequence name (Cityscapes ``city_seq``, a video's name, or the folder).
        sequence_index: Position in the sequence.
        status: Workflow status.
        assignee: User name of the annotator it is assigned to.
    """

    id: int
    path: str
    video_frame: int | None
    width: int
    height: int
    sequence: str
    sequence_index: int
    status: FrameStatus = FrameStatus.NEW
    assignee: str | None = None

    @property
    def name(self) -> str:
        """A short display name: the file name, plus ``#N`` for a video frame."""
        base = self.path.rsplit("/", 1)[-1]
        return base if self.video_frame is None else f"{base}#{self.video_frame}"


class FrameAnnotations(Sequence[AnnotationObject]):
    """The objects of one frame, in z-order (index 0 at the bottom)."""

    def __init__(self, frame: Frame, objects: Iterable[AnnotationObject] = ()):
        self.frame = frame
        self._objects = list(objects)

    def __getitem__(self, index: int) -> AnnotationObject:  # type: ignore[override]
        return self._objects[index]

    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self) -> Iterator[AnnotationObject]:
        return iter(self._objects)

    def live(self) -> list[AnnotationObject]:
        """Objects that are not soft-deleted, in z-order."""
        return [obj for obj in self._objects if not obj.deleted]

    def regions(self) -> list[AnnotationObject]:
        return [obj for obj in self.live() if obj.kind is ObjectKind.REGION]

    def boxes(self) -> list[AnnotationObject]:
        return [obj for obj in self.live() if obj.kind is ObjectKind.BOX]
