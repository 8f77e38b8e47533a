"""A comparison as an HTML page, for researchers who would rather look than read: per metric
the samples before and after, the trend over main's builds, and the units that got worst with
their output images side by side.

The page is one file, ``report.html``, beside the images it copies into ``images/``: SVG drawn
here, styles in one ``<style>`` element, no JavaScript and nothing fetched, so it opens
offline, from a CI artifact and under the strict Content-Security-Policy it declares itself.
Names, commits, branches, URLs and outputs come from module code, manifests and git: hostile
input, shown only as escaped, bounded text; attributes, styles and URLs hold generated text
alone (numbers, anchors, the images' file names). The page stays a few MB whatever the corpus:
plots draw a bounded sample of the dots over a box of all of them, tables and sections are cut.
"""

from __future__ import annotations

import hashlib
import heapq
import html
import itertools
import math
import operator
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import fsspec

from rainbow.evaluate.compare import REGRESSIONS, Comparison, Identity, Row, Verdict
from rainbow.evaluate.figures import FAILED_UNITS, Figures, Kind, MetricFigures

REPORT = "report.html"
IMAGES = "images"
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
MAX_NAME = 80
MAX_TEXT = 400
"""Explanations and notes: they quote names and URLs."""
MAX_ROWS = 500
"""Rows of the comparison table; the JSON result holds them all."""
MAX_SECTIONS = 100
"""Metrics drawn, in the comparison's order (regressions first)."""
MAX_DOTS = 80
"""Samples drawn per side, evenly over their order: the box summarises all of them."""
MAX_DOT_NAME = 48
"""A dot's unit, as its tooltip names it: the dots are most of a page's size."""
MAX_TREND = 50
"""Builds of main in a trend, the newest."""
MAX_WORST = 50
MAX_IMAGES_PER_UNIT = 6
"""Outputs shown side by side per unit (each twice, baseline and now)."""
MAX_IMAGE_BYTES = 20 * 2**20
MAX_IMAGES_BYTES = 200 * 2**20
"""All the images one report copies."""
MAX_OUTPUT_NODES = 10_000
"""Values of one run's outputs searched for assets."""
SHORT_COMMIT = 7

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
_SCRIPTABLE = frozenset({".svg", ".svgz"})
_NO_OUTPUTS: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
# Looked up, never interpolated: a class name is generated text, whatever a row was made of.
_VERDICTS: dict[Verdict, str] = {
    "regression": "regression",
    "missing": "missing",
    "improvement": "improvement",
    "unchanged": "unchanged",
    "new": "new",
}
_COUNTED: list[tuple[Verdict, str, str]] = [
    ("regression", "regression", "regressions"),
    ("missing", "missing", "missing"),
    ("improvement", "improvement", "improvements"),
    ("unchanged", "unchanged", "unchanged"),
    ("new", "new metric", "new metrics"),
]

_STYLE = """
:root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--base:#7d8796;
--now:#2563eb;--bad:#a40e26;--good:#116329}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1120px;padding:24px 16px 64px;color:var(--fg);background:#fff;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:1.6em;margin:0 0 6px}
h2{font-size:1.25em;margin:0 0 4px}
h3{font-size:1.05em;margin:18px 0 6px}
h4{font-size:1em;margin:14px 0 6px}
h1,h2,h3,h4,code,figcaption,p{overflow-wrap:anywhere}
figcaption{font-size:.88em}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
a{color:var(--now)}
.meta,.note,figcaption{color:var(--muted)}
.note{font-size:.92em}
.verdict{display:inline-block;padding:0 8px;border-radius:10px;font-size:.85em;font-weight:600;
white-space:nowrap}
.v-regression,.v-missing{background:#ffebe9;color:var(--bad)}
.v-improvement{background:#dafbe1;color:var(--good)}
.v-unchanged{background:#eff2f5;color:var(--muted)}
.v-new{background:#ddf4ff;color:#0550ae}
.counts .verdict{margin-right:6px;font-size:.95em}
.wide{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;white-space:nowrap}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
section{border-top:1px solid var(--line);margin-top:24px;padding-top:16px}
.plots{display:flex;flex-wrap:wrap;gap:8px 24px}
.plots figure{flex:1 1 460px;margin:0}
svg.plot{display:block;width:100%;max-width:640px;height:auto}
.plot text{font:11px system-ui,sans-serif;fill:var(--muted)}
.plot .side{font-size:12px;fill:var(--fg)}
.plot .axis{stroke:var(--line);fill:none}
.plot .base{fill:var(--base);stroke:var(--base)}
.plot .now{fill:var(--now);stroke:var(--now)}
.plot g circle{stroke:none;fill-opacity:.45}
.plot .box{fill-opacity:.14;stroke-width:1.5}
.plot .whisker{stroke-width:1.5}
.plot .mark{stroke:var(--fg);stroke-width:2.5}
.plot .line{fill:none;stroke:var(--base);stroke-width:2}
.plot .step{fill:none;stroke:var(--now);stroke-width:2;stroke-dasharray:4 3}
.plot .ring{fill:none;stroke:var(--fg);stroke-width:1.5}
.plot .marked{fill:var(--fg);font-weight:600}
ol.units{padding-left:1.4em}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px;margin:6px 0 12px}
.pair figure{margin:0}
.pair img{display:block;width:100%;height:auto;max-height:min(60vh,520px);object-fit:contain;
background:#f6f8fa;border:1px solid var(--line);margin-top:2px}
@media (max-width:700px){body{padding:12px 8px 48px}}
"""


