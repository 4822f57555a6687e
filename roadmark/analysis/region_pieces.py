"""Cutting uncertain components into pieces a person can judge in one look (numpy, OpenCV).

A connected component of uncertain pixels can cover half a frame (a whole road surface
the model hesitates about), and a queue item that big tells the annotator nothing about
where to look. :func:`split_components` relabels a component image so that no piece's
bounding box is larger than ``max_extent`` frame pixels along either side:

1. a component that fits is kept as it is;
2. one that does not is first cut along the *predicted-class* boundaries inside it (the
   pixels the model calls road, the pixels it calls sidewalk, ...), each class's part
   split again into its own connected pieces;
3. a piece that still does not fit is cut by an even grid of ``ceil(w / max_extent)`` x
   ``ceil(h / max_extent)`` cells over its box (cells as square as the box allows), and
   each cell's part into its connected pieces.

The grid was chosen over a watershed on the uncertainty: a watershed's basins follow the
uncertainty's peaks but have no size bound, so its pieces would need the grid afterwards
anyway, and on smooth uncertainty (the usual case after the Gaussian) it breaks into
slivers along the ridges. The grid bounds every piece by construction and keeps them
compact (no piece is longer than ``max_extent`` either way).

Where roadmark was built with a C compiler, ``fast_pieces`` does all of it in one pass
over each component's runs of pixels (the same piece image and pieces, in the same order:
a trained model's frame 9.6 -> 1.4 ms); otherwise the steps run as array operations with
``fast_parts`` or OpenCV labelling each class's and each cell's parts.

Each piece's outline (:func:`piece_outlines`: a piece that fills its box is that box, the
others of a frame are traced at once by :mod:`roadmark.analysis.pixel_outline`) is its mask
vectorized along pixel edges, in frame pixels: the review highlights, zooms to and accepts
inside that outline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import shapely
from numpy.typing import NDArray

from roadmark.analysis.pixel_counts import LEVELS, labelled_parts, level_counts
from roadmark.analysis.pixel_outline import label_outlines
from roadmark.core.annotation import Region
from roadmark.core.raster import nonzero_2d

try:
    from roadmark.analysis import fast_parts
except ImportError:  # built without a C compiler: OpenCV labels each class apart
    fast_parts = None  # type: ignore[assignment]
try:
    from roadmark.analysis import fast_pieces
except ImportError:  # built without a C compiler: array operations and OpenCV cut
    fast_pieces = None  # type: ignore[assignment]

_INT32_MAX = 2**31 - 1  # the largest piece limit fast_pieces takes


@dataclass(frozen=True)
class Piece:
    """One piece of the split component image, in map pixels.

    Attributes:
        id: Its value in the piece image.
        left: Left column of its bounding box.
        top: Top row.
        width: Box width.
        height: Box height.
        area: Pixels in the piece.
    """

    id: int
    left: int
    top: int
    width: int
    height: int
    area: int


def split_components(
    components: NDArray[np.int32],
    stats: NDArray[np.int32],
    labels: NDArray[np.integer[Any]],
    candidates: NDArray[np.intp],
    *,
    max_cells: tuple[int, int] | None,
) -> tuple[NDArray[np.int32], list[Piece]]:
    """Relabel ``components`` so that every candidate is cut into pieces that fit.

    Args:
        components: Component image from ``cv2.connectedComponentsWithStats`` (0 =
            background).
        stats: Its stats rows (left, top, width, height, area).
        labels: The predicted label map, same shape.
        candidates: Component ids to keep (the others are dropped).
        max_cells: ``(max_w, max_h)``, the largest piece box in *map* pixels; ``None``
            keeps every component whole.

    Returns:
        ``(pieces, found)``: the piece image (0 = no piece) and the pieces.
    """
    if (fast_pieces is not None and labels.dtype == np.uint8 and components.dtype == np.int32
            and components.size and labels.shape == components.shape):
        return _compiled_split(components, stats, cast(NDArray[np.uint8], labels), candidates,
                               max_cells)
    pieces = np.zeros_like(components)
    found: list[Piece] = []
    next_id = 1
    for index in candidates.tolist():
        left, top, width, height, area = (int(v) for v in stats[index, :5])
        window = (slice(top, top + height), slice(left, left + width))
        inside = components[window] == index
        if max_cells is None or (width <= max_cells[0] and height <= max_cells[1]):
            pieces[window][inside] = next_id
            found.append(Piece(next_id, left, top, width, height, area))
            next_id += 1
            continue
        for part, px, py in _class_parts(inside, labels[window]):
            for piece, dx, dy in _fit(part, max_cells):
                x, y = left + px + dx, top + py + dy
                h, w = piece.shape
                area = int(piece.sum())
                if area == h * w:  # a full cell (the common piece): no mask to index with
                    pieces[y : y + h, x : x + w] = next_id
                else:
                    pieces[y : y + h, x : x + w][piece] = next_id
                found.append(Piece(next_id, x, y, w, h, area))
                next_id += 1
    return pieces, found


def _compiled_split(
    components: NDArray[np.int32],
    stats: NDArray[np.int32],
    labels: NDArray[np.uint8],
    candidates: NDArray[np.intp],
    max_cells: tuple[int, int] | None,
) -> tuple[NDArray[np.int32], list[Piece]]:
    """:func:`split_components` by the compiled ``fast_pieces`` (the same pieces, in one
    pass over each component's runs)."""
    height, width = components.shape
    pieces = np.zeros((height, width), np.int32)
    # (a limit past 2**31 - 1 pixels is no limit on an image: the module takes 32 bits)
    max_w, max_h = (min(limit, _INT32_MAX) for limit in max_cells or (0, 0))
    rows = fast_pieces.split_pieces(
        np.ascontiguousarray(components), np.ascontiguousarray(labels),
        np.ascontiguousarray(stats, dtype=np.int32),
        np.ascontiguousarray(candidates, dtype=np.int64), height, width, max_w, max_h, pieces)
    boxes = np.frombuffer(rows, np.int32).reshape(-1, 5).tolist()
    return pieces, [Piece(number, *box) for number, box in enumerate(boxes, start=1)]


Part = tuple[NDArray[np.bool_], int, int]  # a mask cropped to its box, and the box's x, y
FEW_LABELS = 3  # a component of at most this many labels is cut label by label in its box


def _connected(mask: NDArray[np.bool_]) -> list[Part]:
    """The 8-connected parts of ``mask``, each cropped to its own box, in OpenCV's order
    (boxed by :func:`~roadmark.analysis.pixel_counts.labelled_parts`)."""
    count, parts, stats = labelled_parts(mask.view(np.uint8))
    if count == 2:  # one part (most grid cells of an uncertain band): the mask's own box
        x, y, w, h = (int(v) for v in stats[1, :4])
        return [(mask[y : y + h, x : x + w].copy(), x, y)]
    return [(parts[y : y + h, x : x + w] == k, x, y)
            for k, (x, y, w, h) in enumerate(stats[1:, :4].tolist(), start=1)]


def _ordered_parts(values: NDArray[np.uint16], count: int,
                   anchors: NDArray[np.int32] | None) -> list[Part]:
    """The 8-connected parts of each value ``1..count`` of ``values`` (0 = none), each
    cropped to its own box: by value, and within a value in OpenCV's order for the value's
    pixels alone in an image from its anchor (``anchors[value]``, row and column; ``None``:
    the value's own box), see ``fast_parts.ordered_parts``."""
    height, width = values.shape
    numbers = np.empty((height, width), np.int32)
    stats = fast_parts.ordered_parts(np.ascontiguousarray(values), height, width, count,
                                     anchors, numbers)
    boxes = np.frombuffer(stats, np.int32).reshape(-1, 5)[:, :4].tolist()
    return [(numbers[y : y + h, x : x + w] == k, x, y)
            for k, (x, y, w, h) in enumerate(boxes, start=1)]


def _class_parts(inside: NDArray[np.bool_], labels: NDArray[np.integer[Any]]) -> list[Part]:
    """``inside`` cut along the predicted-class boundaries, into connected parts (by label,
    each label's parts found within the box of its pixels)."""
    if labels.dtype == np.uint8:  # a histogram: a tenth of np.unique's time
        counts = level_counts(cast(NDArray[np.uint8], labels), inside, 2)
        present = np.flatnonzero(counts[1])
    else:
        present = np.unique(labels[inside])
    if len(present) == 1:  # one label: the component is its one connected part
        return [(inside, 0, 0)]
    if fast_parts is not None and labels.dtype == np.uint8:
        # every label's parts in one labelling, numbered as OpenCV numbers them label by
        # label below: within the whole box (few labels) or within each label's own box
        rank = np.zeros(LEVELS, np.uint16)  # a uint8 label map's values
        rank[present] = np.arange(1, len(present) + 1)
        anchors = np.zeros((len(present) + 1, 2), np.int32)
        values = np.multiply(cv2.LUT(labels, rank), inside, dtype=np.uint16)  # 0 outside
        return _ordered_parts(values, len(present),
                              anchors if len(present) <= FEW_LABELS else None)
    if len(present) <= FEW_LABELS:  # finding the boxes would cost more than it saves
        by_label = (_connected(inside & (labels == label_id)) for label_id in present.tolist())
        return [part for parts in by_label for part in parts]
    index = np.searchsorted(present, labels[inside])
    rows, cols = nonzero_2d(inside)
    in_row = np.zeros((len(present), inside.shape[0]), dtype=bool)
    in_row[index, rows] = True  # the rows and columns each label has pixels in
    in_col = np.zeros((len(present), inside.shape[1]), dtype=bool)
    in_col[index, cols] = True
    top, left = in_row.argmax(axis=1), in_col.argmax(axis=1)
    bottom = inside.shape[0] - in_row[:, ::-1].argmax(axis=1)
    right = inside.shape[1] - in_col[:, ::-1].argmax(axis=1)
    out: list[Part] = []
    for k, label_id in enumerate(present.tolist()):
        y0, x0, y1, x1 = int(top[k]), int(left[k]), int(bottom[k]), int(right[k])
        box = (slice(y0, y1), slice(x0, x1))
        mask = inside[box] & (labels[box] == label_id)
        out.extend((part, x0 + x, y0 + y) for part, x, y in _connected(mask))
    return out


def _fit(part: NDArray[np.bool_], max_cells: tuple[int, int]) -> list[Part]:
    """A connected part (cropped to its box) as pieces whose boxes fit ``max_cells``: the
    part itself, or its pieces in an even grid of cells over its box."""
    height, width = part.shape
    max_w, max_h = max_cells
    if width <= max_w and height <= max_h:
        return [(part, 0, 0)]
    columns, rows = math.ceil(width / max_w), math.ceil(height / max_h)
    xs = np.linspace(0, width, columns + 1).round().astype(int)
    ys = np.linspace(0, height, rows + 1).round().astype(int)
    out: list[Part] = []
    for row in range(rows):
        for column in range(columns):
            cx0, cx1 = int(xs[column]), int(xs[column + 1])
            cy0, cy1 = int(ys[row]), int(ys[row + 1])
            cell = part[cy0:cy1, cx0:cx1]
            if cell.all():  # a full cell is one piece (a solid patch of uncertainty)
                out.append((cell, cx0, cy0))
            elif cell.any():
                out.extend((piece, cx0 + x, cy0 + y) for piece, x, y in _connected(cell))
    return out


def piece_outlines(
    pieces: NDArray[np.int32], found: Sequence[Piece], scale: tuple[float, float]
) -> dict[int, Region]:
    """The outlines of ``found`` in frame pixels (their masks vectorized along pixel
    edges), by piece id; a piece that fills its box is that box, the others are all traced
    at once, within the box that holds them."""
    sx, sy = scale
    out: dict[int, Region] = {}
    traced: list[Piece] = []
    boxes: list[Piece] = []
    for piece in found:  # a full box: its rectangle, as the tracing would give it
        (boxes if piece.area == piece.width * piece.height else traced).append(piece)
    if boxes:  # the rectangles made in one call (a Polygon each took most of the time)
        sides = np.array([(p.left, p.top, p.left + p.width, p.top + p.height) for p in boxes],
                         dtype=np.float64) * (sx, sy, sx, sy)
        x0, y0, x1, y1 = sides.T
        corners = np.stack([x0, y0, x1, y0, x1, y1, x0, y1], axis=1).reshape(-1, 4, 2)
        out.update(zip([piece.id for piece in boxes], shapely.polygons(corners).tolist(),
                       strict=True))
    if not traced:
        return out
    left = min(piece.left for piece in traced)
    top = min(piece.top for piece in traced)
    right = max(piece.left + piece.width for piece in traced)
    bottom = max(piece.top + piece.height for piece in traced)
    window = pieces[top:bottom, left:right]
    count = int(window.max()) + 1
    wanted: NDArray[np.integer[Any]] = np.zeros(
        count, dtype=np.uint16 if count <= 1 << 16 else np.int32  # uint16: traced faster
    )
    ids = np.array([piece.id for piece in traced], dtype=np.int32)
    wanted[ids[ids < len(wanted)]] = ids[ids < len(wanted)]
    # (np.take: half the time of indexing with an array of that many ids)
    return out | label_outlines(np.take(wanted, window), offset=(float(left), float(top)),
                                scale=scale)
