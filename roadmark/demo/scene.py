"""The world and the painters of the synthetic demo drive (see :mod:`roadmark.demo.drive`).

A world description made from the seed, a pinhole camera, and one painter per kind of
object that turns a world object into a shapely region plus a texture for it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import cv2
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry import Polygon

from roadmark.core.annotation import Provenance, Region, as_region

FPS = 15.0
EGO_SPEED = 9.0  # m/s
CAM_HEIGHT = 1.4  # m above the road
FOCAL = 0.75  # focal length as a fraction of the image width
HORIZON = 0.43  # horizon row as a fraction of the image height
NEAR = 0.3  # m, near clipping distance
VIEW = 240.0  # m ahead of the camera lined with buildings
CLUTTER_VIEW = 150.0  # m ahead of the camera with cars, people, poles, signs, trees
HAZE_DISTANCE = 650.0  # m
ROAD = (-8.75, 7.25)  # X extent: two oncoming lanes, ego lane, right lane, parking strip
SIDEWALK = 4.0  # m wide
PROVENANCE = Provenance.new("import:synthetic", "synthetic", at=datetime(2024, 1, 1, tzinfo=UTC))

Color = tuple[float, float, float]
Patch = NDArray[np.float32]
Points = NDArray[np.float64]


def _palette(hex_colors: str) -> tuple[Color, ...]:
    return tuple((int(c[:2], 16), int(c[2:4], 16), int(c[4:], 16)) for c in hex_colors.split())


_WALLS = _palette("d2bc96 c8a078 dcd2be b48c6e e1c8aa c3aa82 beb4a0 d7b48c b4a5a0")
_CARS = _palette("e6e6e2 aaacb0 242428 1e3270 a81c1e 345caa 2a7a8a 28503c deb428")
_SHIRTS = _palette("c82832 283c8c e6e6e1 1e1e22 3c8246 e69628 783c82 5aa0c8")
_PANTS = _palette("283050 1e1e20 6e5a46 46464a")
_SKINS = _palette("e8bea0 be8c69 785038")
_GREENS = _palette("3e6828 50762c 30582e 607834")
_METAL = _palette("585c62 3c4044 787c80")
_GLASS = _palette("5a6e82 6e8296 46505f 8c96a0")
_SIGNS = [_palette(p) for p in ("c81e24 ecece6", "2450aa 2450aa", "c81e24 ecece6")]
_SIGNS += [_palette(p) for p in ("ecece6 eebe14", "ecece6 2450aa")]  # rim and face
_HAZE = np.array([196.0, 208.0, 222.0], dtype=np.float32)
_DARK = (22.0, 22.0, 24.0)
_LABELS = {"tree": "vegetation", "bush": "vegetation", "far": "building", "lamp": "pole"}
_LABELS |= {"sign": "traffic sign", "light": "traffic light"}


# -- the world ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Thing:
    """A physical object of the world, in meters (X right of the camera, Z along the road).

    ``width`` and ``height`` are its size facing the camera; ``length`` its extent along
    the road (cars: ahead of ``z``; buildings: ``z .. z + length``, ``width`` = depth).
    """

    kind: str
    track: int
    x: float
    z: float
    width: float
    height: float
    colors: tuple[Color, ...]
    length: float = 0.0
    speed: float = 0.0  # m/s along +Z
    elevation: float = 0.0  # height of the lower edge above the road
    style: int = 0
    instance: int | None = None


@dataclass(frozen=True)
class World:
    seed: int
    things: tuple[_Thing, ...]
    light_phase: float
    tint: tuple[float, ...]


def _positions(rng: np.random.Generator, z: float, stop: float, step: float) -> list[float]:
    """Positions from ``z`` to ``stop``, ``step`` to ``2.5 * step`` apart."""
    out = []
    while z < stop:
        out.append(z)
        z += rng.uniform(step, 2.5 * step)
    return out


@lru_cache(maxsize=8)
def make_world(seed: int, frames: int, detail: float) -> World:
    rng = np.random.default_rng([seed, 0x5EED])
    u = rng.uniform
    tracks, car_ids, person_ids = itertools.count(1), itertools.count(1), itertools.count(1)
    things: list[_Thing] = []

    def pick(palette: tuple[Color, ...], spread: float = 0.08) -> Color:
        scale = u(1 - spread, 1 + spread)
        r, g, b = (min(255.0, c * scale) for c in palette[int(rng.integers(len(palette)))])
        return (r, g, b)

    def add(
        kind: str, x: float, z: float, size: tuple[float, float], *colors: Color, **more: float
    ) -> None:
        more.setdefault("style", int(rng.integers(1 << 30)))
        things.append(_Thing(kind, next(tracks), x, z, *size, colors, **more))  # type: ignore[arg-type]

    z_end = EGO_SPEED * (frames - 1) / FPS
    far, near = z_end + VIEW, z_end + CLUTTER_VIEW
    for side in (1, -1):
        curb = ROAD[1] if side > 0 else ROAD[0]
        facade = abs(curb) + SIDEWALK + 0.25
        z = -30.0
        while z < far:
            if rng.random() < 0.22:  # a gap, with greenery behind the facade line
                gap = u(5, 14)
                for _ in range(int(rng.integers(1, 4))):
                    x, at = side * (facade + u(1, 6)), z + u(0, gap)
                    tree = rng.random() < 0.5
                    size = (u(3, 6), u(6, 10)) if tree else (u(1.5, 4), u(1, 2.2))
                    add("tree" if tree else "bush", x, at, size, pick(_GREENS))
                z += gap
            length = u(10, 30) / detail**0.25
            x = side * (facade + u(0, 2.5))
            add("building", x, z, (u(10, 16), u(9, 24)), pick(_WALLS), length=length)
            z += length
        for z in _positions(rng, u(-10, 10), near, 34 / detail):
            add("lamp", curb + side * 0.45, z, (u(0.14, 0.2), u(7, 8.5)), pick(_METAL))
            if rng.random() < 0.8:
                crown, x = u(3, 5.5), curb + side * (SIDEWALK - 1.3)
                add("tree", x, z + u(4, 10), (crown, crown + u(2.2, 3.5)), pick(_GREENS))
        for z in _positions(rng, u(0, 30), near, (45 if side > 0 else 90) / detail):
            post, plate, x = u(2.2, 2.8), u(0.6, 0.85), curb + side * u(0.5, 0.9)
            add("pole", x, z, (0.08, post), pick(_METAL))
            shape = int(rng.integers(5))
            add("sign", x, z - 0.05, (plate, plate), pick(_METAL), elevation=post, style=shape)
        for z in _positions(rng, u(20, 80), near, 90 / detail):
            add("pole", curb + side * 0.6, z, (0.16, 3.6), pick(_METAL))
            add("light", curb + side * 0.6, z - 0.1, (0.38, 1.0), _DARK, elevation=3.5)
        for z in _positions(rng, u(-10, 5), near, 13 / detail):
            walk = 0.0 if rng.random() < 0.2 else float(rng.choice([-1, 1])) * u(0.9, 1.6)
            x, size = curb + side * u(0.9, SIDEWALK - 0.4), (0.5, u(1.55, 1.92))
            colors = (pick(_SHIRTS), pick(_PANTS), pick(_SKINS, 0.04))
            add("person", x, z, size, *colors, speed=walk, instance=next(person_ids))
    for _ in range(int(10 * math.sqrt(detail))):  # the skyline, leaving the street open
        x, z = float(rng.choice([-1, 1])) * u(22, 320), far + u(40, 200)
        if rng.random() < 0.7:
            add("far", x, z, (u(14, 45), u(14, 60)), pick(_WALLS))
        else:
            add("bush", x, z, (u(14, 45), u(8, 16)), pick(_GREENS))
    duration = (frames - 1) / FPS
    lanes = [(-7.0, -u(7, 10)), (-3.5, -u(8, 11)), (0.0, EGO_SPEED + u(0.3, 1.5))]
    for x, speed in [*lanes, (3.5, u(6, 11)), (6.25, 0.0)]:
        drift = (EGO_SPEED - speed) * duration  # how far the camera gains on the lane
        z = 14.0 if x == 0 else min(0.0, drift) - 6 + u(0, 8)
        while z < max(0.0, drift) + CLUTTER_VIEW:
            length, size = u(3.9, 4.8), (u(1.7, 1.92), u(0.85, 1.05))
            if speed or rng.random() < min(0.9, 0.3 * detail):  # parked cars leave gaps
                where = (x + u(-0.25, 0.25), z, size, pick(_CARS, 0.05))
                add("car", *where, length=length, speed=speed, instance=next(car_ids))
            z += length + (u(10, 50) / detail if speed else u(0.8, 3.0))
    return World(seed, tuple(things), u(0, 2 * math.pi), tuple(u(0.96, 1.04, 3).tolist()))


# -- projection and drawing -----------------------------------------------------------------


@dataclass(frozen=True)
class Camera:
    width: int
    height: int
    f: float
    cx: float
    cy: float  # horizon row
    z: float  # world Z of the camera

    def project(self, pts: Points) -> Points:
        """World points ``(..., 3)`` (X right, Y up, Z ahead) to image points ``(..., 2)``."""
        s = self.f / (pts[..., 2] - self.z)
        out = np.empty((*pts.shape[:-1], 2))
        out[..., 0], out[..., 1] = (
            self.cx + pts[..., 0] * s,
            self.cy + (CAM_HEIGHT - pts[..., 1]) * s,
        )
        return out

    def board(self, x: float, z: float, uv: Points) -> Points:
        """Points ``(u, v)`` in meters on the upright plane at ``(x, z)`` to image points."""
        s = self.f / (z - self.z)
        return uv * (s, -s) + (self.cx + x * s, self.cy + CAM_HEIGHT * s)


@dataclass
class Pen:
    """Draws on the patch under one object's bounding box (``origin`` = its top-left pixel)."""

    patch: Patch
    origin: tuple[int, int]
    cam: Camera

    def image(self, color: Sequence[float], polys: Sequence[Points] | Points) -> None:
        if isinstance(polys, np.ndarray):  # (N, K, 2): all at once
            pts = list(np.round((polys - self.origin) * 16).astype(np.int32))
        else:
            pts = [np.round((p - self.origin) * 16).astype(np.int32) for p in polys]
        if pts:
            cv2.fillPoly(self.patch, pts, tuple(float(c) for c in color), cv2.LINE_8, 4)

    def world(self, color: Sequence[float], quads: Points) -> None:
        """Fill world quads ``(4, 3)`` or ``(N, 4, 3)``."""
        self.image(color, self.cam.project(quads.reshape(-1, 4, 3)))

    def board(self, color: Sequence[float], x: float, z: float, polys: Sequence[Points]) -> None:
        self.image(color, [self.cam.board(x, z, p) for p in polys])

    def haze(self, depth: float | NDArray[np.floating[Any]]) -> None:
        amount = 1.0 - np.exp(-np.asarray(depth, dtype=np.float32) / HAZE_DISTANCE)
        self.patch *= 1.0 - amount
        self.patch += amount * _HAZE