def write_html(
    folder: Path,
    comparison: Comparison,
    baseline: Figures,
    now: Figures,
    *,
    trend: Sequence[Figures] = (),
    outputs: Mapping[str, Mapping[str, Any]] = _NO_OUTPUTS,
    worst: int = 5,
) -> Path:
    """Write ``folder/report.html`` (and the images it shows, under ``folder/images/``).

    ``trend`` is main's earlier baselines of the target, oldest first; ``outputs`` maps a run
    id to its outputs (JSON, assets as ``{"$asset": URL}``) for the runs of either side that
    are at hand. It is asked only ``in`` and ``[]``, for the runs of the units shown, so a
    mapping that reads the store on demand serves a corpus of any size. The ``worst`` units of
    each regressed quality metric (or, with none regressed, of each that moved) are shown with
    their images. What cannot be read or shown becomes a note on the page; only writing the
    page itself can fail.
    """
    folder.mkdir(parents=True, exist_ok=True)
    builds, elsewhere = _builds(trend, baseline)
    shown = comparison.rows[:MAX_SECTIONS]
    regressed = [r for r in shown if r.kind == "quality" and r.verdict == "regression"]
    moved = [r for r in shown if r.kind == "quality" and r.change is not None and r.change != 0]
    examined = {r.key for r in regressed or moved}
    count = max(0, min(worst, MAX_WORST))
    units = _Units(count, outputs, _Images(folder, MAX_IMAGES_BYTES)) if count else None
    sections = [
        _section(
            index,
            row,
            baseline,
            now,
            builds if trend else None,
            units if row.key in examined else None,
        )
        for index, row in enumerate(shown)
    ]
    if len(comparison.rows) > MAX_SECTIONS:
        more = len(comparison.rows) - MAX_SECTIONS
        sections.append(
            f'<p class="note">…and {_counted(more, "more metric")} in the JSON result.</p>'
        )
    title = f"Evaluation of {_text(comparison.now.target)}"
    page = "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title>",
            f"<style>{_STYLE}</style>",
            "</head>",
            "<body>",
            _header(comparison, elsewhere),
            _table(comparison.rows),
            *sections,
            "</body>",
            "</html>",
        ]
    )
    path = folder / REPORT
    path.write_text(page + "\n", encoding="utf-8")
    return path


# The header and the table


def _header(comparison: Comparison, elsewhere: int) -> str:
    now, base = comparison.now, comparison.baseline
    counts = "".join(
        f'<span class="verdict v-{verdict}">{n} {one if n == 1 else many}</span>'
        for verdict, one, many in _COUNTED
        if (n := comparison.count(verdict))
    )
    verdict = (
        f"{comparison.count(*REGRESSIONS)} regressed" if comparison.regressed else "no regression"
    )
    left_out = (
        f'<p class="note">{elsewhere} of main\'s builds measured another corpus: the trends '
        "leave them out.</p>"
        if elsewhere
        else ""
    )
    corpus = f"{now.corpus.name}@{now.corpus.version}"
    return (
        f"<header><h1>Evaluation of <code>{_text(now.target)}</code>: {verdict}</h1>"
        f'<p class="meta">on corpus <code>{_text(corpus)}</code> '
        f"(<code>{_text(now.corpus.content_hash, 20)}</code>)</p>"
        f'<p class="meta">baseline {_side(base)} vs now {_side(now)}</p>'
        f'<p class="counts">{counts or "no metric"}</p>{left_out}</header>'
    )


