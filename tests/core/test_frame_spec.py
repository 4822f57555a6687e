"""The one frame-list parser: its rules, shared by the command line, workflow, exports and
the assign dialog."""

from __future__ import annotations

import pytest

from roadmark.core.errors import RoadmarkError
from roadmark.core.frame_spec import FrameSpecError, parse_frame_spec


@pytest.mark.parametrize("spec", [None, "", "  ", "all", "ALL", " All "])
def test_every_frame(spec: str | None):
    assert parse_frame_spec(spec, 4) == [0, 1, 2, 3]
    assert parse_frame_spec(spec, 0) == []


def test_parts_ranges_and_spaces():
    assert parse_frame_spec("3", 5) == [3]
    assert parse_frame_spec("0-2,4", 5) == [0, 1, 2, 4]
    assert parse_frame_spec(" 1 - 2 , 4 ", 5) == [1, 2, 4]
    assert parse_frame_spec("2-2", 5) == [2]


def test_one_order_rule_sorted_without_repeats():
    assert parse_frame_spec("4,0-1,3,1,0", 5) == [0, 1, 3, 4]
    assert parse_frame_spec("3,1", 5) == parse_frame_spec("1,3", 5) == [1, 3]


def test_numbers_from_one_give_zero_based_positions():
    assert parse_frame_spec("1-2,4", 4, first=1) == [0, 1, 3]
    assert parse_frame_spec("all", 3, first=1) == [0, 1, 2]
    with pytest.raises(FrameSpecError, match="there is no frame 0: frames are numbered 1 to 3"):
        parse_frame_spec("0", 3, first=1)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("x", r"'x' is not a frame number or range \(write e\.g\. 0-9,12 or all\)"),
        ("1,,2", "'' is not a frame number"),
        ("-1", "'-1' is not a frame number"),
        ("1-2-3", "'1-2-3' is not a frame number"),
        ("1.5", "'1.5' is not a frame number"),
        ("3-1", "bad range '3-1': the first number is larger than the last"),
        ("9", "there is no frame 9: frames are numbered 0 to 3"),
        ("2-9", "there is no frame 9: frames are numbered 0 to 3"),
    ],
)
def test_one_error_type_with_a_clear_message(spec: str, needle: str):
    with pytest.raises(FrameSpecError, match=needle) as caught:
        parse_frame_spec(spec, 4)
    assert isinstance(caught.value, RoadmarkError)
    assert caught.value.field == "--frames"


def test_error_names_the_field_and_the_empty_project():
    with pytest.raises(FrameSpecError, match="the project has no frames") as caught:
        parse_frame_spec("0", 0, field="frames")
    assert caught.value.field == "frames"
    with pytest.raises(FrameSpecError, match=r"write e\.g\. 1-10,13 or all"):
        parse_frame_spec("a", 3, first=1)


def test_an_empty_text_is_refused_where_it_would_choose_every_frame_by_surprise():
    with pytest.raises(FrameSpecError, match="no frames given"):
        parse_frame_spec("  ", 5, empty_is_all=False)
    assert parse_frame_spec("all", 5, empty_is_all=False) == [0, 1, 2, 3, 4]
    assert parse_frame_spec("", 5) == [0, 1, 2, 3, 4]
