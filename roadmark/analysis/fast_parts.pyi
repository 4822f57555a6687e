from typing import Any

def label_parts(
    labels: bytes | memoryview | Any,
    itemsize: int,
    height: int,
    width: int,
    out: bytearray | memoryview | Any,
    /,
) -> int: ...

def ordered_parts(
    values: bytes | memoryview | Any,
    height: int,
    width: int,
    count: int,
    anchors: bytes | memoryview | Any | None,
    out: bytearray | memoryview | Any,
    /,
) -> bytes: ...

def count_levels(
    levels: Any,
    owners: Any | None,
    rows: int,
    out: bytearray | memoryview | Any,
    /,
) -> None: ...

def part_boxes(labels: Any, count: int, out: bytearray | memoryview | Any, /) -> None: ...