def _side(identity: Identity) -> str:
    commit = f"<code>{_text(_short(identity.commit))}</code>" if identity.commit else ""
    branch = f"<code>{_text(identity.branch)}</code>" if identity.branch else ""
    named = " @ ".join(part for part in (branch, commit) if part) or "(no commit)"
    return f"{named} ({_date(identity.made_at)})"


def _table(rows: Sequence[Row]) -> str:
    header = (
        '<tr><th>metric</th><th class="n">baseline @ commit</th><th class="n">now</th>'
        '<th class="n">change</th><th class="n">bound</th><th>verdict</th></tr>'
    )
    lines = [_line(index, row) for index, row in enumerate(rows[:MAX_ROWS])]
    more = (
        f'<p class="note">…and {_counted(len(rows) - MAX_ROWS, "more row")} in the JSON result.</p>'
        if len(rows) > MAX_ROWS
        else ""
    )
    return f'<div class="wide"><table>{header}{"".join(lines)}</table></div>{more}'


def _line(index: int, row: Row) -> str:
    key = f"<code>{_text(row.key)}</code>"
    if index < MAX_SECTIONS:
        key = f'<a href="#m-{index}">{key}</a>'
    commit = _short(row.baseline_commit)
    at = f" @ <code>{_text(commit)}</code>" if commit and row.baseline is not None else ""
    cells = [
        f"<td>{key}</td>",
        f'<td class="n">{_num(row.baseline)}{at}</td>',
        f'<td class="n">{_num(row.now)}</td>',
        f'<td class="n">{_change(row)}</td>',
        f'<td class="n">{_bound(row)}</td>',
        f"<td>{_verdict(row.verdict)}</td>",
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _change(row: Row) -> str:
    if row.change is None:
        return "—"
    text = f"{row.change:+.4g}"
    if row.relative_change is not None:
        text += f" ({row.relative_change:+.1%})"
    if row.p_value is not None:
        text += f", p={row.p_value:.2g}"
    return html.escape(text)


def _bound(row: Row) -> str:
    if row.bound is None:
        return "—"
    text = f"{'−' if row.better == 'high' else '+'}{row.bound:.4g}"
    if row.factor is not None:
        text += f" (×{row.factor:.3g})"
    return html.escape(f"{text}, {row.bound_source}" if row.bound_source else text)


def _verdict(verdict: Verdict) -> str:
    return f'<span class="verdict v-{_VERDICTS[verdict]}">{_VERDICTS[verdict]}</span>'


# A metric's section


def _section(
    index: int,
    row: Row,
    baseline: Figures,
    now: Figures,
    builds: list[Figures] | None,
    units: _Units | None,
) -> str:
    before, after = baseline.metrics.get(row.key), now.metrics.get(row.key)
    judged = "median" if row.kind == "timing" else "mean"
    trend = (
        '<p class="note">No earlier builds of main were given: no trend.</p>'
        if builds is None
        else _trend(row, builds, baseline, after)
    )
    parts = [
        f'<section id="m-{index}">',
        f"<h2><code>{_text(row.key)}</code> {_verdict(row.verdict)}</h2>",
        f"<p>{_text(row.explanation, MAX_TEXT)}.</p>",
        '<div class="plots">',
        f"<figure>{_distribution(row, before, after)}<figcaption>Samples, baseline and now: "
        f"the box spans the quartiles, the whiskers the range, the dark bar is the {judged}; "
        f"at most {MAX_DOTS} dots a side, evenly over the sorted samples.</figcaption></figure>",
        f"<figure>{trend}</figure>",
        "</div>",
    ]
    if units is not None:
        parts.append(units.html(row, baseline, now))
    parts.append("</section>")
    return "\n".join(parts)


@dataclass(frozen=True)
class _Scale:
    """Values onto a stretch of the page. Arithmetic on halves: the span of two finite floats
    may overflow, and an ``inf`` or ``nan`` coordinate is an error in the browser's console."""

    low: float
    high: float
    start: float
    end: float

    @classmethod
    def over(cls, values: Sequence[float], start: float, end: float) -> _Scale:
        low, high = min(values), max(values)
        pad = (high / 2 - low / 2) * 0.08 or abs(low) * 0.05 or 0.5
        low = max(low - pad, -sys.float_info.max)
        high = min(high + pad, sys.float_info.max)
        return cls(low, high, start, end)

    def __call__(self, value: float) -> float:
        share = (value / 2 - self.low / 2) / (self.high / 2 - self.low / 2)
        return self.start + share * (self.end - self.start)

    def ticks(self, count: int) -> list[float]:
        return [self.low * (1 - k / count) + self.high * (k / count) for k in range(count + 1)]


_WIDTH = 640
_LEFT = 72
_RIGHT = _WIDTH - 16


def _distribution(row: Row, before: MetricFigures | None, after: MetricFigures | None) -> str:
    sides = [("baseline", "base", _samples(before)), ("now", "now", _samples(after))]
    every = [value for _, _, samples in sides for value, _ in samples]
    if not every:
        return '<p class="note">Neither side has a finite sample to draw.</p>'
    scale = _Scale.over(every, _LEFT, _RIGHT)
    parts = [f"<title>The samples of {_text(row.key)}, baseline and now</title>"]
    for number, (label, css, samples) in enumerate(sides):
        y = 30 + 46 * number
        parts.append(f'<text x="8" y="{y + 4}" class="side">{label}</text>')
        if not samples:
            parts.append(f'<text x="{_LEFT}" y="{y + 4}">absent</text>')
            continue
        parts.append(_box(samples, scale, y, css, row.kind))
    axis_y = 82
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{axis_y + 12}" x2="{_RIGHT}" y2="{axis_y + 12}"/>'
    )
    for tick in scale.ticks(4):
        x = scale(tick)
        parts.append(
            f'<line class="axis" x1="{x:.1f}" y1="{axis_y + 12}" x2="{x:.1f}" y2="{axis_y + 16}"/>'
            f'<text x="{x:.1f}" y="{axis_y + 28}" text-anchor="middle">{_num(tick)}</text>'
        )
    direction = (
        f'<text x="{_RIGHT}" y="{axis_y + 44}" text-anchor="end">higher is better →</text>'
        if row.better == "high"
        else f'<text x="{_LEFT}" y="{axis_y + 44}">← lower is better</text>'
    )
    parts.append(direction)
    return _svg(140, parts)


