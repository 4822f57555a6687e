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
    /,
) -> None: ...