def _quads(*corners: tuple[ArrayLike, ArrayLike, ArrayLike]) -> Points:
    """World quads from four ``(x, y, z)`` corners whose entries broadcast: ``(..., 4, 3)``."""
    flat = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for c in corners for v in c))
    return np.stack(flat, -1).reshape(*flat[0].shape, 4, 3)


def _xrect(x: ArrayLike, y0: ArrayLike, y1: ArrayLike, z0: ArrayLike, z1: ArrayLike) -> Points:
    """Rectangles on the planes ``X = x``."""
    return _quads((x, y0, z0), (x, y0, z1), (x, y1, z1), (x, y1, z0))


def _zrect(z: ArrayLike, x0: ArrayLike, x1: ArrayLike, y0: ArrayLike, y1: ArrayLike) -> Points:
    """Rectangles on the planes ``Z = z``."""
    return _quads((x0, y0, z), (x1, y0, z), (x1, y1, z), (x0, y1, z))


def _ground(cam: Camera, x0: ArrayLike, x1: ArrayLike, z0: ArrayLike, z1: ArrayLike) -> Points:
    """Rectangles on the road, cut at the near plane: ``(N, 4, 3)``."""
    left, right, near, far = np.broadcast_arrays(*map(np.atleast_1d, (x0, x1, z0, z1)))
    near = np.maximum(near, cam.z + NEAR)
    keep = far > near
    corners = ((left, near), (right, near), (right, far), (left, far))
    return _quads(*[(x[keep], 0.0, z[keep]) for x, z in corners])


