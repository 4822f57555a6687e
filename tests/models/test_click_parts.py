"""A click works on its own part of the mask (click_parts), and a negative click the
decoder overruled is honoured by a geodesic split (click_geodesic); through the bundled
model's code with a stand-in decoder that marks the crop's red pixels."""

from __future__ import annotations

import numpy as np
import pytest

from roadmark.models.click_geodesic import honour_negatives
from roadmark.models.click_model import ClickModel
from roadmark.models.click_parts import keep_parts, mask_parts, part_of
from roadmark.models.clicker import iou
from roadmark.models.promptable import Prompts
from tests.models.red_oracle import oracle_model

H, W = 512, 1024


def _box(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_far_pieces_are_parts_and_near_pieces_one_part():
    left, right = _box(40, 200, 140, 240), _box(800, 200, 900, 240)
    parts = mask_parts(left | right)
    assert len(parts) == 2
    assert sorted(int(p.mask.sum()) for p in parts) == [4000, 4000]
    assert all(np.array_equal(p.mask, left) or np.array_equal(p.mask, right) for p in parts)
    # a facade cut by a pole 6 px wide: one part
    cut = _box(300, 100, 360, 300) | _box(366, 100, 430, 300)
    (whole,) = mask_parts(cut)
    assert np.array_equal(whole.mask, cut)
    # pieces that join through a third one: one part
    chain = _box(100, 100, 140, 140) | _box(170, 100, 210, 140) | _box(240, 100, 280, 140)
    assert len(mask_parts(chain)) == 1


def test_a_speckled_mask_is_one_part():
    rng = np.random.default_rng(0)
    specks = rng.random((H, W)) > 0.98  # about 10,000 pieces
    (part,) = mask_parts(specks)
    assert np.array_equal(part.mask, specks)
    assert part.holds(5.0, 5.0) and part.holds(W - 5.0, H - 5.0)


def test_a_click_works_on_the_part_it_is_in_or_starts_a_new_one():
    left, right = _box(40, 200, 140, 240), _box(800, 200, 900, 240)
    parts = mask_parts(left | right)
    on_left = next(k for k, p in enumerate(parts) if p.mask[220, 90])
    assert part_of(parts, (90.0, 220.0, True)) == on_left
    assert part_of(parts, (150.0, 220.0, False)) == on_left  # beside it, within its reach
    assert part_of(parts, (470.0, 400.0, True)) is None  # far from both: a new part
    assert part_of(parts, (300.0, 220.0, False)) == on_left  # a far negative: the nearest


def test_keep_parts_keeps_other_parts_and_clears_their_reach():
    left = _box(40, 200, 140, 240)
    (part,) = mask_parts(left)
    decoded = _box(600, 200, 700, 240) | _box(100, 230, 170, 250)  # spills into its reach
    kept = keep_parts(decoded, [part])
    assert np.array_equal(kept, left | _box(600, 200, 700, 240))


def _two_colours() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = np.full((H, W, 3), 90, np.uint8)
    blue, green = _box(300, 100, 400, 300), _box(400, 100, 520, 300)
    image[blue] = (30, 40, 200)
    image[green] = (40, 190, 60)
    return image, blue, green


def test_a_negative_click_takes_the_mask_up_to_the_colour_edge():
    image, blue, green = _two_colours()
    clicks = [(330.0, 200.0, True), (480.0, 150.0, False)]
    out = honour_negatives(blue | green, image, clicks)
    assert iou(out, blue) > 0.97
    # the frame's pixels at half the frame's size (the embedding's image) give the same
    small = image[::2, ::2].copy()
    assert iou(honour_negatives(blue | green, small, clicks), blue) > 0.97


def test_honouring_leaves_obeyed_clicks_alone_and_drops_a_part_without_positives():
    image, blue, green = _two_colours()
    mask = blue | green
    assert honour_negatives(mask, image, [(330.0, 200.0, True)]) is mask
    assert np.array_equal(honour_negatives(mask, image, [(330.0, 200.0, True),
                                                         (600.0, 200.0, False)]), mask)
    far = _box(800, 100, 900, 200)
    out = honour_negatives(mask | far, image, [(330.0, 200.0, True), (850.0, 150.0, False)])
    assert np.array_equal(out, mask)


@pytest.fixture()
def oracle(tmp_path_factory: pytest.TempPathFactory) -> ClickModel:
    return oracle_model(tmp_path_factory.mktemp("click"), 0.5)


def test_a_far_click_adds_a_part_and_a_click_on_a_part_leaves_the_others(oracle: ClickModel):
    image = np.full((H, W, 3), 90, np.uint8)
    left, right = _box(60, 300, 160, 340), _box(820, 280, 920, 320)
    image[left | right] = (230, 40, 40)
    (embedding,) = oracle.encode([image])
    first = oracle.decode(embedding, Prompts(points=((110.0, 320.0, True),))).masks[0]
    assert iou(first, left) > 0.9
    clicks = ((110.0, 320.0, True), (870.0, 300.0, True))
    both = oracle.decode(embedding, Prompts(points=clicks, mask=first))
    assert iou(both.masks[0], left | right) > 0.9
    assert all(mask[320, 110] for mask in both.masks)  # every candidate keeps the first part
    # a hand-drawn part (not red) far away stays when a click works on the left part
    drawn = _box(500, 40, 560, 90)
    again = oracle.decode(embedding, Prompts(points=((110.0, 320.0, True),),
                                             mask=first | drawn)).masks[0]
    assert np.array_equal(again & drawn, drawn)
    assert iou(again & ~drawn, left) > 0.9


def test_the_model_honours_a_negative_click_its_decoder_overruled(oracle: ClickModel):
    image = np.full((H, W, 3), 90, np.uint8)
    red, orange = _box(300, 200, 380, 280), _box(380, 200, 460, 280)
    image[red] = (230, 40, 40)
    image[orange] = (250, 150, 30)  # red enough for the stand-in decoder
    (embedding,) = oracle.encode([image])
    first = oracle.decode(embedding, Prompts(points=((340.0, 240.0, True),))).masks[0]
    assert iou(first, red | orange) > 0.9
    clicks = ((340.0, 240.0, True), (420.0, 240.0, False))
    found = {}
    for honour in (False, True):
        oracle.honour_clicks = honour
        found[honour] = oracle.decode(embedding, Prompts(points=clicks, mask=first)).masks[0]
    assert found[False][240, 420]  # the decoder alone keeps the orange half
    assert not found[True][240, 420]
    assert iou(found[True], red) > 0.9
