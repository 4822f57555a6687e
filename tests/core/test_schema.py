from __future__ import annotations

import json

import pytest

from roadmark.core.errors import SchemaError
from roadmark.core.schema import LabelSchema, cityscapes_schema


def test_cityscapes_table_is_complete():
    schema = cityscapes_schema()
    assert len(schema) == 35
    assert schema.label("road").id == 7 and schema.label("road").train_id == 0
    assert schema.label("car").has_instances and schema.label("car").color == (0, 0, 142)
    assert schema.label("sky").category == "sky" and schema.label("sky").category_id == 5
    plate = schema.label("license plate")
    assert plate.id == -1 and not plate.drawable and plate.train_id == -1
    assert schema.label(26).name == "car"
    assert schema.by_train_id[13].name == "car"
    assert "occluded" in schema.label("person").attributes
    assert schema.by_shortcut["1"].name == "road"
    assert schema.attribute_defaults(26) == {"occluded": False, "truncated": False}


def test_round_trips_through_json():
    schema = cityscapes_schema()
    again = LabelSchema.from_json(schema.to_json())
    assert again.labels == schema.labels
    assert dict(again.attributes) == dict(schema.attributes)


def _doc(**label):
    base = {"name": "thing", "id": 1, "color": "#ff0000"}
    base.update(label)
    return {"labels": [{"name": "bg", "id": 0, "color": [0, 0, 0]}, base]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": 0}, "duplicate id 0"),
        ({"name": "bg"}, "duplicate name 'bg'"),
        ({"color": "#ff00"}, "'color' must be"),
        ({"color": [300, 0, 0]}, "'color' must be"),
        ({"colour": "#ff0000"}, "unknown field(s) ['colour']"),
        ({"id": "seven"}, "'id' must be an integer"),
        ({"hasInstances": "yes"}, "'hasInstances' must be true or false"),
        ({"attributes": ["flying"]}, "uses attribute 'flying'"),
    ],
)
def test_bad_entries_are_named(change, message):
    with pytest.raises(SchemaError) as info:
        LabelSchema.from_dict(_doc(**change), source="my.json")
    text = str(info.value)
    assert message in text
    assert text.startswith("my.json")
    assert "thing" in text or "bg" in text or "labels[1]" in text


def test_missing_fields_and_duplicate_shortcut():
    with pytest.raises(SchemaError, match="missing 'id'"):
        LabelSchema.from_dict({"labels": [{"name": "x"}]})
    with pytest.raises(SchemaError, match="duplicate shortcut"):
        LabelSchema.from_dict(
            {
                "labels": [
                    {"name": "a", "id": 1, "shortcut": "q"},
                    {"name": "b", "id": 2, "shortcut": "q"},
                ]
            }
        )
    with pytest.raises(SchemaError, match="not valid JSON"):
        LabelSchema.from_json("{labels:", source="x.json")


def test_missing_colors_are_generated_distinct():
    schema = LabelSchema.from_dict(
        {"labels": [{"name": n, "id": i} for i, n in enumerate("abcdef")]}
    )
    colors = [label.color for label in schema]
    assert len(set(colors)) == len(colors)


def test_with_labels_adds_new_ids_and_distinct_colors():
    schema = cityscapes_schema()
    grown = schema.with_labels(["car", "scooter", "drone"])
    assert len(grown) == 37
    assert grown.label("scooter").id == 34 and grown.label("drone").id == 35
    assert grown.label("scooter").color not in {label.color for label in schema}


def test_attribute_validation():
    schema = LabelSchema.from_dict(
        {
            "attributes": {"pose": {"type": "choice", "choices": ["front", "back"]}},
            "labels": [{"name": "car", "id": 1, "attributes": ["pose"]}],
        }
    )
    assert schema.attribute_defaults(1) == {"pose": "front"}
    schema.validate_attributes(1, {"pose": "back"})
    with pytest.raises(SchemaError, match="must be one of"):
        schema.validate_attributes(1, {"pose": "up"})
    with pytest.raises(SchemaError, match="no attribute 'speed'"):
        schema.validate_attributes(1, {"speed": 3})
    with pytest.raises(SchemaError, match="type must be one of"):
        LabelSchema.from_dict(
            {"attributes": {"x": {"type": "int"}}, "labels": [{"name": "a", "id": 1}]}
        )


def test_asset_file_is_valid_json():
    from importlib import resources

    data = json.loads(
        resources.files("roadmark.assets.schemas").joinpath("cityscapes.json").read_text()
    )
    assert [entry["name"] for entry in data["labels"]][:3] == [
        "unlabeled",
        "ego vehicle",
        "rectification border",
    ]