def _box_faces(
    x0: float, x1: float, y0: float, y1: float, z0: float, z1: float
) -> dict[str, Points]:
    """The faces of an axis-aligned box seen by a camera at ``X = 0, Y = CAM_HEIGHT``."""
    faces = {"near": _zrect(z0, x0, x1, y0, y1)}
    if CAM_HEIGHT > y1:
        faces["top"] = _quads((x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1))
    if x0 > 0 or x1 < 0:
        faces["side"] = _xrect(x0 if x0 > 0 else x1, y0, y1, z0, z1)
    return faces


def _hull(points: Points) -> Polygon:
    return shapely.convex_hull(shapely.multipoints(points.reshape(-1, 2)))


def _poly(*coords: float) -> Points:
    return np.array(coords, dtype=np.float64).reshape(-1, 2)


def _rect(u0: float, v0: float, u1: float, v1: float) -> Points:
    return _poly(u0, v0, u1, v0, u1, v1, u0, v1)


def _circle(cx: float, cy: float, r: float, n: int = 12) -> Points:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(a), cy + r * np.sin(a)], axis=-1)


def _blob(rng: np.random.Generator, rx: float, ry: float, cy: float, n: int = 18) -> Points:
    """A star-shaped bumpy ellipse (tree crowns, bushes)."""
    bumps = np.convolve(np.tile(rng.normal(size=n), 3), np.ones(3) / 3, "same")[n : 2 * n]
    a, r = np.linspace(0, 2 * np.pi, n, endpoint=False), 1 + 0.16 * bumps
    return np.stack([rx * r * np.cos(a), cy + ry * r * np.sin(a)], axis=-1)


