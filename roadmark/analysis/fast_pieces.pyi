from typing import Any

def split_pieces(
    components: Any,
    labels: Any,
    stats: Any,
    candidates: Any,
    height: int,
    width: int,
    max_w: int,
    max_h: int,
    out: Any,
    /,
) -> bytes: ...