def _box(samples: list[tuple[float, str]], scale: _Scale, y: int, css: str, kind: Kind) -> str:
    values = [value for value, _ in samples]
    low, q1, median, q3, high = (_quantile(values, q) for q in (0, 0.25, 0.5, 0.75, 1))
    judged = median if kind == "timing" else _mean(values)
    x1, x3 = scale(q1), scale(q3)
    parts = [
        f'<g class="{css}">',
        f'<line class="whisker" x1="{scale(low):.1f}" y1="{y}" x2="{x1:.1f}" y2="{y}"/>',
        f'<line class="whisker" x1="{x3:.1f}" y1="{y}" x2="{scale(high):.1f}" y2="{y}"/>',
        f'<rect class="box" x="{x1:.1f}" y="{y - 12}" width="{max(x3 - x1, 1):.1f}" height="24"/>',
        f'<line class="whisker" x1="{scale(median):.1f}" y1="{y - 12}" '
        f'x2="{scale(median):.1f}" y2="{y + 12}"/>',
    ]
    for number, (value, unit) in enumerate(_spread(samples, MAX_DOTS)):
        # A fixed low-discrepancy jitter: the same figures always draw the same page.
        dy = ((number * 0.618034) % 1 - 0.5) * 18
        parts.append(
            f'<circle cx="{scale(value):.1f}" cy="{y + dy:.1f}" r="2.6">'
            f"<title>{_text(unit, MAX_DOT_NAME)}: {_num(value)}</title></circle>"
        )
    x = scale(judged)
    which = "median" if kind == "timing" else "mean"
    parts.append(
        f'<line class="mark" x1="{x:.1f}" y1="{y - 16}" x2="{x:.1f}" y2="{y + 16}">'
        f"<title>{which} {_num(judged)} of {len(values)} samples</title></line></g>"
    )
    return "".join(parts)