def _shade(color: Sequence[float], factor: float) -> tuple[float, ...]:
    return tuple(min(255.0, c * factor) for c in color)


@lru_cache(maxsize=4)
def _ground_pattern(seed: int) -> NDArray[np.float32]:
    """Periodic top-down noise of the ground, 5 cm a pixel: 20 m along Z by 80 m along X."""
    spectrum = np.fft.rfft2(np.random.default_rng([seed, 4]).standard_normal((400, 1600)))
    freq2 = np.fft.fftfreq(400)[:, None] ** 2 + np.fft.rfftfreq(1600)[None, :] ** 2
    blur = [np.exp(-freq2 * (2 * np.pi * sigma) ** 2 / 2) for sigma in (1.5, 16.0)]
    octaves = [np.fft.irfft2(spectrum * b, (400, 1600)) for b in blur]
    pattern: NDArray[np.float32] = (
        0.09 * octaves[0] / octaves[0].std() + 0.16 * octaves[1] / octaves[1].std()
    ).astype(np.float32)
    return pattern


def _ground_texture(cam: Camera, seed: int) -> NDArray[np.float32]:
    """The ground pattern seen from the camera, for the rows below the horizon."""
    res, top = 0.05, math.ceil(cam.cy)
    cx, cy, k = cam.cx - 0.5, cam.cy - 0.5 - top, CAM_HEIGHT / res  # pixel centers at +0.5
    to_ground = [
        [k, 40 / res, -k * cx - 40 / res * cy],
        [0, cam.z / res, cam.f * k - cam.z / res * cy],
    ]
    to_ground.append([0, 1, -cy])  # image (x, y) -> pattern (column, row), homogeneous
    out = np.zeros((cam.height, cam.width), dtype=np.float32)
    flags, wrap = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, cv2.BORDER_WRAP
    out[top:] = cv2.warpPerspective(
        _ground_pattern(seed),
        np.array(to_ground),
        (cam.width, cam.height - top),
        flags=flags,
        borderMode=wrap,
    )
    return out


