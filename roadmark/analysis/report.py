"""The statistics report as one self-contained HTML file: inline CSS and SVG charts.

Nothing is loaded from elsewhere (no scripts, fonts, images or style sheets), so the file
reads the same in any browser without network access and can be mailed as it is. Every
text that comes from the project (user names, labels, reasons) is HTML-escaped.
"""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roadmark.core.errors import RoadmarkError

STATUS_COLORS = {
    "new": "#b8bcc4",
    "prelabeled": "#a99bd6",
    "in_progress": "#4a90d9",
    "done": "#3fb0ac",
    "in_review": "#f0a030",
    "accepted": "#3e9b4f",
    "rejected": "#d9534f",
}
SOURCE_COLORS = {"human": "#4a90d9", "model": "#a99bd6", "import": "#b8bcc4", "edited": "#f0a030"}
METRIC_COLORS = {"pixel_accuracy": "#4a90d9", "mean_iou": "#3e9b4f", "box_f1": "#f0a030"}
METRIC_NAMES = {"pixel_accuracy": "pixel accuracy", "mean_iou": "mIoU", "box_f1": "box F1@0.5"}
ACCENT = "#4a90d9"
CHART_WIDTH = 540
LABEL_WIDTH = 130
VALUE_WIDTH = 124
ROW_HEIGHT = 22
MAX_LABEL_ROWS = 15
TRACK_COLOR = "#f0f1f3"
# Presentation attributes as well as CSS classes: Qt's SVG renderer (the GUI's statistics
# window) reads attributes only.
TEXT_STYLE = 'font-size="12" font-family="sans-serif" fill="#33383e"'


