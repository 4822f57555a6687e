from typing import Any

def label_rings(
    padded: Any,
    itemsize: int,
    height: int,
    width: int,
    parts: Any | None,
    /,
) -> tuple[bytes, bytes, bytes] | None: ...
