"""Small SVG charts for the admin, drawn on the server: a run's timeline and metric trends.

Plain SVG strings (every text escaped), so the pages need no JavaScript and the charts show in
screenshots and e-mails alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

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
