"""The label schema: one table of labels with derived lookups.

Follows cityscapesScripts' ``helpers/labels.py``: stable ``id`` (written to label maps) kept
apart from ``trainId`` (what a model learns), a category per label, ``hasInstances`` and
``ignoreInEval``. On top of that each label may carry attribute names (occluded,
truncated, ...) and a keyboard shortcut. Labels with a negative id (Cityscapes' ``license
plate``) are part of the table but are never drawn into a label map.

A schema is immutable; editing operations return a new schema.
"""

from __future__ import annotations

import colorsys
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from typing import Any

from roadmark.core.errors import SchemaError

Color = tuple[int, int, int]

ATTRIBUTE_TYPES = ("bool", "choice", "text")
_LABEL_FIELDS = {
    "name",
    "id",
    "trainId",
    "category",
    "categoryId",
    "hasInstances",
    "ignoreInEval",
    "color",
    "attributes",
    "shortcut",
}
_SCHEMA_FIELDS = {"name", "description", "attributes", "labels"}
_ATTRIBUTE_FIELDS = {"type", "default", "choices", "description"}
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
IGNORE_TRAIN_ID = 255


@dataclass(frozen=True)
class AttributeSpec:
    """An attribute that objects of some labels may carry.

    Attributes:
        name: Key under which the value is stored on an object.
        type: ``bool``, ``choice`` (one of ``choices``) or ``text``.
        default: Value of an object that was never given one.
        choices: Allowed values of a ``choice`` attribute.
        description: Help text shown in the attributes panel.
    """

    name: str
    type: str = "bool"
    default: Any = False
    choices: tuple[str, ...] = ()
    description: str = ""

    def validate(self, value: Any) -> None:
        """Raise :class:`SchemaError` when ``value`` is not allowed for this attribute."""
        if self.type == "bool" and not isinstance(value, bool):
            raise SchemaError(f"must be true or false, got {value!r}", field=self.name)
        if self.type == "choice" and value not in self.choices:
            raise SchemaError(
                f"must be one of {list(self.choices)}, got {value!r}", field=self.name
            )
        if self.type == "text" and not isinstance(value, str):
            raise SchemaError(f"must be text, got {value!r}", field=self.name)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "default": self.default}
        if self.choices:
            out["choices"] = list(self.choices)
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class Label:
    """One row of the label table (field names follow cityscapesScripts)."""

    name: str
    id: int
    train_id: int = IGNORE_TRAIN_ID
    category: str = "void"
    category_id: int = 0
    has_instances: bool = False
    ignore_in_eval: bool = False
    color: Color = (0, 0, 0)
    attributes: tuple[str, ...] = ()
    shortcut: str | None = None

    @property
    def drawable(self) -> bool:
        """Whether regions of this label are written into label maps (id >= 0)."""
        return self.id >= 0

    @property
    def hex_color(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.color)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "trainId": self.train_id,
            "category": self.category,
            "categoryId": self.category_id,
            "hasInstances": self.has_instances,
            "ignoreInEval": self.ignore_in_eval,
            "color": self.hex_color,
        }
        if self.attributes:
            out["attributes"] = list(self.attributes)
        if self.shortcut:
            out["shortcut"] = self.shortcut
        return out


