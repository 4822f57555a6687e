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
