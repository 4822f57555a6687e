from typing import Any

def label_parts(
    labels: bytes | memoryview | Any,
    itemsize: int,
    height: int,
    width: int,
    out: bytearray | memoryview | Any,
    /,
) -> int: ...