def _trend(row: Row, builds: list[Figures], baseline: Figures, after: MetricFigures | None) -> str:
    points = [
        _Point(
            _short(build.commit) or "—",
            f"{build.made_at:%m-%d}",
            _judged(build.metrics.get(row.key), row.kind),
            baseline=build is baseline,
        )
        for build in builds
    ]
    points.append(_Point("now", "", _judged(after, row.kind), now=True))
    values = [point.value for point in points if point.value is not None]
    if not values:
        return '<p class="note">No build of main measured this metric.</p>'
    scale = _Scale.over(values, 112, 18)
    step = (_RIGHT - _LEFT) / (len(points) - 1)
    every = math.ceil(len(points) / 12)
    parts = [f"<title>The {_text(row.key)} of main's builds, and now</title>"]
    for tick in scale.ticks(2):
        y = scale(tick)
        parts.append(
            f'<line class="axis" x1="{_LEFT}" y1="{y:.1f}" x2="{_RIGHT}" y2="{y:.1f}"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_num(tick)}</text>'
        )
    dots: list[str] = []
    # The builds since the last one without the metric: one unbroken line.
    stretch: list[tuple[float, float]] = []
    for number, point in enumerate(points):
        x = _LEFT + step * number
        if number % every == 0 or point.now or point.baseline:
            parts.append(
                f'<text x="{x:.1f}" y="134" text-anchor="middle">{_text(point.commit)}</text>'
                f'<text x="{x:.1f}" y="148" text-anchor="middle">{point.day}</text>'
            )
        if point.value is None:
            parts.append(_polyline(stretch))
            stretch = []
            continue
        y = scale(point.value)
        if point.now and stretch:
            parts.append(
                f'<line class="step" x1="{stretch[-1][0]:.1f}" y1="{stretch[-1][1]:.1f}" '
                f'x2="{x:.1f}" y2="{y:.1f}"/>'
            )
        elif not point.now:
            stretch.append((x, y))
        name = "now" if point.now else f"{point.commit} ({point.day})"
        dots.append(
            f'<circle class="{"now" if point.now else "base"}" cx="{x:.1f}" cy="{y:.1f}" r="4">'
            f"<title>{_text(name)}: {_num(point.value)}</title></circle>"
        )
        if point.baseline:
            dots.append(
                f'<circle class="ring" cx="{x:.1f}" cy="{y:.1f}" r="8"/>'
                f'<text class="marked" x="{x:.1f}" y="{y - 12:.1f}" '
                'text-anchor="middle">baseline</text>'
            )
    parts.append(_polyline(stretch))
    judged = "median" if row.kind == "timing" else "mean"
    return _svg(160, [*parts, *dots]) + (
        f"<figcaption>The {judged} over main's last {len(builds)} builds (commit, date), the "
        "baseline ringed, and now.</figcaption>"
    )


@dataclass(frozen=True)
class _Point:
    commit: str
    day: str
    value: float | None
    baseline: bool = False
    now: bool = False


def _polyline(stretch: Sequence[tuple[float, float]]) -> str:
    if len(stretch) < 2:
        return ""
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in stretch)
    return f'<polyline class="line" points="{points}"/>'


def _svg(height: int, parts: Sequence[str]) -> str:
    return f'<svg class="plot" viewBox="0 0 {_WIDTH} {height}" role="img">{"".join(parts)}</svg>'


# The units that got worst


class Moved(NamedTuple):
    """One unit's value of a metric in the baseline and now: the mean over its repeats."""

    unit: str
    before: float
    after: float
    worse_by: float
    """How far it moved in the bad direction: positive when it got worse."""


def worst_units(baseline: Figures, now: Figures, key: str, count: int) -> list[Moved]:
    """The ``count`` units whose value of metric ``key`` got worst, worst first (ties by name):
    samples paired by unit, a unit's repeats averaged, units measured on one side left out.
    For ``run:failed_units`` a unit's value is 1 when it failed, else 0."""
    return _ranked(baseline, now, key, count)[0]


