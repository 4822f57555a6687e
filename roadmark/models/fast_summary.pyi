from typing import Any

def summarize(
    logits: Any,
    out_h: int,
    out_w: int,
    lut: Any,
    labels: Any,
    confidence: Any,
    margin: Any,
    entropy: Any,
    mid_h: int = 0,
    mid_w: int = 0,
    /,
) -> None: ...
