"""A comparison as an HTML page, for researchers who would rather look than read: per metric
the samples before and after, the trend over main's builds, and the units that got worst with
their output images side by side.

The page is one file, ``report.html``, beside the images it copies into ``images/``: SVG drawn
inline, styles in one ``<style>`` element, no JavaScript and nothing fetched, so it opens
offline, from a CI artifact and under the strict Content-Security-Policy it declares itself.
Names, commits, branches, URLs and outputs come from module code, manifests and git: hostile
input, shown only as escaped, bounded text; attributes, styles and URLs hold generated text
alone (numbers, anchors, the images' file names). The page stays a few MB whatever the corpus:
plots draw a bounded sample of the dots over a box of all of them, tables and sections are cut.

Here is the page, its table and a section per metric; ``plots`` draws the SVG, ``worst`` the
units that got worst, whose images ``images`` finds and copies.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rainbow.evaluate import plots
from rainbow.evaluate.comparison import REGRESSIONS, Comparison, Identity, Row, Verdict
from rainbow.evaluate.figures import Figures
from rainbow.evaluate.images import Images
from rainbow.evaluate.page_text import MAX_TEXT, text
from rainbow.evaluate.shown import bound, change, counted, num, short
from rainbow.evaluate.worst import WorstUnits

REPORT = "report.html"
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
MAX_ROWS = 500
"""Rows of the comparison table; the JSON result holds them all."""
MAX_SECTIONS = 100
"""Metrics drawn, in the comparison's order (regressions first)."""
MAX_TREND = 50
"""Builds of main in a trend, the newest."""
MAX_WORST = 50
MAX_IMAGES_BYTES = 200 * 2**20
"""All the images one report copies."""

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
    units = WorstUnits(count, outputs, Images(folder, MAX_IMAGES_BYTES)) if count else None
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
            f'<p class="note">…and {counted(more, "more metric")} in the JSON result.</p>'
        )
    title = f"Evaluation of {text(comparison.now.target)}"
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
        f'<span class="verdict v-{verdict}">{counted(n, one, many)}</span>'
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
        f"<header><h1>Evaluation of <code>{text(now.target)}</code>: {verdict}</h1>"
        f'<p class="meta">on corpus <code>{text(corpus)}</code> '
        f"(<code>{text(now.corpus.content_hash, 20)}</code>)</p>"
        f'<p class="meta">baseline {_side(base)} vs now {_side(now)}</p>'
        f'<p class="counts">{counts or "no metric"}</p>{left_out}</header>'
    )


def _side(identity: Identity) -> str:
    commit = f"<code>{text(short(identity.commit))}</code>" if identity.commit else ""
    branch = f"<code>{text(identity.branch)}</code>" if identity.branch else ""
    named = " @ ".join(part for part in (branch, commit) if part) or "(no commit)"
    return f"{named} ({_date(identity.made_at)})"


def _table(rows: Sequence[Row]) -> str:
    header = (
        '<tr><th>metric</th><th class="n">baseline @ commit</th><th class="n">now</th>'
        '<th class="n">change</th><th class="n">bound</th><th>verdict</th></tr>'
    )
    lines = [_line(index, row) for index, row in enumerate(rows[:MAX_ROWS])]
    more = (
        f'<p class="note">…and {counted(len(rows) - MAX_ROWS, "more row")} in the JSON result.</p>'
        if len(rows) > MAX_ROWS
        else ""
    )
    return f'<div class="wide"><table>{header}{"".join(lines)}</table></div>{more}'


def _line(index: int, row: Row) -> str:
    key = f"<code>{text(row.key)}</code>"
    if index < MAX_SECTIONS:
        key = f'<a href="#m-{index}">{key}</a>'
    commit = short(row.baseline_commit)
    at = f" @ <code>{text(commit)}</code>" if commit and row.baseline is not None else ""
    cells = [
        f"<td>{key}</td>",
        f'<td class="n">{num(row.baseline)}{at}</td>',
        f'<td class="n">{num(row.now)}</td>',
        f'<td class="n">{html.escape(change(row))}</td>',
        f'<td class="n">{html.escape(bound(row))}</td>',
        f"<td>{_verdict(row.verdict)}</td>",
    ]
    return f"<tr>{''.join(cells)}</tr>"


def _verdict(verdict: Verdict) -> str:
    return f'<span class="verdict v-{_VERDICTS[verdict]}">{_VERDICTS[verdict]}</span>'


# A metric's section


def _section(
    index: int,
    row: Row,
    baseline: Figures,
    now: Figures,
    builds: list[Figures] | None,
    units: WorstUnits | None,
) -> str:
    before, after = baseline.metrics.get(row.key), now.metrics.get(row.key)
    judged = "median" if row.kind == "timing" else "mean"
    trend = (
        '<p class="note">No earlier builds of main were given: no trend.</p>'
        if builds is None
        else plots.trend(row, builds, baseline, after)
    )
    parts = [
        f'<section id="m-{index}">',
        f"<h2><code>{text(row.key)}</code> {_verdict(row.verdict)}</h2>",
        f"<p>{text(row.explanation, MAX_TEXT)}.</p>",
        '<div class="plots">',
        f"<figure>{plots.distribution(row, before, after)}<figcaption>Samples, baseline and "
        "now: the box spans the quartiles, the whiskers the range, the dark bar is the "
        f"{judged}; at most {plots.MAX_DOTS} dots a side, evenly over the sorted samples."
        "</figcaption></figure>",
        f"<figure>{trend}</figure>",
        "</div>",
    ]
    if units is not None:
        parts.append(units.html(row, baseline, now))
    parts.append("</section>")
    return "\n".join(parts)


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


# Text


def _date(moment: datetime) -> str:
    zone = moment.tzname()
    return html.escape(f"{moment:%Y-%m-%d %H:%M}" + (f" {zone}" if zone else ""))