def _ranked(baseline: Figures, now: Figures, key: str, count: int) -> tuple[list[Moved], int, int]:
    """The ``count`` worst units, how many units were measured on both sides, and how many of
    them got worse."""
    metric = now.metrics.get(key) or baseline.metrics.get(key)
    if metric is None:
        return [], 0, 0
    before, after = _per_unit(baseline, key), _per_unit(now, key)
    sign = 1 if metric.better == "low" else -1
    worse_by = {unit: sign * (after[unit] - before[unit]) for unit in before.keys() & after.keys()}
    worse = [unit for unit, by in worse_by.items() if by > 0]
    worst = heapq.nsmallest(count, worse, key=lambda unit: (-worse_by[unit], unit))
    moved = [Moved(unit, before[unit], after[unit], worse_by[unit]) for unit in worst]
    return moved, len(worse_by), len(worse)


def _per_unit(figures: Figures, key: str) -> dict[str, float]:
    if key == FAILED_UNITS:
        failed = set(figures.failed_units)
        return {unit: float(unit in failed) for unit in figures.units}
    pairs = _pairs(figures.metrics.get(key))
    once = {unit: value for value, unit in pairs}
    if len(once) == len(pairs):
        return once  # no repeats, the common case: nothing to average
    samples: dict[str, list[float]] = {}
    for value, unit in pairs:
        samples.setdefault(unit, []).append(value)
    return {unit: _mean(values) for unit, values in samples.items()}


@dataclass(frozen=True)
class _Units:
    """A section's units that got worst, each with its images, baseline and now."""

    count: int
    outputs: Mapping[str, Mapping[str, Any]]
    images: _Images

    def html(self, row: Row, baseline: Figures, now: Figures) -> str:
        worst, measured, worse = _ranked(baseline, now, row.key, self.count)
        failed = " (1: the unit failed)" if row.key == FAILED_UNITS else ""
        about = (
            f"Of the {measured} units measured on both sides, {worse} got worse{failed}; "
            "a unit's repeats are averaged."
            if measured
            else "No unit was measured on both sides."
        )
        parts = [
            f"<h3>The units that got worst: {len(worst)}</h3>",
            f'<p class="note">{about}</p>',
        ]
        if worst:
            parts.append('<ol class="units">')
            parts.extend(self._unit(moved, baseline, now) for moved in worst)
            parts.append("</ol>")
        return "\n".join(parts)

    def _unit(self, moved: Moved, baseline: Figures, now: Figures) -> str:
        sides = [
            _run_images("baseline", baseline, moved.unit, self.outputs),
            _run_images("now", now, moved.unit, self.outputs),
        ]
        runs = " · ".join(
            f"{side.side}'s run <code>{_text(side.run)}</code>" for side in sides if side.run
        )
        wheres = list(dict.fromkeys(where for side in sides for where in side.found))
        pairs = [
            f'<div class="pair">{"".join(self._cell(side, where) for side in sides)}</div>'
            for where in wheres[:MAX_IMAGES_PER_UNIT]
        ]
        notes = [note for side in sides for note in side.notes]
        if len(wheres) > MAX_IMAGES_PER_UNIT:
            notes.append(f"…and {_counted(len(wheres) - MAX_IMAGES_PER_UNIT, 'more image')}.")
        change = html.escape(f"{moved.after - moved.before:+.4g}")
        return "\n".join(
            [
                f"<li><h4><code>{_text(moved.unit)}</code>: {_num(moved.before)} → "
                f"{_num(moved.after)} ({change})</h4>",
                f'<p class="note">{runs}</p>' if runs else "",
                *(f'<p class="note">{note}</p>' for note in notes),
                *pairs,
                "</li>",
            ]
        )

    def _cell(self, side: _RunImages, where: str) -> str:
        caption = f"<figcaption>{side.side} · <code>{_text(where)}</code></figcaption>"
        url = side.found.get(where)
        if url is None:
            missing = f"Not among the {side.side}'s images."
            return f'<figure>{caption}<p class="note">{missing}</p></figure>'
        copied = self.images.copy(url)
        if copied.src is None:
            return f'<figure>{caption}<p class="note">{copied.note}</p></figure>'
        alt = _text(f"{side.side}: {where}")
        return (
            f'<figure>{caption}<a href="{copied.src}"><img src="{copied.src}" alt="{alt}" '
            'loading="lazy"></a></figure>'
        )


