"""Lone surrogates are found wherever text can be, lists of points are not searched."""

from __future__ import annotations

import pytest

from roadmark.io.text_checks import first_invalid_text

BAD = "ab\ud800"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"objects": [{"polygon": [[1, 2], [3, 4]], "label": BAD}]}, ("objects[0].label", 2)),
        ({"x": [[1, 2], [BAD]]}, ("x[1][0]", 2)),  # not all points: searched
        ({"x": [[1, BAD], [3, 4]]}, None),  # lists that start with a number are numbers
        ({BAD: 1}, ("(key)", 2)),
        ({"a": {"b": [{"c": BAD}]}}, ("a.b[0].c", 2)),
        ([[1.5, 2], [True, 3]], None),
        ({"ok": ["text", [[0, 0]], {"k": "v"}]}, None),
    ],
)
def test_the_first_invalid_text_and_its_place(data, expected):
    assert first_invalid_text(data) == expected


@pytest.mark.parametrize(
    ("text", "encoding", "refused"),
    [
        ('{"label": "ab\\ud800"}', "utf-8", True),
        ('{"label": "ab\\uDFFF"}', "utf-8", True),
        ('{"label": "ab\\ud800"}', "utf-16", True),  # no escape to find in the bytes
        ('{"label": "ab\\ud800"}', "utf-8-sig", True),
        ('{"label": "\\ud83d\\ude00"}', "utf-8", False),  # a pair: one character
        ('{"label": "ab\\\\ud800"}', "utf-8", False),  # a backslash, then text
        ('{"label": "\\u00e9t\\u00e9"}', "utf-8", False),
    ],
)
def test_read_json_refuses_a_lone_surrogate_in_any_encoding(tmp_path, text, encoding, refused):
    from roadmark.io.formats.common import read_json
    from roadmark.io.formats.errors import FormatError

    path = tmp_path / "f.json"
    path.write_bytes(text.encode(encoding))
    if refused:
        with pytest.raises(FormatError, match="lone surrogate") as caught:
            read_json(path)
        assert caught.value.field == "label"
    else:
        assert isinstance(read_json(path)["label"], str)
