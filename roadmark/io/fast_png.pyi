from typing import Any

def unfilter(
    rows: bytes | bytearray | memoryview | Any,
    out: bytearray | memoryview | Any,
    height: int,
    row_bytes: int,
    bytes_per_pixel: int,
    /,
) -> None: ...