@dataclass(frozen=True)
class _RunImages:
    """The image outputs of one side's run of a unit, by where they are in the outputs."""

    side: str
    run: str | None
    found: dict[str, str]
    notes: list[str]
    """HTML: why there is nothing to show, or what is not shown."""


def _run_images(
    side: str, figures: Figures, unit: str, outputs: Mapping[str, Mapping[str, Any]]
) -> _RunImages:
    runs = figures.runs.get(unit, [])
    if not runs:
        return _RunImages(
            side, None, {}, [f"{side.capitalize()}'s figures have no run of this unit."]
        )
    run = next((run for run in runs if run in outputs), None)
    if run is None:
        return _RunImages(side, runs[0], {}, [f"The {side}'s outputs are not at hand."])
    found: dict[str, str] = {}
    scriptable: list[str] = []
    for where, url in _assets(outputs[run]):
        suffix = _suffix(url)
        if suffix in _SCRIPTABLE:
            scriptable.append(where)
        elif suffix in IMAGE_SUFFIXES:
            found.setdefault(where, url)
    notes = []
    if scriptable:
        named = ", ".join(f"<code>{_text(where)}</code>" for where in scriptable[:3])
        more = f" and {len(scriptable) - 3} more" if len(scriptable) > 3 else ""
        notes.append(
            f"The {side}'s SVG outputs ({named}{more}) are not shown: SVG can hold script."
        )
    elif not found:
        notes.append(f"No image among the outputs of the {side}'s run.")
    return _RunImages(side, run, found, notes)


def _assets(outputs: Any) -> list[tuple[str, str]]:
    """Every asset in a run's outputs as (where, URL), in the outputs' order; walked without
    recursion and within a budget, whatever their depth and size."""
    found: list[tuple[str, str]] = []
    pending: list[tuple[str, Any]] = [("", outputs)]
    for _ in range(MAX_OUTPUT_NODES):
        if not pending:
            break
        where, value = pending.pop()
        children: list[tuple[str, Any]]
        if isinstance(value, Mapping):
            url = value.get("$asset")
            if isinstance(url, str):
                found.append((where or "(the output)", url))
                continue
            children = [
                (f"{where}.{key}" if where else str(key), child)
                for key, child in itertools.islice(value.items(), MAX_OUTPUT_NODES)
            ]
        elif isinstance(value, list | tuple):
            children = [
                (f"{where}[{i}]", child) for i, child in enumerate(value[:MAX_OUTPUT_NODES])
            ]
        else:
            continue
        pending.extend(reversed(children))
    return found


def _suffix(url: str) -> str:
    path = urlsplit(url).path if "://" in url else url
    return PurePosixPath(path).suffix.lower()


@dataclass(frozen=True)
class _Copied:
    src: str | None
    """The image's path relative to the page, when it was copied."""
    note: str = ""
    """HTML: why it was not."""


class _Images:
    """Copies image assets beside the page, each once, each and all within their bounds.

    A file is named by its content's hash and the type its bytes say it is, never by its URL:
    no user text reaches a ``src``, and what is not a PNG, JPEG, GIF, WebP or BMP (a page, a
    script, any file with an image's name) is never copied.
    """

    def __init__(self, folder: Path, budget: int) -> None:
        self.folder = folder / IMAGES
        self.left = budget
        self.budget = budget
        self.copied: dict[str, _Copied] = {}

    def copy(self, url: str) -> _Copied:
        if url not in self.copied:
            self.copied[url] = self._copy(url)
        return self.copied[url]

    def _copy(self, url: str) -> _Copied:
        shown = f"<code>{_text(url, MAX_TEXT)}</code>"
        spent = f"{shown} is not copied: the report's {_mib(self.budget)} for images are spent."
        if self.left <= 0:
            return _Copied(None, spent)
        try:
            with fsspec.open(url, "rb") as file:
                data = file.read(min(MAX_IMAGE_BYTES, self.left) + 1)
        except Exception as exc:  # any backend's failure to read is a note, never a lost report
            reason = _text(f"{type(exc).__name__}: {exc}", MAX_TEXT)
            return _Copied(None, f"{shown} could not be read ({reason}).")
        if len(data) > MAX_IMAGE_BYTES:
            return _Copied(None, f"{shown} is larger than {_mib(MAX_IMAGE_BYTES)}: not copied.")
        if len(data) > self.left:
            return _Copied(None, spent)
        kind = _sniff(data)
        if kind is None:
            return _Copied(None, f"{shown} is not a PNG, JPEG, GIF, WebP or BMP image.")
        name = f"{hashlib.sha256(data).hexdigest()[:32]}.{kind}"
        path = self.folder / name
        if not path.exists():
            self.folder.mkdir(exist_ok=True)
            path.write_bytes(data)
            self.left -= len(data)
        return _Copied(f"{IMAGES}/{name}")


