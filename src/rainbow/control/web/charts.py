"""Small SVG charts for the admin, drawn on the server: a run's timeline, metric trends over
runs, and a metric over main's builds with its change points.

Plain SVG strings (every text escaped), so the pages need no JavaScript and the charts show in
screenshots and e-mails alike.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from rainbow.control.services.trends import Build, MetricTrend
from rainbow.evaluate.shown import MAX_NAME, clean, short

STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "timed_out": "#ef6c00",
    "worker_lost": "#6a1b9a",
    "aborted": "#757575",
    "running": "#1565c0",
}
LABEL_W = 150
ROW_H = 24
CHART_W = 720


@dataclass(frozen=True)
class Bar:
    """One attempt on the timeline."""

    row: str
    label: str
    status: str
    start: datetime
    end: datetime | None
    detail: str = ""


def timeline(bars: Sequence[Bar], now: datetime) -> str:
    """A Gantt chart: one row per step, one bar per attempt, coloured by how it ended; the gaps
    between a step's bars are its retry waits."""
    if not bars:
        return '<p class="help">No attempts yet.</p>'
    rows = list(dict.fromkeys(bar.row for bar in bars))
    first = min(bar.start for bar in bars)
    last = max((bar.end or now) for bar in bars)
    span = max((last - first).total_seconds(), 1e-3)
    width = CHART_W - LABEL_W - 10
    height = ROW_H * len(rows) + 30

    def x(moment: datetime) -> float:
        return LABEL_W + width * (moment - first).total_seconds() / span

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{height}" '
        f'role="img" aria-label="timeline of the run\'s attempts" class="rainbow-timeline">'
    ]
    for index, row in enumerate(rows):
        y = index * ROW_H
        parts.append(f'<text x="4" y="{y + 16}" font-size="12">{escape(row)}</text>')
        parts.append(
            f'<line x1="{LABEL_W}" y1="{y + ROW_H}" x2="{CHART_W - 10}" y2="{y + ROW_H}" '
            'stroke="#eee"/>'
        )
    for bar in bars:
        y = rows.index(bar.row) * ROW_H + 4
        left = x(bar.start)
        right = max(x(bar.end or now), left + 2)
        colour = STATUS_COLOURS.get(bar.status, "#9e9e9e")
        title = escape(f"{bar.label}: {bar.status} {bar.detail}".strip())
        parts.append(
            f'<rect x="{left:.1f}" y="{y}" width="{right - left:.1f}" height="{ROW_H - 8}" '
            f'fill="{colour}" data-status="{escape(bar.status)}"><title>{title}</title></rect>'
        )
    axis_y = len(rows) * ROW_H + 18
    parts.append(f'<text x="{LABEL_W}" y="{axis_y}" font-size="11">0 s</text>')
    parts.append(
        f'<text x="{CHART_W - 10}" y="{axis_y}" font-size="11" text-anchor="end">'
        f"{_duration(span)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def trends(series: Mapping[str, Sequence[tuple[str, float]]], *, height: int = 120) -> str:
    """One small line chart per metric over runs (oldest first), with its last value."""
    if not series:
        return '<p class="help">No metrics recorded yet.</p>'
    charts = []
    for name, points in series.items():
        values = [value for _, value in points]
        low, high = min(values), max(values)
        spread = (high - low) or 1.0
        step = (CHART_W - 60) / max(len(points) - 1, 1)
        coords = [
            (30 + i * step, 10 + (height - 30) * (1 - (value - low) / spread))
            for i, (_, value) in enumerate(points)
        ]
        line = " ".join(f"{px:.1f},{py:.1f}" for px, py in coords)
        dots = "".join(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="#1565c0">'
            f"<title>{escape(label)}: {value:g}</title></circle>"
            for (px, py), (label, value) in zip(coords, points, strict=True)
        )
        charts.append(
            f'<figure class="rainbow-trend"><figcaption>{escape(name)} '
            f"(last {values[-1]:g}; min {low:g}, max {high:g}, {len(values)} runs)</figcaption>"
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{height}" '
            f'role="img" aria-label="{escape(name)} over runs">'
            f'<polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="2"/>{dots}'
            "</svg></figure>"
        )
    return "".join(charts)


MOVE_COLOURS = {True: "#2e7d32", False: "#c62828"}
"""A change point's line: green where the metric got better, red where it got worse."""
TREND_LEFT = 64
TREND_RIGHT = CHART_W - 16
TREND_TOP = 22
TREND_BOTTOM = 142
TREND_LABEL_W = 48
"""The room a build's name takes under the axis (7 characters of a short commit, or a date)."""


def builds_trend(metric: MetricTrend, builds: Sequence[Build]) -> str:
    """One metric over main's builds (oldest first): its judged value per build, the levels
    between its change points as dashed lines, each change point as a vertical line coloured by
    whether the metric got better, and the newest build ringed.

    Names (commits, people) appear only as text of ``<text>`` and ``<title>``, cut and escaped;
    a build that did not measure the metric breaks the line.
    """
    present = [value for value in metric.values if value is not None]
    if not present:
        return '<p class="help">No build of main measured this metric.</p>'
    low, high = min(present), max(present)
    # Arithmetic on halves: the span of two finite floats may overflow, and an inf coordinate
    # is an error in the browser's console.
    pad = (high / 2 - low / 2) * 0.1 or abs(low) * 0.05 or 0.5
    low, high = max(low - pad, -sys.float_info.max), min(high + pad, sys.float_info.max)
    step = (TREND_RIGHT - TREND_LEFT) / max(len(builds) - 1, 1)

    def x(at: float) -> float:
        return TREND_LEFT + step * at

    def y(value: float) -> float:
        share = (value / 2 - low / 2) / (high / 2 - low / 2)
        return TREND_BOTTOM - share * (TREND_BOTTOM - TREND_TOP)

    newest = len(builds) - 1
    moved = {move.at for move in metric.moves}
    # The newest build and each change point are named; other builds evenly, where they fit.
    named = {newest, *moved}
    every = math.ceil(TREND_LABEL_W / step) if len(builds) > 1 else 1
    named |= {
        at
        for at in range(0, len(builds), every)
        if all(abs(at - other) * step >= TREND_LABEL_W for other in named)
    }
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="196" role="img" '
        f'aria-label="{_text(metric.key)} over main\'s builds" class="rainbow-builds-trend">'
    ]
    for tick in (low, low / 2 + high / 2, high):
        parts.append(
            f'<line x1="{TREND_LEFT}" y1="{y(tick):.1f}" x2="{TREND_RIGHT}" y2="{y(tick):.1f}" '
            f'stroke="#eee"/><text x="{TREND_LEFT - 6}" y="{y(tick) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{tick:.4g}</text>'
        )
    way = "higher is better" if metric.better == "high" else "lower is better"
    parts.append(f'<text x="{TREND_RIGHT}" y="12" font-size="11" text-anchor="end">{way}</text>')
    for level in metric.levels:
        parts.append(
            f'<line x1="{x(level.first):.1f}" y1="{y(level.value):.1f}" x2="{x(level.last):.1f}" '
            f'y2="{y(level.value):.1f}" stroke="#90a4ae" stroke-width="2" '
            f'stroke-dasharray="6 4" data-level="{level.value:.6g}"><title>level '
            f"{level.value:.4g}</title></line>"
        )
    for move in metric.moves:
        at = x(move.at - 0.5)
        parts.append(
            f'<line x1="{at:.1f}" y1="{TREND_TOP - 6}" x2="{at:.1f}" y2="{TREND_BOTTOM}" '
            f'stroke="{MOVE_COLOURS[move.improved]}" stroke-width="2" stroke-dasharray="3 3" '
            f'data-move="{"better" if move.improved else "worse"}">'
            f"<title>{_text(move.sentence(), 300)}</title></line>"
        )
    stretch: list[str] = []
    for at, value in enumerate(metric.values):
        if value is None:
            parts.append(_line(stretch))
            stretch = []
            continue
        stretch.append(f"{x(at):.1f},{y(value):.1f}")
    parts.append(_line(stretch))
    for at, (build, value) in enumerate(zip(builds, metric.values, strict=True)):
        commit, day = _text(short(build.commit)) or "—", f"{build.made_at:%m-%d}"
        if at in named:
            parts.append(
                f'<text x="{x(at):.1f}" y="162" font-size="10" text-anchor="middle">{commit}'
                f'</text><text x="{x(at):.1f}" y="176" font-size="10" text-anchor="middle">'
                f"{day}</text>"
            )
        if value is None:
            continue
        parts.append(
            f'<circle cx="{x(at):.1f}" cy="{y(value):.1f}" r="3" fill="#1565c0">'
            f"<title>{commit} ({day}): {value:.6g}</title></circle>"
        )
        if at == newest:
            parts.append(
                f'<circle cx="{x(at):.1f}" cy="{y(value):.1f}" r="7" fill="none" stroke="#000" '
                f'class="rainbow-newest"/><text x="{x(at) - 9:.1f}" y="{y(value) - 10:.1f}" '
                'font-size="10" text-anchor="end">newest</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _line(points: Sequence[str]) -> str:
    if len(points) < 2:
        return ""
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="#1565c0" stroke-width="1.5"/>'
    )


def _text(text: str, limit: int = MAX_NAME) -> str:
    """Hostile text (metric keys, commits, names) as an SVG shows it: cut, cleaned, escaped."""
    return escape(clean(text, limit), quote=True)