@dataclass(frozen=True)
class Segment:
    """One piece of a bar: its value, color and tooltip."""

    value: float
    color: str
    title: str


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if float(value).is_integer() and digits <= 1:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def _duration(minutes: float | None) -> str:
    """Minutes as people read them: ``"2.5 min"``, or seconds under a minute (``"12 s"``)."""
    if minutes is None:
        return "–"
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    return f"{minutes:.1f} min"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def bar_chart(
    rows: Sequence[tuple[str, Sequence[Segment], str]],
    *,
    scale: float | None = None,
    width: int = CHART_WIDTH,
) -> str:
    """Horizontal (stacked) bars as inline SVG: ``(label, segments, text at the end)`` rows.

    Args:
        rows: One bar per row; its segments are drawn left to right.
        scale: The value of a full-width bar (the largest row total by default).
        width: Width of the drawing in pixels.
    """
    if not rows:
        return '<p class="empty">nothing recorded yet</p>'
    top = scale or max((sum(s.value for s in segments) for _, segments, _ in rows), default=0)
    top = top or 1.0
    plot = width - LABEL_WIDTH - VALUE_WIDTH
    height = ROW_HEIGHT * len(rows) + 6
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg" role="img">'
    ]
    for index, (label, segments, end_text) in enumerate(rows):
        y = 3 + index * ROW_HEIGHT
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" class="label" '
            f"{TEXT_STYLE}>"
            f"{_e(_clip(label))}<title>{_e(label)}</title></text>"
        )
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y + 2}" width="{plot}" height="{ROW_HEIGHT - 6}" '
            f'class="track" fill="{TRACK_COLOR}"/>'
        )
        x = float(LABEL_WIDTH)
        for segment in segments:
            w = max(0.0, plot * segment.value / top)
            if w <= 0:
                continue
            parts.append(
                f'<rect x="{x:.2f}" y="{y + 2}" width="{w:.2f}" height="{ROW_HEIGHT - 6}" '
                f'fill="{segment.color}"><title>{_e(segment.title)}</title></rect>'
            )
            x += w
        parts.append(
            f'<text x="{LABEL_WIDTH + plot + 6}" y="{y + 15}" class="value" {TEXT_STYLE}>'
            f"{_e(end_text)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, limit: int = 19) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Chart:
    """A chart: its SVG text and the legend (display name -> color)."""

    svg: str
    legend: tuple[tuple[str, str], ...] = ()
    title: str = ""

    @property
    def empty(self) -> bool:
        """Nothing to draw (the "nothing recorded yet" note stands in for the chart)."""
        return not self.svg.startswith("<svg")


@dataclass(frozen=True)
class Table:
    """A small table of text cells."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""


@dataclass(frozen=True)
class Text:
    """A paragraph (``note``: small print)."""

    text: str
    note: bool = False


Block = Chart | Table | Text


@dataclass(frozen=True)
class Section:
    """One part of the report: a title and its blocks, in order.

    The HTML report and the GUI's statistics window show the same sections.
    """

    title: str
    blocks: tuple[Block, ...]


def _legend_of(
    colors: dict[str, str], names: dict[str, str] | None = None
) -> tuple[tuple[str, str], ...]:
    return tuple(
        ((names or {}).get(key, key.replace("_", " ")), color) for key, color in colors.items()
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> Table:
    return Table(tuple(header), tuple(tuple(str(v) for v in row) for row in rows), title)


def _frames_section(stats: dict[str, Any]) -> Section:
    frames = stats["frames"]
    by_status = frames["by_status"]
    total = frames["total"]
    stacked = [
        Segment(count, STATUS_COLORS[status], f"{status.replace('_', ' ')}: {count}")
        for status, count in by_status.items()
    ]
    rows = [("all frames", stacked, f"{total}")]
    rows += [
        (status.replace("_", " "), [Segment(count, STATUS_COLORS[status], str(count))], str(count))
        for status, count in by_status.items()
    ]
    return Section(
        "Frames by status",
        (
            Chart(bar_chart(rows, scale=total or 1), _legend_of(STATUS_COLORS)),
            Text(f"{frames['gold']} gold frames.", note=True),
        ),
    )


def _objects_section(stats: dict[str, Any]) -> Section:
    objects = stats["objects"]
    rows = []
    for label, sources in list(objects["by_label_source"].items())[:MAX_LABEL_ROWS]:
        segments = [
            Segment(sources[source], SOURCE_COLORS[source], f"{source}: {sources[source]}")
            for source in SOURCE_COLORS
        ]
        rows.append((label, segments, str(sum(sources.values()))))
    sources = ", ".join(f"{k} {v}" for k, v in objects["by_source"].items())
    blocks: list[Block] = [
        Text(f"{objects['total']} objects: {sources}."),
        Chart(bar_chart(rows), _legend_of(SOURCE_COLORS)),
    ]
    more = len(objects["by_label_source"]) - MAX_LABEL_ROWS
    if more > 0:
        blocks.append(Text(f"{more} more labels in the JSON output.", note=True))
    return Section("Objects by label and source", tuple(blocks))


def _time_section(stats: dict[str, Any]) -> Section:
    time = stats["time"]
    per_frame = time["annotation_per_frame"]
    users = {"everyone": per_frame["overall"], **per_frame["by_user"]}
    rows = []
    for user, figures in users.items():
        if not figures["frames"]:
            continue
        median, p90 = figures["median"], figures["p90"]
        rows.append(
            (
                user,
                [
                    Segment(median, ACCENT, f"median {median:.1f} min"),
                    Segment(max(0.0, p90 - median), "#a8c8ec", f"90th percentile {p90:.1f} min"),
                ],
                f"{_duration(median)} / {_duration(p90)}",
            )
        )
    tools = stats["throughput"]["minutes_by_tool"]
    tool_rows = [
        (tool, [Segment(minutes or 0.0, "#3fb0ac", _duration(minutes))], _duration(minutes))
        for tool, minutes in sorted(tools.items(), key=lambda kv: -(kv[1] or 0))
    ]
    intro = (
        f"{_number(time['active_minutes'], 1)} active minutes in all "
        f"({_number(time['annotation_minutes'], 1)} annotating, "
        f"{_number(time['review_minutes'], 1)} reviewing). Bars: median, then up to the "
        "90th percentile, of annotation minutes per frame."
    )
    return Section(
        "Active minutes per frame",
        (
            Text(intro),
            Chart(bar_chart(rows), (("median", ACCENT), ("to 90th percentile", "#a8c8ec"))),
            _table(
                ["user", "frames", "median min", "p90 min", "total min"],
                [
                    [
                        u,
                        f["frames"],
                        _number(f["median"], 2),
                        _number(f["p90"], 2),
                        _number(f["total"], 1),
                    ]
                    for u, f in users.items()
                    if f["frames"]
                ],
            ),
            Chart(bar_chart(tool_rows), title="Active minutes by tool"),
        ),
    )


def _throughput_section(stats: dict[str, Any]) -> Section:
    throughput = stats["throughput"]
    users = {"everyone": throughput["overall"], **throughput["by_user"]}
    rows = [
        (
            user,
            [Segment(f["frames_per_hour"] or 0.0, "#3e9b4f", f"{f['frames_per_hour']} frames/h")],
            f"{_number(f['frames_per_hour'], 1)} /h",
        )
        for user, f in users.items()
        if f["frames_per_hour"] is not None
    ]
    table = _table(
        ["user", "frames finished", "active hours", "frames per hour"],
        [
            [
                u,
                f["frames_finished"],
                _number(f["active_hours"], 2),
                _number(f["frames_per_hour"], 1),
            ]
            for u, f in users.items()
        ],
    )
    return Section(
        "Throughput",
        (Text("Frames finished per active annotation hour."), Chart(bar_chart(rows)), table),
    )


def _review_section(stats: dict[str, Any]) -> Section:
    review = stats["review"]
    rows = [
        (
            user,
            [
                Segment(f["accepted"], STATUS_COLORS["accepted"], f"accepted {f['accepted']}"),
                Segment(f["rejected"], STATUS_COLORS["rejected"], f"rejected {f['rejected']}"),
            ],
            f"{_percent(f['rejection_rate'])} rejected",
        )
        for user, f in review["by_annotator"].items()
    ]
    reasons = [
        (reason, [Segment(count, STATUS_COLORS["rejected"], f"{count}x")], str(count))
        for reason, count in review["reasons"].items()
    ]
    categories = [
        (name.replace("_", " "), [Segment(count, "#f0a030", f"{count}x")], str(count))
        for name, count in review["comment_categories"].items()
    ]
    decisions = {"accepted": STATUS_COLORS["accepted"], "rejected": STATUS_COLORS["rejected"]}
    return Section(
        "Review",
        (
            Text(
                f"{review['accepted']} accepted, {review['rejected']} rejected: rejection rate "
                f"{_percent(review['rejection_rate'])}. {review['open_comments']} comments open."
            ),
            Chart(bar_chart(rows), _legend_of(decisions), "Decisions per annotator"),
            Chart(bar_chart(reasons), title="Rejection reasons"),
            Chart(bar_chart(categories), title="Comment categories"),
        ),
    )


def _gold_section(stats: dict[str, Any]) -> Section:
    gold = stats["gold"]
    rows = []
    for user, figures in gold["by_user"].items():
        for index, (key, color) in enumerate(METRIC_COLORS.items()):
            value = figures[key]
            rows.append(
                (
                    user if index == 0 else "",
                    [Segment(value or 0.0, color, f"{METRIC_NAMES[key]} {_percent(value)}")],
                    _percent(value),
                )
            )
    table = _table(
        ["frame", "user", "pixel accuracy", "mIoU", "box F1@0.5"],
        [
            [
                s["frame"],
                s["user"],
                _percent(s["pixel_accuracy"]),
                _percent(s["mean_iou"]),
                _percent(s["box_f1"]),
            ]
            for s in gold["scores"]
        ],
    )
    pairs = stats.get("agreement", {}).get("by_pair", {})
    agreement: Block = (
        _table(
            ["annotators", "frames", "pixel accuracy", "mIoU", "box F1@0.5"],
            [
                [
                    pair,
                    f["frames"],
                    _percent(f["pixel_accuracy"]),
                    _percent(f["mean_iou"]),
                    _percent(f["box_f1"]),
                ]
                for pair, f in pairs.items()
            ],
            title="Agreement between annotators (frames both finished; mean)",
        )
        if pairs
        else Text("No frame has been finished by two annotators yet.", note=True)
    )
    return Section(
        "Gold scores",
        (
            Text(f"{gold['frames']} gold frames; mean scores per annotator."),
            Chart(bar_chart(rows, scale=1.0), _legend_of(METRIC_COLORS, METRIC_NAMES)),
            table,
            agreement,
        ),
    )


def _estimate_section(stats: dict[str, Any]) -> Section:
    estimate = stats["estimate"]
    minutes_left = estimate["minutes_left"]
    left = (
        "not known yet (no time logged for the work left)"
        if minutes_left is None
        else f"{minutes_left:,.1f} minutes ({estimate['hours_left']:.1f} hours)"
    )
    return Section(
        "Estimated time left",
        (
            Text(
                f"{left}: {estimate['frames_to_annotate']} frames to annotate at "
                f"{_number(estimate['annotation_minutes_per_frame'], 2)} min, "
                f"{estimate['frames_to_review']} to review at "
                f"{_number(estimate['review_minutes_per_frame'], 2)} min (medians)."
            ),
        ),
    )


def summary(stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The headline figures: ``(title, value, note)`` for each card."""
    frames = stats["frames"]
    estimate = stats["estimate"]
    hours_left = estimate["hours_left"]
    return [
        ("frames", f"{frames['total']:,}", f"{frames['by_status']['accepted']} accepted"),
        ("objects", f"{stats['objects']['total']:,}", ""),
        ("active hours", _number((stats["time"]["active_minutes"] or 0) / 60, 2), ""),
        (
            "median min / frame",
            _number(stats["time"]["annotation_per_frame"]["overall"]["median"], 2),
            "annotation",
        ),
        ("rejection rate", _percent(stats["review"]["rejection_rate"]), ""),
        (
            "time left",
            "–" if hours_left is None else f"{hours_left:.1f} h",
            f"{estimate['frames_to_annotate']} to annotate, "
            f"{estimate['frames_to_review']} to review",
        ),
    ]


def sections(stats: dict[str, Any]) -> list[Section]:
    """Every section of the report, in order."""
    return [
        _frames_section(stats),
        _objects_section(stats),
        _time_section(stats),
        _throughput_section(stats),
        _review_section(stats),
        _gold_section(stats),
        _estimate_section(stats),
    ]


def _html_block(block: Block) -> str:
    if isinstance(block, Text):
        return f'<p class="note">{_e(block.text)}</p>' if block.note else f"<p>{_e(block.text)}</p>"
    title = f"<h3>{_e(block.title)}</h3>" if block.title else ""
    if isinstance(block, Chart):
        legend = ""
        if block.legend and not block.empty:
            keys = "".join(
                f'<span class="key"><i style="background:{color}"></i>{_e(name)}</span>'
                for name, color in block.legend
            )
            legend = f'<div class="legend">{keys}</div>'
        return title + legend + block.svg
    if not block.rows:
        return title
    head = "".join(f"<th>{_e(h)}</th>" for h in block.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in block.rows
    )
    return f"{title}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(title: str, value: str, note: str = "") -> str:
    return (
        f'<div class="card"><div class="card-title">{_e(title)}</div>'
        f'<div class="card-value">{_e(value)}</div><div class="card-note">{_e(note)}</div></div>'
    )


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#22262b;
margin:0;background:#f4f5f7}
main{max-width:1180px;margin:0 auto;padding:20px 24px}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:0 0 6px;border-bottom:1px solid
#e2e4e8;padding-bottom:4px}h3{font-size:13px;margin:14px 0 4px;color:#4b525a}
p{margin:4px 0}.sub{color:#6b737c;margin:0 0 14px}.note,.empty{color:#6b737c;font-size:12px}
.cards{display:grid;grid-template-columns:repeat(6,1fr);gap:10px;margin-bottom:14px}
.card{background:#fff;border:1px solid #e2e4e8;border-radius:6px;padding:8px 10px}
.card-title{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:#6b737c}
.card-value{font-size:22px;font-weight:600}.card-note{font-size:12px;color:#6b737c}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px;
align-items:start}
section{background:#fff;border:1px solid #e2e4e8;border-radius:6px;padding:12px 14px}
.chart{display:block;margin:4px 0;max-width:100%;height:auto}
.chart .label{font-size:12px;fill:#22262b}
.chart .value{font-size:12px;fill:#4b525a}.chart .track{fill:#f0f1f3}
.legend{font-size:12px;color:#4b525a;margin:2px 0}.key{margin-right:12px;white-space:nowrap}
.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;
vertical-align:-1px}
table{border-collapse:collapse;margin:8px 0;font-size:12px}
th,td{padding:3px 12px 3px 0;text-align:left;border-bottom:1px solid #eef0f2}
th{color:#6b737c;font-weight:600}
"""


def render_html(stats: dict[str, Any]) -> str:
    """The report for a stats dict from :func:`roadmark.io.stats.project_stats`."""
    name = Path(str(stats["project"])).name
    cards = "".join(_card(*card) for card in summary(stats))
    body = "".join(
        f"<section><h2>{_e(section.title)}</h2>"
        + "".join(_html_block(block) for block in section.blocks)
        + "</section>"
        for section in sections(stats)
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>roadmark stats: {_e(name)}</title><style>{STYLE}</style></head><body><main>"
        f"<h1>roadmark statistics: {_e(name)}</h1>"
        f'<p class="sub">{_e(stats["project"])} &middot; {_e(stats["generated_at"])}</p>'
        f'<div class="cards">{cards}</div><div class="grid">{body}</div>'
        "</main></body></html>\n"
    )


def write_html(stats: dict[str, Any], out: Path) -> Path:
    """Write the report to ``out`` atomically (a temporary file renamed into place).

    Raises:
        RoadmarkError: The folder does not exist or cannot be written.
    """
    out = Path(out)
    if not out.parent.is_dir():
        raise RoadmarkError("the folder does not exist", path=str(out))
    text = render_html(stats)
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=".stats-", suffix=".html", dir=out.parent)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.chmod(0o644)
        os.replace(tmp, out)
    except OSError as error:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise RoadmarkError(f"cannot write ({error.strerror or error})", path=str(out)) from error
    return out
