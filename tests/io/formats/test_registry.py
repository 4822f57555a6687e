"""The format registry: ids, versions, capabilities, duplicates, lookups."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from roadmark.core.schema import cityscapes_schema
from roadmark.io.formats import (
    BUILTIN_FORMAT_MODULES,
    Capability,
    DatasetFormat,
    DuplicateFormatError,
    get_format,
    register_format,
    registered_formats,
    unregister_format,
)
from roadmark.io.formats.common import ImportContext, LabelMapper
from roadmark.io.formats.errors import FormatError


def test_builtin_formats_are_registered_with_versions_and_capabilities():
    formats = registered_formats()
    assert {"coco", "cityscapes"} <= set(formats)
    assert len(BUILTIN_FORMAT_MODULES) >= 2
    for format_id, cls in formats.items():
        assert cls.id == format_id and cls.version and cls.title
        assert {Capability.IMPORT, Capability.EXPORT} & cls.capabilities
    assert get_format("coco").output == "file" and get_format("coco").suffix == ".json"
    assert get_format("cityscapes").can(Capability.LABEL_MAPS)
    assert not get_format("coco").can(Capability.SOFT_DELETE)


def test_a_duplicate_id_raises_and_the_first_stays():
    class Other(DatasetFormat):
        id = "coco"
        version = "9"
        title = "another coco"
        capabilities = frozenset({Capability.EXPORT})

    with pytest.raises(DuplicateFormatError, match="registered twice"):
        register_format(Other)
    assert registered_formats()["coco"].__name__ == "CocoFormat"


def test_export_only_formats_are_listed_by_capability(tmp_path: Path):
    @register_format
    class Scores(DatasetFormat):
        id = "test-scores"
        version = "0.1"
        title = "scores only"
        capabilities = frozenset({Capability.EXPORT, Capability.SCORES})
        output = "file"
        suffix = ".json"

    try:
        assert "test-scores" in registered_formats(Capability.EXPORT)
        assert "test-scores" not in registered_formats(Capability.IMPORT)
        with pytest.raises(FormatError, match="unknown format 'test-scores'"):
            get_format("test-scores", Capability.IMPORT)
        mapper = LabelMapper(cityscapes_schema())
        context = ImportContext(mapper, None, "u", datetime.now(UTC), "import:x")
        with pytest.raises(FormatError, match="cannot be imported"):
            list(Scores().read(tmp_path, context))
    finally:
        unregister_format("test-scores")
    assert "test-scores" not in registered_formats()


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"id": "Bad Id"}, "lowercase"),
        ({"capabilities": frozenset({Capability.BOXES})}, "neither imports nor exports"),
        ({"output": "stream"}, "output must be"),
    ],
)
def test_malformed_format_classes_are_refused(attrs, message):
    base = {
        "id": "test-bad",
        "version": "1",
        "title": "bad",
        "capabilities": frozenset({Capability.EXPORT}),
    }
    cls = type("Bad", (DatasetFormat,), base | attrs)
    with pytest.raises(ValueError, match=message):
        register_format(cls)
    assert "test-bad" not in registered_formats()


def test_unknown_format_names_the_known_ones():
    with pytest.raises(FormatError, match=r"unknown format 'labelme'.*cityscapes, coco") as info:
        get_format("labelme")
    assert info.value.field == "--format"
