"""Make the statistics report shown in the README: the demo drive worked by a simulated team.

Three annotators label the synthetic drive (their "drawing" is the exact ground truth with
the kinds of mistakes people make: loose boundaries, a missed object, a wrong label), two
reviewers accept or reject with comments, three frames are gold and every annotator
labels each of them once. Active time is simulated per frame and tool. Everything is
seeded, so the report is the same each run (apart from the date).

    .venv/bin/python docs/make_stats_report.py OUT_FOLDER [--png docs/stats_report.png]

writes OUT_FOLDER/demo.roadmark and OUT_FOLDER/stats_report.html; with ``--png`` a
headless Chromium (Debian package ``chromium``) renders the page, 1280 pixels wide, and
the picture is cropped to the content (the README shows docs/stats_report.png).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from roadmark.analysis.report import write_html
from roadmark.core.annotation import AnnotationObject, Provenance, as_region
from roadmark.core.errors import GeometryError
from roadmark.core.timetracking import ActiveSpan
from roadmark.core.workflow import Action, CommentCategory
from roadmark.demo.drive import render_frame
from roadmark.io import gold
from roadmark.io import workflow as wf
from roadmark.io.demo_project import build_demo_project
from roadmark.io.stats import project_stats
from roadmark.io.store import Project

FRAMES = 40
GOLD = (0, 1, 2)
# minutes per frame, boundary precision (px), chance of a mistake that gets a frame sent back
ANNOTATORS = {"ana": (6.0, 0.6, 0.25), "ben": (9.0, 0.3, 0.12), "chen": (4.5, 1.2, 0.45)}
REVIEWERS = ("rita", "sam")
TOOLS = ("polygon", "brush", "select", "box")
T0 = datetime(2024, 5, 6, 8, tzinfo=UTC)
CAR, TRUCK = 26, 27


def _as(path: Path, user: str) -> Project:
    return Project.open(path, user=user)


def _drawn(
    truth: list[AnnotationObject], user: str, rng: np.random.Generator
) -> tuple[list[AnnotationObject], list[tuple[CommentCategory, AnnotationObject]]]:
    """What ``user`` draws: the truth traced with their precision, sometimes with a mistake
    a reviewer would send back (returned as well)."""
    _, sloppiness, mistake_rate = ANNOTATORS[user]
    prov = Provenance.new("human", user)
    out = []
    for obj in truth:
        geometry = obj.geometry
        if obj.bounds.area > 400:
            try:
                geometry = as_region(
                    obj.region.buffer(rng.normal(0, sloppiness), join_style="mitre")
                )
            except GeometryError:
                pass
        out.append(dataclasses.replace(obj, geometry=geometry, provenance=prov))
    if rng.random() >= mistake_rate:
        return out, []
    category = CommentCategory(rng.choice(["missing_object", "wrong_label", "loose_boundary"]))
    cars = [i for i, obj in enumerate(out) if obj.label_id == CAR]
    index = int(rng.choice(cars)) if cars else int(rng.integers(len(out)))
    victim = truth[index]
    if category is CommentCategory.MISSING_OBJECT:
        del out[index]
    elif category is CommentCategory.WRONG_LABEL:
        out[index] = dataclasses.replace(out[index], label_id=TRUCK)
    else:
        out[index] = dataclasses.replace(
            out[index], geometry=as_region(victim.region.buffer(6.0, join_style="mitre"))
        )
    return out, [(category, victim)]


def _spans(frame_id: int, minutes: float, rng: np.random.Generator) -> list[ActiveSpan]:
    shares = rng.dirichlet(np.ones(len(TOOLS)) * 1.5)
    return [
        ActiveSpan(frame_id, tool, T0, float(minutes * 60 * share))
        for tool, share in zip(TOOLS, shares, strict=True)
    ]


def main(folder: Path) -> Path:
    rng = np.random.default_rng(7)
    path = folder / "demo.roadmark"
    build_demo_project(path, frames=FRAMES, labeled=0).close()
    truth = {i: render_frame(i, frames=FRAMES).objects for i in range(FRAMES)}
    with _as(path, "lead") as lead:
        ids = [frame.id for frame in lead.frames()]
        for index in GOLD:
            lead.add_objects(ids[index], truth[index])
        gold.mark_gold(lead, [ids[i] for i in GOLD])
        work = list(range(len(GOLD), 34))
        for n, index in enumerate(work):
            user = list(ANNOTATORS)[n % len(ANNOTATORS)]
            wf.assign(lead, [ids[index]], annotator=user, reviewer=REVIEWERS[n % 2])
        for index in range(30, 34):  # pre-labeled by the model, still being worked on
            model = [
                dataclasses.replace(o, provenance=Provenance.new("model:lraspp", "lead"))
                for o in truth[index]
            ]
            lead.add_objects(ids[index], model)
            wf.move(lead, ids[index], Action.PRELABEL)
    time_rows: list[tuple[str, list[ActiveSpan]]] = []
    for index in GOLD:  # every annotator labels every gold frame once
        for user, (mean, _, _) in ANNOTATORS.items():
            with _as(path, "lead") as lead:
                wf.move(lead, ids[index], Action.RESET)
                wf.assign(lead, [ids[index]], annotator=user)
            with _as(path, user) as me:
                wf.move(me, ids[index], Action.START)
                me.add_objects(ids[index], _drawn(truth[index], user, rng)[0])
                wf.move(me, ids[index], Action.FINISH)
            time_rows.append((user, _spans(ids[index], rng.lognormal(np.log(mean), 0.35), rng)))
    rejections = 0
    for n, index in enumerate(work):
        user = list(ANNOTATORS)[n % len(ANNOTATORS)]
        mean = ANNOTATORS[user][0]
        reviewer = REVIEWERS[n % 2]
        frame_id = ids[index]
        with _as(path, user) as me:
            wf.move(me, frame_id, Action.START)
            if index >= 30:
                objs = me.objects(frame_id).live()
                touched = [
                    dataclasses.replace(o, provenance=o.provenance.touched(user))
                    for o in objs[: len(objs) // 3]
                ]
                me.update_objects(touched)
                mistakes = []
            else:
                drawn, mistakes = _drawn(truth[index], user, rng)
                me.add_objects(frame_id, drawn)
            time_rows.append((user, _spans(frame_id, rng.lognormal(np.log(mean), 0.4), rng)))
            if index >= 27 + (index % 2):
                continue  # still in progress
            wf.move(me, frame_id, Action.FINISH)
        if index >= 24:
            continue  # done, waiting for review
        with _as(path, reviewer) as rev:
            wf.move(rev, frame_id, Action.START_REVIEW)
            time_rows.append(
                (reviewer, [ActiveSpan(frame_id, "review", T0, 60 * rng.uniform(0.6, 2.2))])
            )
            if not mistakes:
                wf.move(rev, frame_id, Action.ACCEPT)
                continue
            category, obj = mistakes[0]
            b = obj.bounds
            wf.add_comment(rev, frame_id, category, b.clipped(1024, 512), f"{category.text}")
            wf.move(rev, frame_id, Action.REJECT, reason=category.text)
        rejections += 1
        if rejections % 2:
            continue  # every other frame sent back is not fixed yet
        with _as(path, user) as me:
            wf.move(me, frame_id, Action.START)
            for comment in wf.comments(me, frame_id, open_only=True):
                wf.resolve_comment(me, comment.id)
            wf.move(me, frame_id, Action.FINISH)
            time_rows.append((user, _spans(frame_id, rng.lognormal(np.log(mean / 3), 0.3), rng)))
        with _as(path, reviewer) as rev:
            wf.move(rev, frame_id, Action.START_REVIEW)
            wf.move(rev, frame_id, Action.ACCEPT)
            time_rows.append(
                (reviewer, [ActiveSpan(frame_id, "review", T0, 60 * rng.uniform(0.4, 1.2))])
            )
    with _as(path, "lead") as lead:
        for user, spans in time_rows:
            wf.log_time(lead, spans, user=user)
        stats = project_stats(lead)
    return write_html(stats, folder / "stats_report.html")


def render_png(html: Path, png: Path, *, width: int = 1280) -> Path:
    """Render ``html`` with headless Chromium and save the page, cropped to its content."""
    from PIL import Image

    browser = next((found for name in BROWSERS if (found := shutil.which(name)) is not None), None)
    if browser is None:
        raise SystemExit(f"no headless browser found (tried {', '.join(BROWSERS)})")
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "page.png"
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={width},3000",
                f"--screenshot={shot}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        image = Image.open(shot).convert("RGB")
    gray = np.asarray(image.convert("L")).astype(int)
    background = gray[-1, -1]
    used = np.flatnonzero((np.abs(gray - background) > 8).any(axis=1))
    height = int(used.max()) + 28 if used.size else image.height
    cropped = image.crop((0, 0, image.width, min(height, image.height)))
    # The charts use few colors: a palette keeps the picture small.
    cropped.quantize(colors=128, dither=Image.Dither.NONE).save(png, optimize=True)
    return png


BROWSERS = ("chromium", "chromium-browser", "google-chrome")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--png", type=Path, help="also render the page to this picture")
    args = parser.parse_args()
    page = main(args.folder)
    print(page)
    if args.png:
        print(render_png(page, args.png))
