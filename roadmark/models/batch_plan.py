"""Which frames run through the model together: batches of one frame size, and the units
the lanes of a CPU run take them in."""

from __future__ import annotations

from collections.abc import Sequence

from roadmark.core.annotation import Frame


def size_batches(frames: Sequence[Frame], batch_size: int) -> list[list[int]]:
    """Positions in ``frames`` grouped into batches of one frame size, in order."""
    groups: dict[tuple[int, int], list[int]] = {}
    for position, frame in enumerate(frames):
        groups.setdefault((frame.height, frame.width), []).append(position)
    batches = []
    for positions in groups.values():
        batches += [positions[i : i + batch_size] for i in range(0, len(positions), batch_size)]
    batches.sort(key=lambda batch: batch[0])
    return batches


def lane_units(batches: Sequence[Sequence[int]], lanes: int) -> list[list[int]]:
    """``batches`` as the lanes of a CPU run take them: the first ``lanes`` frames and the
    last ``lanes`` batches one frame at a time.

    Each lane runs whole batches, one after another, taking the next one queued when it
    is free. At the start a lane waits for its first batch to be decoded, and at the end
    the lanes finish their last batches at different times (up to a batch apart; a
    4-frame batch is about 0.7 s of a core for LRASPP at 512x256), one core idle
    meanwhile. Single frames there start the lanes after one frame's decoding each and
    let them even out at the end, within a frame. The model's outputs do not depend on
    the batch (tests).
    """
    units = [list(batch) for batch in batches]
    if lanes < 2:
        return units
    tail = max(0, len(units) - lanes)
    singles = [[position] for batch in units[tail:] for position in batch]
    if tail == 0:
        return singles
    first, middle = units[0], units[1:tail]
    head = [[position] for position in first[:lanes]] + ([first[lanes:]] if first[lanes:] else [])
    return head + middle + singles