@dataclass(frozen=True)
class LabelSchema:
    """An ordered, validated table of labels plus the attribute definitions they use."""

    name: str
    labels: tuple[Label, ...]
    attributes: Mapping[str, AttributeSpec] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        _check_unique(self.labels)
        for label in self.labels:
            for attribute in label.attributes:
                if attribute not in self.attributes:
                    raise SchemaError(
                        f"uses attribute {attribute!r}, which the schema does not define",
                        field=f"label {label.name!r}",
                    )

    # -- derived lookups -------------------------------------------------------------------

    @cached_property
    def by_name(self) -> dict[str, Label]:
        return {label.name: label for label in self.labels}

    @cached_property
    def by_id(self) -> dict[int, Label]:
        return {label.id: label for label in self.labels}

    @cached_property
    def by_shortcut(self) -> dict[str, Label]:
        return {label.shortcut: label for label in self.labels if label.shortcut}

    @cached_property
    def by_train_id(self) -> dict[int, Label]:
        """Train id -> first label with it (ignored ids excluded)."""
        out: dict[int, Label] = {}
        for label in self.labels:
            if 0 <= label.train_id < IGNORE_TRAIN_ID:
                out.setdefault(label.train_id, label)
        return out

    def __iter__(self) -> Iterator[Label]:
        return iter(self.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, name_or_id: object) -> bool:
        return name_or_id in self.by_name or name_or_id in self.by_id

    def label(self, key: str | int) -> Label:
        """Look a label up by name or id.

        Raises:
            SchemaError: No label has that name or id.
        """
        found = self.by_id.get(key) if isinstance(key, int) else self.by_name.get(key)
        if found is None:
            raise SchemaError(f"unknown label {key!r} (schema {self.name!r})")
        return found

    def attribute_defaults(self, label_id: int) -> dict[str, Any]:
        """The default attribute values of a new object of ``label_id``."""
        return {name: self.attributes[name].default for name in self.label(label_id).attributes}

    def validate_attributes(self, label_id: int, values: Mapping[str, Any]) -> None:
        """Raise :class:`SchemaError` for attribute names or values ``label_id`` does not allow."""
        label = self.label(label_id)
        for key, value in values.items():
            if key not in label.attributes:
                raise SchemaError(f"label {label.name!r} has no attribute {key!r}")
            self.attributes[key].validate(value)

    # -- editing ---------------------------------------------------------------------------

    def with_labels(self, names: Iterable[str]) -> LabelSchema:
        """Return a schema with new labels appended for ``names`` not in it yet.

        New labels get the next free ids, train id 255 (ignored until a model is trained on
        them) and colors far from every color already in use.
        """
        labels = list(self.labels)
        used_colors = [label.color for label in labels]
        next_id = max((label.id for label in labels), default=-1) + 1
        for name in names:
            if name in self.by_name or any(label.name == name for label in labels):
                continue
            color = distinct_color(used_colors)
            used_colors.append(color)
            labels.append(Label(name=name, id=next_id, color=color))
            next_id += 1
        return replace(self, labels=tuple(labels))

    # -- (de)serialization -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "attributes": {name: spec.to_dict() for name, spec in self.attributes.items()},
            "labels": [label.to_dict() for label in self.labels],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> LabelSchema:
        """Build and validate a schema from its JSON/YAML form.

        Args:
            data: The parsed document (``{"name", "attributes", "labels": [...]}``) or just
                the list of labels.
            source: File name used in error messages.

        Raises:
            SchemaError: Naming the file and the entry that is wrong.
        """
        if isinstance(data, list):
            data = {"labels": data}
        if not isinstance(data, dict):
            raise SchemaError("a schema must be an object with a 'labels' list", path=source)
        unknown = set(data) - _SCHEMA_FIELDS
        if unknown:
            raise SchemaError(f"unknown field(s) {sorted(unknown)}", path=source)
        attributes = _parse_attributes(data.get("attributes", {}), source)
        raw_labels = data.get("labels")
        if not isinstance(raw_labels, list) or not raw_labels:
            raise SchemaError("'labels' must be a non-empty list", path=source, field="labels")
        labels: list[Label] = []
        used_colors = [
            _parse_color(entry["color"], source, f"labels[{i}]")
            for i, entry in enumerate(raw_labels)
            if isinstance(entry, dict) and "color" in entry
        ]
        for index, entry in enumerate(raw_labels):
            label = _parse_label(entry, index, source, used_colors)
            labels.append(label)
        try:
            return cls(
                name=str(data.get("name", "custom")),
                labels=tuple(labels),
                attributes=attributes,
                description=str(data.get("description", "")),
            )
        except SchemaError as error:
            error.path = error.path or source
            raise

    @classmethod
    def from_json(cls, text: str, *, source: str | None = None) -> LabelSchema:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SchemaError(f"not valid JSON ({error})", path=source) from error
        return cls.from_dict(data, source=source)


def cityscapes_schema() -> LabelSchema:
    """The default schema: the 35 Cityscapes labels with attributes and shortcuts."""
    text = resources.files("roadmark.assets.schemas").joinpath("cityscapes.json").read_text()
    return LabelSchema.from_json(text, source="cityscapes.json")


def distinct_color(used: Sequence[Color]) -> Color:
    """A saturated color far (in RGB) from every color in ``used``."""
    best: Color = (255, 255, 255)
    best_distance = -1.0
    for step in range(64):
        hue = (step * 0.618033988749895) % 1.0
        for value in (0.95, 0.7):
            r, g, b = colorsys.hsv_to_rgb(hue, 0.85, value)
            candidate = (round(r * 255), round(g * 255), round(b * 255))
            distance = min(
                (
                    sum((a - b) ** 2 for a, b in zip(candidate, other, strict=True))
                    for other in used
                ),
                default=float("inf"),
            )
            if distance > best_distance:
                best, best_distance = candidate, distance
    return best


def _check_unique(labels: Sequence[Label]) -> None:
    seen_names: dict[str, int] = {}
    seen_ids: dict[int, str] = {}
    seen_shortcuts: dict[str, str] = {}
    for index, label in enumerate(labels):
        where = f"labels[{index}] ({label.name!r})"
        if label.name in seen_names:
            raise SchemaError(f"duplicate name {label.name!r}", field=where)
        if label.id in seen_ids:
            raise SchemaError(
                f"duplicate id {label.id} (already used by {seen_ids[label.id]!r})", field=where
            )
        if label.shortcut and label.shortcut in seen_shortcuts:
            raise SchemaError(
                f"duplicate shortcut {label.shortcut!r} (already used by "
                f"{seen_shortcuts[label.shortcut]!r})",
                field=where,
            )
        seen_names[label.name] = index
        seen_ids[label.id] = label.name
        if label.shortcut:
            seen_shortcuts[label.shortcut] = label.name


