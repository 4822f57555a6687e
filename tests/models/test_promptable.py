"""The promptable interface, the click model's plumbing, the clicker and embeddings ahead."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from roadmark.core.jobs import CancelToken, JobCancelled
from roadmark.io.store import FrameSpec, Project
from roadmark.models.click_net import FIRST_SIDES, ClickNet
from roadmark.models.click_training import save_click_model
from roadmark.models.clicker import MAX_CLICKS, ClickRun, next_click, noc, simulate
from roadmark.models.embedding import Embedder, embed_frames, frame_pixels, project_cache
from roadmark.models.errors import ModelFileError
from roadmark.models.promptable import Candidates, PromptError, Prompts, load_promptable

H, W = 96, 160


@pytest.fixture(scope="module")
def random_click_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("click") / "random.roadmodel"
    save_click_model(ClickNet(), path, name="random-click")
    return path


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((H, W, 3), 90, np.uint8)
    cv2.rectangle(image, (40, 30), (90, 70), (200, 40, 40), -1)
    return np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)


def test_prompts_are_checked_against_the_frame():
    Prompts(points=((10, 10, True),)).check(H, W)
    Prompts(box=(0, 0, W, H)).check(H, W)
    for prompts, field in (
        (Prompts(), "points"),
        (Prompts(points=((10, 10, False),)), "points"),
        (Prompts(points=((W + 1, 10, True),)), "points[0]"),
        (Prompts(points=((float("nan"), 10, True),)), "points[0]"),
        (Prompts(box=(50, 10, 20, 30)), "box"),
        (Prompts(points=((1, 1, True),), mask=np.zeros((5, 5), bool)), "mask"),
    ):
        with pytest.raises(PromptError) as caught:
            prompts.check(H, W)
        assert caught.value.field == field


def test_candidates_are_ranked_best_first_with_empty_masks_last():
    masks = np.zeros((3, 4, 4), bool)
    masks[0, 0, 0] = masks[2, 1, 1] = True
    ranked = Candidates.ranked(masks, np.array([0.5, 0.99, 0.7]))
    assert list(ranked.scores) == pytest.approx([0.7, 0.5, 0.0])
    assert ranked.masks[0, 1, 1] and ranked.masks[1, 0, 0] and not ranked.masks[2].any()


def test_click_model_encodes_once_and_decodes_clicks_boxes_and_masks(random_click_model: Path):
    model = load_promptable(random_click_model)
    assert model.name == "random-click" and model.family == "click" and len(model.digest) == 64
    (embedding,) = model.encode([_image()])
    assert embedding["features"].dtype == np.float16
    assert tuple(embedding["frame_size"]) == (H, W)
    clicked = model.decode(embedding, Prompts(points=((60, 50, True),)))
    # the zoomed-in pass, then the first pass through each window around the click
    assert clicked.masks.shape == (1 + len(FIRST_SIDES), H, W)
    assert np.all((clicked.scores >= 0) & (clicked.scores <= 1))
    assert np.all(np.diff(clicked.scores) <= 0)
    boxed = model.decode(embedding, Prompts(box=(40, 30, 90, 70)))
    assert boxed.masks.shape == (1, H, W)
    start = np.zeros((H, W), bool)
    start[30:70, 40:90] = True
    refined = model.decode(embedding, Prompts(points=((60, 50, True), (100, 50, False)),
                                              mask=start))
    assert refined.masks.shape == (1, H, W)
    with pytest.raises(PromptError):
        model.decode(embedding, Prompts(points=((500, 50, True),)))


def test_a_segmentation_model_is_not_promptable(tmp_path: Path):
    from roadmark.core.schema import cityscapes_schema
    from roadmark.models.create import new_torchvision_model

    out = tmp_path / "seg.roadmodel"
    new_torchvision_model(out, "lraspp_mobilenet_v3_large", schema=cityscapes_schema())
    with pytest.raises(ModelFileError) as caught:
        load_promptable(out)
    assert caught.value.field == "task" and "promptable" in str(caught.value)


def test_clicker_first_click_is_the_deepest_point_then_the_largest_error():
    gt = np.zeros((40, 60), bool)
    gt[10:30, 10:50] = True
    x, y, positive = next_click(gt, None)
    assert positive and abs(y - 20) <= 1 and 19 <= x <= 41  # the distance plateau
    pred = gt.copy()
    pred[0:8, 0:60] = True  # a false strip above: the largest error
    pred[10:30, 45:50] = False  # a smaller miss
    x, y, positive = next_click(gt, pred)
    assert not positive and y < 8
    assert next_click(gt, gt) is None


def test_simulated_sessions_count_clicks():
    gt = np.zeros((40, 60), bool)
    gt[10:30, 10:50] = True

    def oracle_after_two(clicks, previous):
        return gt if len(clicks) >= 2 else gt & (np.arange(60) < 30)[None, :]

    run = simulate(oracle_after_two, gt)
    assert run.clicks_to(0.85) == 2 and len(run.ious) == 2
    never = simulate(lambda clicks, previous: np.zeros_like(gt), gt, max_clicks=5)
    assert never.clicks_to(0.85) == MAX_CLICKS
    assert noc([run, ClickRun((0.9,))], 0.85) == pytest.approx(1.5)


def test_embed_frames_reuses_the_cache_and_sees_changed_frames(
    tmp_path: Path, random_click_model: Path
):
    paths = []
    for index, seed in enumerate((1, 2, 1)):  # the third frame has the first one's pixels
        path = tmp_path / f"f{index}.png"
        cv2.imwrite(str(path), _image(seed))
        paths.append(path)
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames([FrameSpec(p, None, W, H, "s", i) for i, p in enumerate(paths)])
    model = load_promptable(random_click_model)
    first = embed_frames(project, model, project.frames(), batch_size=2)
    assert (first.computed, first.reused) == (2, 1) and first.cache_bytes > 0
    assert (tmp_path / "p.roadmark-cache" / "embeddings").is_dir()
    again = embed_frames(project, model, project.frames())
    assert (again.computed, again.reused) == (0, 3)
    cv2.imwrite(str(paths[1]), _image(7))  # the image file changes
    changed = embed_frames(project, model, project.frames())
    assert (changed.computed, changed.reused) == (1, 2)
    embedder = Embedder(model, project_cache(project, model))
    pixels = frame_pixels(project, project.frames()[1])
    cached = embedder.cached(pixels)
    assert cached is not None
    np.testing.assert_array_equal(cached["features"], model.encode([pixels])[0]["features"])
    np.testing.assert_array_equal(embedder.get(pixels)["features"], cached["features"])
    project.close()


def test_embed_frames_stops_with_the_one_cancelled_error_and_keeps_what_it_wrote(
    tmp_path: Path, random_click_model: Path
):
    paths = []
    for index, seed in enumerate((1, 2, 3)):
        path = tmp_path / f"f{index}.png"
        cv2.imwrite(str(path), _image(seed))
        paths.append(path)
    project = Project.create(tmp_path / "p.roadmark")
    project.add_frames([FrameSpec(p, None, W, H, "s", i) for i, p in enumerate(paths)])
    model = load_promptable(random_click_model)
    stop = CancelToken()
    reported: list[int] = []

    def progress(done: int, total: int, message: str = "") -> None:
        reported.append(done)
        stop.cancel()  # after the first frame

    with pytest.raises(JobCancelled, match="embeddings computed so far are kept"):
        embed_frames(project, model, project.frames(), batch_size=1, progress=progress,
                     cancel=stop)  # fmt: skip
    assert reported == [1]
    again = embed_frames(project, model, project.frames())
    assert (again.computed, again.reused) == (2, 1)  # the first one was kept