# -- scene items ----------------------------------------------------------------------------


@dataclass
class Item:
    label: str
    region: Region
    depth: float
    band: int  # 0 sky and ground, 1 roadside blocks, 2 sidewalks and road
    paint: Callable[[Pen], None]
    thing: _Thing | None = None
    pixels: int = 0  # rasterized, before later objects cover some
    truncated: bool = False  # cut by the image border


def ground_items(cam: Camera, seed: int) -> list[Item]:
    tex = _ground_texture(cam, seed)
    end = cam.z + 4000.0
    clouds = np.random.default_rng([seed, 3]).random((5, 10)).astype(np.float32)

    def sky(pen: Pen) -> None:
        h, w = pen.patch.shape[:2]
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        cloud = cv2.resize(clouds, (w, h), interpolation=cv2.INTER_CUBIC)
        cloud = np.clip((cloud - 0.55) * 2.5, 0, 0.85)[..., None] * (1 - t)
        pen.patch[:] = (np.array([92, 142, 204], np.float32) * (1 - t) + _HAZE * t) * (1 - cloud)
        pen.patch += 240 * cloud

    def markings(pen: Pen) -> None:
        dashes = np.arange(math.floor((cam.z - 10) / 9.0) * 9.0, cam.z + 300, 9.0)
        x0 = np.array([-5.32, 1.68])[:, None]
        pen.world((222, 222, 214), _ground(cam, x0, x0 + 0.14, dashes, dashes + 3.0))
        x0 = np.array([ROAD[0] + 0.25, -1.9, -1.62, 5.2])
        pen.world((222, 222, 214), _ground(cam, x0, x0 + 0.13, cam.z, end))
        x0 = np.arange(ROAD[0] + 0.5, 5.2, 1.0)[:, None]  # a zebra crossing every 80 m
        z0 = np.arange(math.floor((cam.z - 64) / 80.0) * 80.0 + 60.0, cam.z + 300, 80.0)
        pen.world((214, 214, 206), _ground(cam, x0, x0 + 0.5, z0, z0 + 4.0))

    def paving(curb: float, outer: float) -> Callable[[Pen], None]:
        def extra(pen: Pen) -> None:
            z = np.arange(math.floor(cam.z), cam.z + 200, 1.5)
            pen.world(
                (128, 124, 118), _ground(cam, min(curb, outer), max(curb, outer), z, z + 0.05)
            )
            x = min(curb, curb + math.copysign(0.3, outer))
            pen.world((198, 196, 190), _ground(cam, x, x + 0.3, cam.z, end))

        return extra

    def textured(
        base: Color, amp: float, extra: Callable[[Pen], None] | None
    ) -> Callable[[Pen], None]:
        def paint(pen: Pen) -> None:
            (c0, r0), (h, w) = pen.origin, pen.patch.shape[:2]
            pen.patch[:] = 1 + amp * tex[r0 : r0 + h, c0 : c0 + w, None]
            pen.patch *= np.array(base, np.float32)
            if extra is not None:
                extra(pen)
            rows = np.arange(r0, r0 + h, dtype=np.float32) + 0.5
            pen.haze((cam.f * CAM_HEIGHT / np.maximum(rows - cam.cy, 0.3))[:, None, None])

        return paint

    items = [Item("sky", shapely.box(0, 0, cam.width, cam.cy + 1), math.inf, 0, sky)]
    grass = textured((112, 136, 62), 0.7, None)
    items.append(Item("terrain", shapely.box(0, cam.cy, cam.width, cam.height), 1e6, 0, grass))
    right, left = (ROAD[1], ROAD[1] + SIDEWALK), (ROAD[0] - SIDEWALK, ROAD[0])
    walk = (172.0, 164.0, 152.0)
    for label, (x0, x1), paint in (
        ("road", ROAD, textured((92, 92, 96), 0.4, markings)),
        ("sidewalk", right, textured(walk, 0.25, paving(*right))),
        ("sidewalk", left, textured(walk, 0.25, paving(*left[::-1]))),
    ):
        region = as_region(Polygon(cam.project(_ground(cam, x0, x1, cam.z, end)[0])))
        items.append(Item(label, region, 1e5, 0, paint))
    return items