def _parse_attributes(raw: Any, source: str | None) -> dict[str, AttributeSpec]:
    if not isinstance(raw, dict):
        raise SchemaError("'attributes' must be an object", path=source, field="attributes")
    out: dict[str, AttributeSpec] = {}
    for name, spec in raw.items():
        where = f"attributes.{name}"
        if not isinstance(spec, dict):
            raise SchemaError("must be an object with a 'type'", path=source, field=where)
        unknown = set(spec) - _ATTRIBUTE_FIELDS
        if unknown:
            raise SchemaError(f"unknown field(s) {sorted(unknown)}", path=source, field=where)
        kind = spec.get("type", "bool")
        if kind not in ATTRIBUTE_TYPES:
            raise SchemaError(
                f"type must be one of {list(ATTRIBUTE_TYPES)}, got {kind!r}",
                path=source,
                field=where,
            )
        choices = tuple(str(choice) for choice in spec.get("choices", ()))
        if kind == "choice" and not choices:
            raise SchemaError("a choice attribute needs 'choices'", path=source, field=where)
        default = spec.get(
            "default", {"bool": False, "choice": choices[0] if choices else "", "text": ""}[kind]
        )
        attribute = AttributeSpec(
            name=name,
            type=kind,
            default=default,
            choices=choices,
            description=str(spec.get("description", "")),
        )
        try:
            attribute.validate(default)
        except SchemaError as error:
            raise SchemaError(f"default {error.message}", path=source, field=where) from error
        out[name] = attribute
    return out


def _parse_label(entry: Any, index: int, source: str | None, used_colors: list[Color]) -> Label:
    where = f"labels[{index}]"
    if not isinstance(entry, dict):
        raise SchemaError("must be an object with 'name' and 'id'", path=source, field=where)
    if "name" in entry:
        where = f"labels[{index}] ({entry['name']!r})"
    unknown = set(entry) - _LABEL_FIELDS
    if unknown:
        raise SchemaError(f"unknown field(s) {sorted(unknown)}", path=source, field=where)
    for required in ("name", "id"):
        if required not in entry:
            raise SchemaError(f"missing {required!r}", path=source, field=where)
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise SchemaError("'name' must be non-empty text", path=source, field=where)
    ints = {}
    for key, default in (("id", None), ("trainId", IGNORE_TRAIN_ID), ("categoryId", 0)):
        value = entry.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise SchemaError(
                f"{key!r} must be an integer, got {value!r}", path=source, field=where
            )
        ints[key] = value
    if not -1 <= ints["id"] <= 65535 // 1000 * 1000:
        raise SchemaError(
            f"'id' must be between -1 and 65000, got {ints['id']}", path=source, field=where
        )
    bools = {}
    for key in ("hasInstances", "ignoreInEval"):
        value = entry.get(key, False)
        if not isinstance(value, bool):
            raise SchemaError(
                f"{key!r} must be true or false, got {value!r}", path=source, field=where
            )
        bools[key] = value
    if "color" in entry:
        color = _parse_color(entry["color"], source, where)
    else:
        color = distinct_color(used_colors)
        used_colors.append(color)
    attributes = entry.get("attributes", [])
    if not isinstance(attributes, list) or not all(isinstance(a, str) for a in attributes):
        raise SchemaError("'attributes' must be a list of names", path=source, field=where)
    shortcut = entry.get("shortcut")
    if shortcut is not None and (not isinstance(shortcut, str) or not shortcut):
        raise SchemaError(
            f"'shortcut' must be a key name, got {shortcut!r}", path=source, field=where
        )
    return Label(
        name=name,
        id=ints["id"],
        train_id=ints["trainId"],
        category=str(entry.get("category", "void")),
        category_id=ints["categoryId"],
        has_instances=bools["hasInstances"],
        ignore_in_eval=bools["ignoreInEval"],
        color=color,
        attributes=tuple(attributes),
        shortcut=shortcut,
    )


def _parse_color(raw: Any, source: str | None, where: str) -> Color:
    if isinstance(raw, str) and _HEX_COLOR.match(raw):
        return (int(raw[1:3], 16), int(raw[3:5], 16), int(raw[5:7], 16))
    if (
        isinstance(raw, list | tuple)
        and len(raw) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in raw)
    ):
        return (raw[0], raw[1], raw[2])
    raise SchemaError(
        f"'color' must be '#rrggbb' or [r, g, b] with 0..255, got {raw!r}", path=source, field=where
    )
