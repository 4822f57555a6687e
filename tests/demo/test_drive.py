"""The synthetic demo drive: determinism, ground truth that matches the image, tracks."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest

from roadmark.core.annotation import AnnotationObject, ObjectKind
from roadmark.core.raster import label_id_map, paint
from roadmark.core.schema import cityscapes_schema
from roadmark.demo import drive as demo
from roadmark.demo.drive import SyntheticFrame, generate_drive, render_frame, write_drive

SCHEMA = cityscapes_schema()
SMALL = {"frames": 6, "width": 256, "height": 128}
STUFF = {"sky", "terrain", "road", "sidewalk"}


def _ids(*names: str) -> set[int]:
    return {SCHEMA.label(name).id for name in names}


def _assert_same(a: SyntheticFrame, b: SyntheticFrame) -> None:
    assert a.index == b.index
    assert a.image.dtype == b.image.dtype and np.array_equal(a.image, b.image)
    assert len(a.objects) == len(b.objects)
    for x, y in zip(a.objects, b.objects, strict=True):
        assert x.same_content(y) and x.provenance == y.provenance


def _interior(objects: list[AnnotationObject], height: int, width: int, margin: int = 2):
    """Index map of the visible object at each pixel (-1 none) and the pixels ``margin`` px
    away from any other object."""
    owner = paint(objects, lambda o: objects.index(o) + 1, height, width).astype(np.int32) - 1
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    low = cv2.erode(owner.astype(np.float32), kernel, borderType=cv2.BORDER_REPLICATE)
    high = cv2.dilate(owner.astype(np.float32), kernel, borderType=cv2.BORDER_REPLICATE)
    return owner, (low == high) & (owner >= 0)


def _class_agreement(image: np.ndarray, labels: np.ndarray, inside: np.ndarray) -> float:
    """Share of pixels whose color fits their own label best.

    Each label's colors are modeled as a Gaussian (mean, covariance, share of the pixels),
    and every pixel is given the label under which its color is most likely.
    """
    pixels, truth = image[inside].astype(np.float64), labels[inside]
    classes = [c for c in np.unique(truth) if (truth == c).sum() >= 20]
    scores = []
    for c in classes:
        own = pixels[truth == c]
        cov = np.cov(own.T) + 4 * np.eye(3)
        d = pixels - own.mean(axis=0)
        distance = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
        scores.append(np.log(len(own)) - 0.5 * np.linalg.slogdet(cov)[1] - 0.5 * distance)
    predicted = np.array(classes)[np.argmax(np.stack(scores), axis=0)]
    return float((predicted == truth).mean())


def _edge_strength_on_boundaries(image: np.ndarray, owner: np.ndarray) -> float:
    blurred = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.0)
    dx, dy = cv2.Sobel(blurred, cv2.CV_32F, 1, 0), cv2.Sobel(blurred, cv2.CV_32F, 0, 1)
    edges = cv2.dilate(np.sqrt(dx**2 + dy**2).sum(axis=-1), np.ones((3, 3), np.uint8))
    boundary = np.zeros(owner.shape, dtype=bool)
    boundary[:, :-1] |= owner[:, :-1] != owner[:, 1:]
    boundary[:-1] |= owner[:-1] != owner[1:]
    return float(edges[boundary].mean())


def test_frame_is_an_image_with_regions_inside_it() -> None:
    frame = render_frame(3, **SMALL)
    assert frame.index == 3
    assert frame.image.shape == (128, 256, 3) and frame.image.dtype == np.uint8
    assert len(frame.objects) > 10
    for obj in frame.objects:
        assert obj.kind is ObjectKind.REGION and obj.geometry.is_valid and obj.geometry.area > 0
        x0, y0, x1, y1 = obj.geometry.bounds
        assert x0 >= 0 and y0 >= 0 and x1 <= 256 and y1 <= 128
        assert obj.label_id in SCHEMA.by_id
        assert obj.provenance.source == "import:synthetic"
        assert obj.provenance.created_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert frame.image.std() > 20  # not flat


def test_same_arguments_give_the_same_frame() -> None:
    first = render_frame(2, **SMALL, seed=5)
    demo.make_world.cache_clear()  # make the world again from the seed
    _assert_same(first, render_frame(2, **SMALL, seed=5))


def test_another_seed_gives_another_scene() -> None:
    a, b = render_frame(2, **SMALL, seed=1), render_frame(2, **SMALL, seed=2)
    assert not np.array_equal(a.image, b.image)
    assert [o.region.area for o in a.objects] != [o.region.area for o in b.objects]


def test_random_access_equals_the_drive() -> None:
    drive = list(generate_drive(**SMALL, seed=3))
    assert [f.index for f in drive] == list(range(6))
    demo.make_world.cache_clear()
    for index in (5, 0, 3):
        _assert_same(render_frame(index, **SMALL, seed=3), drive[index])


@pytest.mark.parametrize(("index", "seed"), [(0, 0), (25, 7)])
def test_ground_truth_matches_the_image(index: int, seed: int) -> None:
    frame = render_frame(index, seed=seed)
    labels = label_id_map(frame.objects, SCHEMA, 512, 1024)
    assert (labels == 0).mean() < 0.02
    owner, inside = _interior(frame.objects, 512, 1024)
    assert _class_agreement(frame.image, labels, inside) > 0.8
    # the outlines are where the image has its edges, not a few pixels off
    on_outlines = _edge_strength_on_boundaries(frame.image, owner)
    for axis, shift in ((0, 3), (0, -3), (1, 3), (1, -3)):
        shifted = np.roll(owner, shift, axis=axis)
        assert on_outlines > 1.1 * _edge_strength_on_boundaries(frame.image, shifted)
    # every sizable object shows its own colors: it stands out from what surrounds it
    image = frame.image.astype(np.float64)
    contrasted = []
    for k, obj in enumerate(frame.objects):
        if SCHEMA.by_id[obj.label_id].name not in {"car", "person", "traffic sign", "pole"}:
            continue
        mine = inside & (owner == k)
        if mine.sum() < 80:
            continue
        grown = cv2.dilate((owner == k).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        ring = grown & (owner != k) & (owner >= 0)
        gap = np.linalg.norm(image[mine].mean(axis=0) - image[ring].mean(axis=0))
        contrasted.append(gap > 15)
    assert len(contrasted) >= 5 and np.mean(contrasted) > 0.7


def test_ids_follow_the_schema() -> None:
    for frame in generate_drive(frames=3, width=512, height=256, seed=4):
        per_label: dict[int, list[int]] = defaultdict(list)
        tracks = [o.track_id for o in frame.objects if o.track_id is not None]
        assert len(tracks) == len(set(tracks))
        for obj in frame.objects:
            label = SCHEMA.by_id[obj.label_id]
            assert (obj.instance_id is not None) == label.has_instances
            assert (obj.track_id is None) == (label.name in STUFF)
            if obj.instance_id is not None:
                per_label[obj.label_id].append(obj.instance_id)
        for ids in per_label.values():
            assert len(ids) == len(set(ids))


def test_occluded_and_truncated_are_set_where_the_schema_has_them() -> None:
    flags: dict[str, set[bool]] = defaultdict(set)
    for index in (0, 20):
        for obj in render_frame(index, width=512, height=256, seed=2).objects:
            SCHEMA.validate_attributes(obj.label_id, obj.attributes)
            assert set(obj.attributes) == set(SCHEMA.by_id[obj.label_id].attributes)
            for name, value in obj.attributes.items():
                flags[name].add(value)
    assert flags == {"occluded": {False, True}, "truncated": {False, True}}


def test_objects_keep_their_tracks_and_move_smoothly() -> None:
    width, frames = 512, 12
    drive = list(generate_drive(frames=frames, width=width, height=256, seed=9))
    seen: dict[int, tuple[int, int | None]] = {}
    moved = []
    for before, after in itertools.pairwise(drive):
        old = {o.track_id: o for o in before.objects if o.track_id is not None}
        new = {o.track_id: o for o in after.objects if o.track_id is not None}
        assert len(old.keys() & new.keys()) > 0.8 * len(old)
        for track in old.keys() & new.keys():
            a, b = old[track], new[track]
            assert (a.label_id, a.instance_id) == (b.label_id, b.instance_id)
            shift = a.region.centroid.distance(b.region.centroid)
            assert shift < 0.1 * width
            moved.append(shift)
        for obj in after.objects:
            if obj.track_id is not None:
                assert seen.setdefault(obj.track_id, (obj.label_id, obj.instance_id)) == (
                    obj.label_id,
                    obj.instance_id,
                )
    assert np.mean(moved) > 0.3  # the camera drives and the traffic moves


def test_lane_dashes_move_with_the_camera() -> None:
    a, b = render_frame(0, frames=3, seed=1), render_frame(2, frames=3, seed=1)
    road = _ids("road").pop()
    both = (label_id_map(a.objects, SCHEMA, 512, 1024) == road) & (
        label_id_map(b.objects, SCHEMA, 512, 1024) == road
    )
    bright = lambda f: f.image.astype(np.int32).sum(-1) > 500  # noqa: E731
    assert ((bright(a) != bright(b)) & both).sum() > 200


def test_the_street_has_all_its_classes() -> None:
    used = set()
    for index in (0, 15, 30):
        used |= {o.label_id for o in render_frame(index).objects}
    names = ("road", "sidewalk", "building", "vegetation", "sky", "car", "person", "pole")
    assert _ids(*names, "traffic sign") <= used


def test_detail_gives_about_a_hundred_regions_at_full_size() -> None:
    frame = render_frame(10, width=2048, height=1024, detail=2.5)  # about a second
    assert frame.image.shape == (1024, 2048, 3)
    assert len(frame.objects) >= 90
    assert len(render_frame(4, **SMALL, detail=0.5).objects) < len(
        render_frame(4, **SMALL, detail=2.5).objects
    )


def test_write_drive_writes_cityscapes_named_pngs(tmp_path) -> None:
    written = write_drive(tmp_path / "out", frames=2, width=64, height=32, seed=12, city="x")
    assert [p.name for p, _ in written] == [
        "x_000012_000000_leftImg8bit.png",
        "x_000012_000001_leftImg8bit.png",
    ]
    for path, frame in written:
        assert np.array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), frame.image)


@pytest.mark.parametrize(
    "arguments",
    [{"index": 6}, {"index": -1}, {"width": 8}, {"seed": -1}, {"detail": 0}],
)
def test_bad_arguments_are_refused(arguments: dict) -> None:
    options = {"index": 0, **SMALL, **arguments}
    with pytest.raises(ValueError):
        render_frame(options.pop("index"), **options)