def _building(b: _Thing, cam: Camera, t: float) -> Item | None:
    z0, z1 = max(b.z, cam.z + NEAR), b.z + b.length
    if z1 <= z0:
        return None
    floor, bay = 2.9 + (b.style % 7) * 0.1, 2.2 + (b.style // 7 % 13) * 0.1
    xf, xb, h = b.x, b.x + math.copysign(b.width, b.x), b.height
    corners = np.array([(x, y, z) for x in (xf, xb) for y in (0, h) for z in (z0, z1)])
    wall, lit = b.colors[0], 1.0 if b.x > 0 else 0.86

    def paint(pen: Pen) -> None:
        pen.world(_shade(wall, lit), _xrect(xf, 0, h, z0, z1))
        if b.z >= cam.z + NEAR:  # the end facing the camera
            pen.world(_shade(wall, lit * 0.72), _zrect(b.z, xf, xb, 0, h))
        ledges = np.arange(floor, h - 0.5, floor)
        pen.world(_shade(wall, lit * 0.8), _xrect(xf, ledges, ledges + 0.25, z0, z1))
        pen.world(_shade(wall, lit * 0.8), _xrect(xf, h - 0.45, h, z0, z1))
        centers = np.arange(b.z + bay * 0.6, z1 - bay * 0.4, bay)
        cu, fl = (a.ravel() for a in np.meshgrid(centers, np.arange(int((h - 0.6) / floor))))
        shop = (fl == 0) & (b.style % 2 == 0)
        half = np.where(shop, 0.4, 0.2) * bay
        v0 = (fl + np.where(shop, 0.25, 0.32)) * floor
        v1 = v0 + np.where(shop, 0.6, 0.42) * floor
        keep = cu - half > cam.z + NEAR
        cu, half, v0, v1 = cu[keep], half[keep], v0[keep], v1[keep]
        group = (np.arange(len(cu)) * 7 + b.track) % 11 % 4
        for g, glass in enumerate(_GLASS):
            k = group == g
            pen.world(glass, _xrect(xf, v0[k], v1[k], cu[k] - half[k], cu[k] + half[k]))
        k, top = group < 2, v1 - 0.4 * (v1 - v0)  # the sky reflected in some panes
        pen.world((118, 136, 160), _xrect(xf, top[k], v1[k], cu[k] - half[k], cu[k] + half[k]))
        pen.patch *= np.linspace(1.05, 0.82, pen.patch.shape[0], dtype=np.float32)[:, None, None]
        pen.haze(z0 - cam.z)

    return Item("building", _hull(cam.project(corners)), z0 - cam.z, 1, paint, b)


def _car(car: _Thing, cam: Camera, t: float) -> Item | None:
    z_near = car.z + car.speed * t
    z0, z_far = max(z_near, cam.z + NEAR), z_near + car.length
    if z_far <= z0:
        return None
    facing, hb = (-1 if car.speed < 0 else 1), car.height
    x0, x1 = car.x - car.width / 2, car.x + car.width / 2
    cz0 = max(z0, z_near + (0.9 if facing > 0 else 1.35))
    cz1 = z_far - (1.35 if facing > 0 else 0.9)
    body = _box_faces(x0, x1, 0.0, hb, z0, z_far)
    cabin = _box_faces(x0 + 0.1, x1 - 0.1, hb, hb + 0.48, cz0, cz1) if cz1 > cz0 else {}
    hulls = [_hull(cam.project(np.concatenate(list(f.values())))) for f in (body, cabin) if f]
    region = shapely.union_all(hulls)
    xs, color = (x0 if x0 > 0 else x1), car.colors[0]

    def paint(pen: Pen) -> None:
        shades = {"near": 0.78, "top": 1.1, "side": 0.92}
        for name, quad in body.items():
            pen.world(_shade(color, shades[name]), quad)
        pen.world(_DARK, _zrect(z0, x0, x1, 0, 0.2))
        if "side" in body:
            pen.world(_DARK, _xrect(xs, 0, 0.2, z0, z_far))
        if z_near >= cam.z + NEAR:  # lamps and number plate
            lamps = _zrect(z0, [x0 + 0.07, x1 - 0.37], [x0 + 0.37, x1 - 0.07], hb - 0.3, hb - 0.16)
            pen.world((190, 24, 24) if facing > 0 else (236, 232, 200), lamps)
            pen.world((214, 214, 206), _zrect(z0, car.x - 0.26, car.x + 0.26, 0.3, 0.42))
        wheels = [w for w in (z_near + 0.8, z_far - 0.8) if w - 0.35 > cam.z + NEAR]
        for r, shade in ((0.33, _DARK), (0.15, (130.0, 130.0, 134.0))):
            for zc in wheels if "side" in body else []:
                rim = _circle(zc, 0.33, r)  # (z, y) around the axle
                rim3d = np.stack([np.full(len(rim), xs), rim[:, 1], rim[:, 0]], -1)
                pen.image(shade, [cam.project(rim3d)])
        for name, quad in cabin.items():
            pen.world(_shade(color, shades[name] * 0.95), quad)
            center = quad.mean(axis=0)
            glass = center + (quad - center) * np.array([0.86, 0.8, 0.9])
            if name == "side":  # two windows either side of the middle pillar
                front, back = glass.copy(), glass.copy()
                front[[0, 3], 2], back[[1, 2], 2] = center[2] + 0.08, center[2] - 0.08
                pen.world((40, 48, 60), np.stack([front, back]))
            elif name == "near":
                pen.world((40, 48, 60), glass)
        pen.haze(z0 - cam.z)

    return Item("car", region, z0 - cam.z, 2, paint, car)


def _person(p: _Thing, cam: Camera, t: float) -> Item | None:
    z = p.z + p.speed * t
    if z - cam.z < 2.0:
        return None
    s = 0.02 * math.sin((abs(p.speed) * t + p.style % 97 / 10) / 0.7 * math.pi) if p.speed else 0
    turn = -0.01 if p.x > 0 else 0.01  # heads turned a little towards the road
    legs = [_poly(-0.095, 0.52, -0.01, 0.52, -0.02 + s, -s, -0.085 + s, -s)]
    legs.append(_poly(0.01, 0.52, 0.095, 0.52, 0.085 - s, s, 0.02 - s, s))
    shoes = [leg[[3, 2, 2, 3]] + _poly(0, 0, 0, 0, 0, 0.05, 0, 0.05) for leg in legs]
    torso = [_poly(-0.105, 0.5, 0.105, 0.5, 0.13, 0.82, -0.13, 0.82)]
    for k in (-1, 1):  # arms
        torso.append(
            _poly(k * 0.105, 0.81, k * 0.15, 0.81, k * 0.16 + s, 0.47, k * 0.115 + s, 0.47)
        )
    skin = [_rect(-0.03, 0.8, 0.03, 0.87), _circle(turn, 0.925, 0.066)]
    hair = [_circle(turn, 0.945, 0.058)]
    parts = [[q * p.height for q in group] for group in (legs, shoes, torso, skin, hair)]
    outline = [q * p.height for q in (*legs, *torso, *skin)]
    region = shapely.union_all([Polygon(cam.board(p.x, z, q)) for q in outline])
    colors = (p.colors[1], (30, 26, 24), p.colors[0], p.colors[2], (48, 36, 28))

    def paint(pen: Pen) -> None:
        for color, group in zip(colors, parts, strict=True):
            pen.board(color, p.x, z, group)
        pen.haze(z - cam.z)

    return Item("person", region, z - cam.z, 2, paint, p)


def _sign_shape(style: int, size: float, base: float) -> Points:
    r = size / 2
    if style < 2:  # round
        return _circle(0, base + r, r, 20)
    if style == 2:  # warning triangle
        return _poly(-r, base + 0.15 * r, r, base + 0.15 * r, 0, base + 1.9 * r)
    if style == 3:  # priority diamond
        return _poly(0, base, r, base + r, 0, base + 2 * r, -r, base + r)
    return _rect(-r * 1.2, base, r * 1.2, base + 1.6 * r)  # information board


def prop(prop: _Thing, cam: Camera, t: float) -> Item | None:
    depth, x, z = prop.z - cam.z, prop.x, prop.z
    if depth < 2.0:
        return None
    w, h, e, color = prop.width, prop.height, prop.elevation, prop.colors[0]
    rng = np.random.default_rng([prop.style, prop.track])
    if prop.kind == "tree":
        parts = [_rect(-0.16, 0, 0.16, h - w / 2), _blob(rng, w / 2, w * 0.45, h - w * 0.45)]
    elif prop.kind == "bush":
        parts = [_blob(rng, w / 2, h / 2, h / 2)]
    elif prop.kind == "sign":
        parts = [_sign_shape(prop.style, w, e)]
    elif prop.kind == "lamp":  # with an arm over the road and a lamp head
        arm = -math.copysign(1.7, x)
        parts = [_rect(-w / 2, 0, w / 2, h), _rect(min(0, arm), h - 0.12, max(0, arm), h)]
        parts.append(_rect(arm - 0.32, h - 0.24, arm + 0.32, h - 0.04))
    else:
        parts = [_rect(-w / 2, e, w / 2, e + h)]
    region = shapely.union_all([as_region(Polygon(cam.board(x, z, q))) for q in parts])

    def paint(pen: Pen) -> None:
        if prop.kind in ("tree", "bush"):
            pen.board((92, 70, 50), x, z, parts[:-1])  # trunk
            rows, cols = pen.patch.shape[:2]
            crown = np.zeros((rows, cols), np.float32)
            Pen(crown, pen.origin, cam).board((1.0,), x, z, parts[-1:])
            leaves = rng.random((10, 10)).astype(np.float32)
            leaves = cast(Patch, cv2.resize(leaves, (cols, rows), interpolation=cv2.INTER_CUBIC))
            light = np.linspace(1.15, 0.75, rows, dtype=np.float32)[:, None]
            foliage = np.array(color, np.float32) * ((0.6 + 0.7 * leaves) * light)[..., None]
            np.copyto(pen.patch, foliage, where=crown[..., None] > 0)
        elif prop.kind == "far":
            pen.patch[:] = color
            floors = [_rect(-w / 2 + 1, v, w / 2 - 1, v + 1.1) for v in np.arange(3, h - 1, 3.2)]
            pen.board(_shade(color, 0.7), x, z, floors)
        elif prop.kind in ("lamp", "pole"):
            pen.board(color, x, z, parts)
            pen.board(_shade(color, 1.4), x, z, [_rect(-w * 0.15, 0, w * 0.2, h - 0.05)])
            pen.board((205, 205, 190), x, z, parts[2:])
        elif prop.kind == "sign" and x < 0:  # the back of a sign for the other direction
            pen.board((150, 152, 156), x, z, parts)
        elif prop.kind == "sign":
            rim, face = _SIGNS[prop.style]
            center = parts[0].mean(axis=0)
            bar = _rect(-0.2 * w, -0.05 * w, 0.2 * w, 0.05 * w) + center
            pen.board(rim, x, z, parts)
            pen.board(face, x, z, [center + (parts[0] - center) * 0.72])
            pen.board((236, 236, 230) if prop.style == 1 else (30, 30, 30), x, z, [bar])
        else:  # traffic light: three lamps, one lit
            pen.patch[:] = color
            for k, lamp in enumerate(_palette("e6281e f0b414 28d25a")):
                disc = _circle(0, e + h * (0.8 - 0.3 * k), w * 0.32)
                pen.board(_shade(lamp, 1.0 if k == prop.style % 3 else 0.25), x, z, [disc])
        pen.haze(depth)

    band = 1 if prop.kind == "far" or abs(x) > 12.0 else 2
    return Item(_LABELS.get(prop.kind, prop.kind), region, depth, band, paint, prop)


MAKERS = {"building": _building, "car": _car, "person": _person}