def _sniff(data: bytes) -> str | None:
    """The image type of ``data`` by its signature."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    return None


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


# Figures


def _builds(trend: Sequence[Figures], baseline: Figures) -> tuple[list[Figures], int]:
    """Main's builds to draw, the baseline among them (as itself, so it can be marked), and how
    many of ``trend`` measured another corpus, whose figures do not compare."""
    same = [build for build in trend if build.corpus.content_hash == baseline.corpus.content_hash]
    builds = [
        baseline if (build.commit, build.made_at) == (baseline.commit, baseline.made_at) else build
        for build in same
    ]
    if baseline not in builds:
        builds.append(baseline)
    return builds[-MAX_TREND:], len(trend) - len(same)


def _samples(metric: MetricFigures | None) -> list[tuple[float, str]]:
    """The finite samples of ``metric`` with their units, in order of value."""
    return sorted(_pairs(metric), key=operator.itemgetter(0))


def _pairs(metric: MetricFigures | None) -> list[tuple[float, str]]:
    """The finite samples of ``metric`` with their units."""
    if metric is None:
        return []
    # Figures hold a unit per sample; a hand-made one short of units still draws every sample.
    units = itertools.chain(metric.units, itertools.repeat("?"))
    pairs = zip(metric.values, units, strict=False)
    if all(map(math.isfinite, metric.values)):
        return list(pairs)
    return [(value, unit) for value, unit in pairs if math.isfinite(value)]


def _spread(samples: list[tuple[float, str]], count: int) -> list[tuple[float, str]]:
    """At most ``count`` of the sorted ``samples``, evenly over them: the extremes included."""
    if len(samples) <= count:
        return samples
    last = len(samples) - 1
    return [samples[round(k * last / (count - 1))] for k in range(count)]


def _judged(metric: MetricFigures | None, kind: Kind) -> float | None:
    """The figure ``compare`` judges a side by, or None where it counts the metric absent."""
    if metric is None or not metric.values or not all(map(math.isfinite, metric.values)):
        return None
    return _quantile(sorted(metric.values), 0.5) if kind == "timing" else _mean(metric.values)


def _mean(values: Sequence[float]) -> float:
    try:
        return math.fsum(values) / len(values)
    except OverflowError:  # large finite samples: divided first, their sum stays finite
        return math.fsum(value / len(values) for value in values)


def _quantile(ordered: Sequence[float], q: float) -> float:
    at = q * (len(ordered) - 1)
    below = math.floor(at)
    above = min(below + 1, len(ordered) - 1)
    share = at - below
    return ordered[below] * (1 - share) + ordered[above] * share


# Text


def _text(text: str, limit: int = MAX_NAME) -> str:
    """``text`` as the page shows it: cut to ``limit`` characters, its control and format
    characters (newlines, bidirectional overrides, lone surrogates) replaced, escaped for
    content and quoted attributes alike."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text.isprintable():
        text = "".join("\ufffd" if _unprintable(c) else c for c in text)
    return html.escape(text, quote=True) if text else "(empty)"


def _unprintable(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")


def _short(commit: str) -> str:
    dirty = "+dirty" if commit.endswith("+dirty") and len(commit) > SHORT_COMMIT else ""
    return commit[:SHORT_COMMIT] + dirty


def _date(moment: datetime) -> str:
    zone = moment.tzname()
    return html.escape(f"{moment:%Y-%m-%d %H:%M}" + (f" {zone}" if zone else ""))


def _counted(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
