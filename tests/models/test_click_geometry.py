"""The click model's geometry: first-click windows, growing crops, edge-aware pasting.

The decoder is replaced by an oracle that marks the crop's red pixels, so these tests check
where the model looks and how it maps crops back to the frame, not what it learned.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from roadmark.models import click_model
from roadmark.models.click_model import ClickModel
from roadmark.models.click_net import (
    CROP,
    FIRST_SIDES,
    guided_filter,
    paste,
    paste_guided,
    square_window,
    touches_border,
)
from roadmark.models.click_objects import size_bucket
from roadmark.models.clicker import iou
from roadmark.models.promptable import Prompts
from tests.models.red_oracle import oracle_model

H, W = 256, 512
RECT = (100, 60, 400, 200)  # x0, y0, x1, y1: wider than every first window but the last


def _image() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.full((H, W, 3), 90, np.uint8)
    x0, y0, x1, y1 = RECT
    image[y0:y1, x0:x1] = (220, 40, 40)
    return np.clip(image + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)


def _rect_mask() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    x0, y0, x1, y1 = RECT
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> ClickModel:
    return oracle_model(tmp_path_factory.mktemp("click"), 0.6)


def test_square_windows_are_centred_on_the_click_and_kept_inside_the_frame():
    assert square_window(200, 100, 64, W, H) == pytest.approx((168, 68, 232, 132))
    assert square_window(10, 10, 64, W, H) == pytest.approx((0, 0, 64, 64))  # shifted
    assert square_window(250, 128, 400, W, H) == pytest.approx((50, 0, 450, H))  # cut to H


def test_a_mask_touches_a_border_only_where_the_frame_goes_on():
    probability = np.zeros((CROP, CROP), np.float32)
    probability[40:60, 0:30] = 1.0  # on the crop's left side
    assert touches_border(probability, (100, 50, 200, 150), (H, W))
    assert not touches_border(probability, (0, 50, 100, 150), (H, W))  # the frame's edge
    probability[40:60, 0:30] = 0.0
    probability[40:60, 10:30] = 1.0
    assert not touches_border(probability, (100, 50, 200, 150), (H, W))


@pytest.mark.parametrize("sides", [FIRST_SIDES, (64.0, 160.0, 400.0)])
def test_one_click_finds_a_large_object_and_a_small_one(
    oracle: ClickModel, sides: tuple[float, ...], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(click_model, "FIRST_SIDES", sides)
    (embedding,) = oracle.encode([_image()])
    found = oracle.decode(embedding, Prompts(points=((250.5, 130.5, True),)))
    assert found.masks.shape == (1 + len(sides), H, W)  # final + each window's pass
    assert np.all(np.diff(found.scores) <= 0)
    assert iou(found.masks[0], _rect_mask()) > 0.97
    # a small object is found through the smallest window, nothing else is marked
    small = np.full((H, W, 3), 90, np.uint8)
    small[100:120, 300:330] = (220, 40, 40)
    (embedding,) = oracle.encode([small])
    mask = oracle.decode(embedding, Prompts(points=((315.5, 110.5, True),))).masks[0]
    expected = np.zeros((H, W), bool)
    expected[100:120, 300:330] = True
    assert iou(mask, expected) > 0.95


def test_the_first_pass_keeps_the_smallest_window_whose_mask_stays_inside(
    oracle: ClickModel, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(click_model, "FIRST_SIDES", (64.0, 160.0, 400.0))
    monkeypatch.setattr(click_model, "GROW_PASSES", 0)
    (embedding,) = oracle.encode([_image()])
    found = oracle.decode(embedding, Prompts(points=((250.5, 130.5, True),)))
    # without growing, only a zoom-in on the 400-pixel window's mask holds the object
    assert iou(found.masks[0], _rect_mask()) > 0.97
    holds = [iou(mask, _rect_mask()) > 0.95 for mask in found.masks[1:]]  # each window's
    assert sorted(holds) == [False, False, True]  # the 64 and 160 windows cut it


def test_a_crop_that_cuts_the_object_grows_until_it_holds_it(oracle: ClickModel):
    (embedding,) = oracle.encode([_image()])
    earlier = np.zeros((H, W), bool)
    earlier[60:200, 100:250] = True  # the left half of the object
    found = oracle.decode(embedding, Prompts(points=((180.5, 130.5, True),), mask=earlier))
    assert found.masks.shape == (1, H, W)
    assert iou(found.masks[0], _rect_mask()) > 0.97


def test_the_guided_filter_moves_a_coarse_edge_onto_the_image_edge():
    guide = np.zeros((40, 80, 3), np.float32)
    guide[:, 37:] = 1.0  # the image's edge: between columns 36 and 37
    coarse = np.clip((np.arange(80, dtype=np.float32) - 40.0) / 8 + 0.5, 0, 1)  # edge at 40
    source = np.repeat(coarse[None, :], 40, axis=0)
    fine = guided_filter(guide, source, 8, 1e-3)  # a radius as wide as the blur
    assert np.flatnonzero(source[20] > 0.5)[0] == 41
    assert np.flatnonzero(fine[20] > 0.5)[0] == 37


def test_edge_aware_pasting_follows_the_image_better_than_bilinear():
    image = _image()
    window = (50.0, 20.0, 450.0, 240.0)
    # the crop's probabilities of the object, blurred as coarse logits are
    crop = cv2.warpAffine(
        _rect_mask().astype(np.float32), np.array([[400 / CROP, 0, 50 + 200 / CROP - 0.5],
                                                   [0, 220 / CROP, 20 + 110 / CROP - 0.5]]),
        (CROP, CROP), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP)
    crop = cv2.GaussianBlur(cv2.resize(cv2.resize(crop, (CROP // 4, CROP // 4)), (CROP, CROP)),
                            (0, 0), 1.5)
    plain, row0, col0 = paste(crop, window, (H, W))
    fine, row0_g, col0_g = paste_guided(crop, window, image, (H, W))
    assert (row0, col0, plain.shape) == (row0_g, col0_g, fine.shape)
    gt = _rect_mask()[row0 : row0 + plain.shape[0], col0 : col0 + plain.shape[1]]
    assert iou(fine > 0.5, gt) > iou(plain > 0.5, gt)
    assert iou(fine > 0.5, gt) > 0.98


def test_objects_fall_into_size_buckets():
    def box(w: int, h: int) -> np.ndarray:
        mask = np.zeros((600, 600), bool)
        mask[:h, :w] = True
        return mask

    assert size_bucket(box(40, 40)) == "small"
    assert size_bucket(box(100, 100)) == "medium"
    assert size_bucket(box(300, 300)) == "large"
    assert size_bucket(box(4, 129)) == "thin"
    assert size_bucket(box(500, 60)) == "thin"


def test_noc_by_size_scores_each_bucket_apart(oracle: ClickModel):
    from roadmark.models.click_training import ClickFrame, noc_by_size

    image = np.full((H, W, 3), 90, np.uint8)
    objects = np.zeros((H, W), np.int32)
    image[60:120, 100:160] = (220, 40, 40)  # red: the oracle finds it with one click
    objects[60:120, 100:160] = 1
    image[20:230, 300:306] = (40, 40, 220)  # blue and thin: the oracle never finds it
    objects[20:230, 300:306] = 2
    scored = noc_by_size(oracle, [ClickFrame.from_map(image, objects)])
    assert scored["all"] == {"objects": 2, "noc85": 10.5, "noc90": 10.5}
    assert scored["medium"] == {"objects": 1, "noc85": 1.0, "noc90": 1.0}
    assert scored["thin"] == {"objects": 1, "noc85": 20.0, "noc90": 20.0}
    assert scored["small"] == scored["large"] == {"objects": 0, "noc85": None, "noc90": None}
