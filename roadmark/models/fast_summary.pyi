from typing import Any

def summarize(
    logits: Any,
    batch: int,
    classes: int,
    in_h: int,
    in_w: int,
    out_h: int,
    out_w: int,
    lut: Any,
    labels: Any,
    confidence: Any,
    margin: Any,
    entropy: Any,
    /,
) -> None: ...
