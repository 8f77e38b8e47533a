"""The HTML report of a comparison: the header and table, the units that got worst with their
images side by side, notes where outputs are missing, hostile names kept inert, a page that
stays small for a large corpus, and a real browser rendering it under its own strict policy."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from rainbow.evaluate import report
from rainbow.evaluate.compare import compare
from rainbow.evaluate.comparison import Comparison
from rainbow.evaluate.figures import FAILED_UNITS, Better, CorpusRef, Figures, Kind, MetricFigures
from rainbow.evaluate.plots import MAX_DOTS
from rainbow.evaluate.report import CSP, write_html
from rainbow.evaluate.worst import worst_units
from tests.browser.test_admin_browser import chromium

__all__ = ["chromium"]  # the fixture, imported for the browser test

CORPUS = CorpusRef(name="rooms", version="3", content_hash="sha256:" + "c" * 64)
UNITS = [f"u{i}" for i in range(6)]
START = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real RGB PNG, from the standard library alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def metric(
    key: str,
    per_unit: dict[str, float | list[float]],
    *,
    better: Better = "high",
    kind: Kind = "quality",
) -> MetricFigures:
    """A metric's samples, a list for a unit's repeats."""
    step, _, name = key.partition(":") if key.startswith("run:") else key.rpartition(".")
    units: list[str] = []
    values: list[float] = []
    for unit, value in per_unit.items():
        repeats = value if isinstance(value, list) else [value]
        units += [unit] * len(repeats)
        values += repeats
    return MetricFigures(
        key=key, step=step, name=name, better=better, kind=kind, units=units, values=values
    )


def figures(
    *metrics: MetricFigures,
    side: str = "b",
    commit: str = "abc1234def",
    branch: str = "main",
    made_at: datetime = START,
    units: list[str] = UNITS,
    corpus: CorpusRef = CORPUS,
    target: str = "room-scan",
    failed: list[str] | None = None,
) -> Figures:
    """Figures whose unit ``u`` ran as ``{side}-{u}``."""
    return Figures(
        target=target,
        spec_hash="sha256:" + "b" * 64,
        corpus=corpus,
        commit=commit,
        branch=branch,
        made_at=made_at,
        units=units,
        failed_units=failed or [],
        runs={unit: [f"{side}-{unit}"] for unit in units},
        metrics={m.key: m for m in metrics},
    )


def typical() -> tuple[Figures, Figures, Comparison]:
    """floor_iou regresses: u0 and u4 fall by 0.5, u3 (two repeats) by 0.25, u1 by 0.125, u2
    rises; error_px regresses too (lower is better); the duration does not move."""
    one = dict.fromkeys(UNITS, 1.0)
    baseline = figures(
        metric("segment.floor_iou", dict(one)),
        metric("segment.error_px", dict(one), better="low"),
        metric("run:duration_s", dict.fromkeys(UNITS, 2.0), better="low", kind="timing"),
    )
    floor: dict[str, float | list[float]] = {
        "u0": 0.5,
        "u1": 0.875,
        "u2": 1.25,
        "u3": [0.5, 1.0],
        "u4": 0.5,
        "u5": 1.0,
    }
    now = figures(
        metric("segment.floor_iou", floor),
        metric("segment.error_px", one | {"u1": 3.0, "u2": 2.0}, better="low"),
        metric("run:duration_s", dict.fromkeys(UNITS, 2.0), better="low", kind="timing"),
        side="n",
        commit="fff0000aaa",
        branch="feature/walls",
        made_at=START + timedelta(days=2),
    )
    return baseline, now, compare(baseline, now)


class Page(HTMLParser):
    """Every start tag with its attributes, and the text, of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def attributes(self, name: str) -> list[str]:
        return [attrs[name] or "" for _, attrs in self.tags if name in attrs]


def section(page: str, key: str) -> str:
    """The HTML of the section whose heading names ``key``."""
    for part in page.split('<section id="m-')[1:]:
        if f"<h2><code>{key}</code>" in part:
            return part.split("</section>")[0]
    raise AssertionError(f"no section for {key}")


def units_shown(html: str) -> list[str]:
    return re.findall(r"<li><h4><code>(.*?)</code>", html)


def test_the_page_names_both_sides_and_tables_every_metric(tmp_path: Path) -> None:
    """report.html holds the target, corpus, both sides with dates, the counts by verdict and
    the comparison table in the comparison's order, with the Markdown's six columns."""
    baseline, now, comparison = typical()
    path = write_html(tmp_path / "out", comparison, baseline, now)
    assert path == tmp_path / "out" / "report.html"
    page = path.read_text()
    assert "<code>room-scan</code>: 2 regressed" in page
    assert "<code>rooms@3</code>" in page
    assert (
        "baseline <code>main</code> @ <code>abc1234</code> (2026-12-01 09:30 UTC) vs now "
        "<code>feature/walls</code> @ <code>fff0000</code> (2026-12-03 09:30 UTC)"
    ) in page
    assert '<span class="verdict v-regression">2 regressions</span>' in page
    assert '<span class="verdict v-unchanged">1 unchanged</span>' in page
    headers = re.findall(r"<th[^>]*>(.*?)</th>", page)
    assert headers == ["metric", "baseline @ commit", "now", "change", "bound", "verdict"]
    keys = re.findall(r'<tr><td><a href="#m-\d+"><code>(.*?)</code>', page)
    assert keys == [row.key for row in comparison.rows]
    assert keys[-1] == "run:duration_s"
    first = re.findall(r"<td[^>]*>(.*?)</td>", page)[:6]
    assert first == [
        '<a href="#m-0"><code>segment.error_px</code></a>',
        "1 @ <code>abc1234</code>",
        "1.5",
        "+0.5 (+50.0%)",
        "+0.01, default",
        '<span class="verdict v-regression">regression</span>',
    ]


def test_the_worst_units_are_those_that_moved_most_the_bad_way(tmp_path: Path) -> None:
    """Paired by unit, repeats averaged, ties by name; a rise is no loss, and for a lower-is-
    better metric the units that rose are the worst."""
    baseline, now, comparison = typical()
    worst = worst_units(baseline, now, "segment.floor_iou", 3)
    assert [(m.unit, m.before, m.after, m.worse_by) for m in worst] == [
        ("u0", 1.0, 0.5, 0.5),
        ("u4", 1.0, 0.5, 0.5),
        ("u3", 1.0, 0.75, 0.25),
    ]
    assert [m.unit for m in worst_units(baseline, now, "segment.floor_iou", 10)] == [
        "u0",
        "u4",
        "u3",
        "u1",
    ]
    assert [m.unit for m in worst_units(baseline, now, "segment.error_px", 10)] == ["u1", "u2"]
    page = write_html(tmp_path, comparison, baseline, now, worst=3).read_text()
    assert units_shown(section(page, "segment.floor_iou")) == ["u0", "u4", "u3"]
    assert "<code>u3</code>: 1 → 0.75 (-0.25)" in page
    assert "Of the 6 units measured on both sides, 4 got worse" in page
    assert units_shown(section(page, "segment.error_px")) == ["u1", "u2"]
    assert units_shown(section(page, "run:duration_s")) == []  # a timing, and unchanged


def test_with_no_regression_the_metrics_that_moved_show_their_worst_units(tmp_path: Path) -> None:
    """Nothing regressed: each quality metric whose value moved, within its bound or better,
    still shows the units that got worse; an unmoved one shows none."""
    baseline = figures(
        metric("segment.iou", dict.fromkeys(UNITS, 0.5)),
        metric("segment.walls", dict.fromkeys(UNITS, 4.0)),
    )
    now = figures(
        metric("segment.iou", dict.fromkeys(UNITS, 0.75) | {"u2": 0.25}),
        metric("segment.walls", dict.fromkeys(UNITS, 4.0)),
        side="n",
    )
    page = write_html(tmp_path, compare(baseline, now), baseline, now).read_text()
    assert units_shown(section(page, "segment.iou")) == ["u2"]
    assert "units that got worst" not in section(page, "segment.walls")


def test_newly_failed_units_are_the_worst_of_failed_units(tmp_path: Path) -> None:
    """A regression of run:failed_units shows the units that failed now and did not before."""
    baseline = figures(metric(FAILED_UNITS, {"*": 1.0}, better="low"), failed=["u5"])
    now = figures(
        metric(FAILED_UNITS, {"*": 3.0}, better="low"), side="n", failed=["u5", "u3", "u1"]
    )
    page = write_html(tmp_path, compare(baseline, now), baseline, now).read_text()
    assert units_shown(section(page, FAILED_UNITS)) == ["u1", "u3"]
    assert "(1: the unit failed)" in page


def assets(tmp_path: Path) -> dict[str, Any]:
    """Outputs of the baseline's and now's runs: a red and a green mask of u0, a view list."""
    folder = tmp_path / "assets"
    folder.mkdir()
    made = {}
    for name, colour in [("b-mask", (200, 0, 0)), ("n-mask", (0, 160, 0)), ("view", (0, 0, 9))]:
        made[name] = folder / f"{name}.png"
        made[name].write_bytes(png(8, 6, colour))
    return {
        "b-u0": {
            "mask": {"$asset": str(made["b-mask"])},
            "views": [{"$asset": made["view"].as_uri()}],
            "score": 0.5,
        },
        "n-u0": {"mask": {"$asset": str(made["n-mask"])}, "debug": {"$asset": "/x/y.npy"}},
    }


def test_image_outputs_are_copied_and_shown_side_by_side(tmp_path: Path) -> None:
    """Each image of a worst unit's runs is copied under images/ with a generated name, shown
    by a relative src, baseline beside now for the same output, and copied once."""
    baseline, now, comparison = typical()
    outputs = assets(tmp_path)
    folder = tmp_path / "report"
    page = write_html(folder, comparison, baseline, now, outputs=outputs).read_text()
    sources = Page(page).attributes("src")
    assert sources
    assert all(re.fullmatch(r"images/[0-9a-f]{32}\.png", src) for src in sources)
    copied = sorted(p.name for p in (folder / "images").iterdir())
    assert copied == sorted({Path(src).name for src in sources})
    assert len(copied) == 3
    shown = {(folder / src).read_bytes() for src in sources}
    assert shown == {png(8, 6, colour) for colour in [(200, 0, 0), (0, 160, 0), (0, 0, 9)]}
    u0 = section(page, "segment.floor_iou").split("<li>")[1]
    [pair] = [p for p in u0.split('<div class="pair">')[1:] if "<code>mask</code>" in p]
    baseline_src, now_src = re.findall(r'<img src="([^"]+)"', pair)
    assert (folder / baseline_src).read_bytes() == png(8, 6, (200, 0, 0))
    assert (folder / now_src).read_bytes() == png(8, 6, (0, 160, 0))
    assert "baseline · <code>mask</code>" in pair
    assert "now · <code>mask</code>" in pair
    assert "Not among the now's images." in u0  # views[0]: only the baseline has it
    assert "baseline's run <code>b-u0</code> · now's run <code>n-u0</code>" in u0


def test_what_cannot_be_shown_becomes_a_note(tmp_path: Path) -> None:
    """A missing file, a run without outputs, a unit without a run, an SVG, a page named .png
    and an image over 20 MiB are each a note on the page; none stops the report."""
    baseline, now, comparison = typical()
    folder = tmp_path / "assets"
    folder.mkdir()
    (folder / "page.png").write_text("<html><script>alert(1)</script></html>")
    (folder / "huge.png").write_bytes(png(1, 1, (0, 0, 0)) + bytes(21 * 2**20))
    (folder / "drawing.svg").write_text("<svg onload='alert(1)'/>")
    outputs = {
        "b-u0": {"mask": {"$asset": str(folder / "gone.png")}},
        "n-u0": {"mask": {"$asset": str(folder / "page.png")}},
        "b-u4": {"mask": {"$asset": str(folder / "huge.png")}},
        "n-u4": {"overlay": {"$asset": str(folder / "drawing.svg")}},
        "n-u3": {"count": 3},
    }
    now.runs.pop("u1")
    page = write_html(
        tmp_path / "report", comparison, baseline, now, outputs=outputs, worst=4
    ).read_text()
    notes = " ".join(re.findall(r'<p class="note">(.*?)</p>', section(page, "segment.floor_iou")))
    assert "gone.png</code> could not be read (FileNotFoundError" in notes
    assert "page.png</code> is not a PNG, JPEG, GIF, WebP or BMP image." in notes
    assert "huge.png</code> is larger than 20 MiB: not copied." in notes
    assert "SVG outputs (<code>overlay</code>) are not shown: SVG can hold script." in notes
    assert "No image among the outputs of the now's run." in notes  # u3
    assert "The baseline's outputs are not at hand." in notes
    assert "Now's figures have no run of this unit." in notes  # u1
    assert "<img" not in page
    assert not (tmp_path / "report" / "images").exists()


def test_the_images_stop_at_their_total_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the report's budget for images is spent, the next image is a note, not a copy."""
    baseline, now, comparison = typical()
    outputs = assets(tmp_path)
    monkeypatch.setattr(report, "MAX_IMAGES_BYTES", len(png(8, 6, (0, 0, 0))) + 10)
    page = write_html(tmp_path / "r", comparison, baseline, now, outputs=outputs).read_text()
    assert len(list((tmp_path / "r" / "images").iterdir())) == 1
    assert "is not copied: the report's" in page


HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


def hostile_report(tmp_path: Path) -> tuple[str, Path]:
    """A report whose every name is an attack, with a 10,000-character unit name."""
    long_unit = "L" * 5_000  # far past what the page shows; within what figures may hold
    bad_unit = HOSTILE + "\u202e\n"
    units = [bad_unit, long_unit, "u2"]
    corpus = CorpusRef(name=HOSTILE, version="</code>1", content_hash="sha256:" + HOSTILE)
    key = f"{HOSTILE}.{HOSTILE}"

    def side(values: dict[str, float], name: str, commit: str) -> Figures:
        made = figures(
            metric(key, dict(values)),
            side=name,
            commit=commit,
            branch=HOSTILE,
            units=units,
            corpus=corpus,
            target=HOSTILE,
        )
        made.runs = {unit: [f"{name}{HOSTILE}{i}"] for i, unit in enumerate(units)}
        return made

    baseline = side(dict.fromkeys(units, 1.0), "b", HOSTILE)
    now = side({bad_unit: 0.0, long_unit: 0.5, "u2": 1.0}, "n", "'onmouseover='x")
    image = tmp_path / f"{HOSTILE}.png".replace("/", "_")
    image.write_bytes(png(3, 3, (9, 9, 9)))
    outputs = {
        f"b{HOSTILE}0": {HOSTILE: {"$asset": str(image)}, "u": {"$asset": "javascript:x.png"}},
        f"n{HOSTILE}0": {HOSTILE: {"$asset": f"{tmp_path}/{HOSTILE}.gif"}},
    }
    trend = [baseline.model_copy(update={"made_at": START - timedelta(days=1)}), baseline]
    folder = tmp_path / "report"
    comparison = compare(baseline, now)
    path = write_html(folder, comparison, baseline, now, trend=trend, outputs=outputs)
    return path.read_text(), folder


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4", "p",
    "code", "span", "div", "table", "tr", "th", "td", "a", "section", "figure", "figcaption",
    "svg", "g", "line", "rect", "circle", "polyline", "text", "ol", "li", "img",
}  # fmt: skip


def test_hostile_names_stay_text(tmp_path: Path) -> None:
    """Names, commits, branches, corpus, units, run ids, output names and URLs that hold markup
    are escaped and cut: no script, no new tag or attribute, sources and links only generated."""
    page, folder = hostile_report(tmp_path)
    parsed = Page(page)
    assert "<script" not in page.lower()
    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS
    attributes = {name for _, attrs in parsed.tags for name in attrs}
    assert attributes <= {
        "lang", "charset", "http-equiv", "content", "name", "class", "href", "id", "src",
        "alt", "loading", "viewbox", "role", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy",
        "r", "width", "height", "points", "text-anchor",
    }  # fmt: skip
    assert all(re.fullmatch(r"images/[0-9a-f]{32}\.png", src) for src in parsed.attributes("src"))
    assert len(parsed.attributes("src")) == 1
    assert all(
        re.fullmatch(r"#m-\d+|images/[0-9a-f]{32}\.png", href) for href in parsed.attributes("href")
    )
    assert all(re.fullmatch(r"[a-z -]+", css) for css in parsed.attributes("class"))
    text = "".join(parsed.text)
    assert HOSTILE in text  # shown, as text
    assert "L" * 80 not in text and "L" * 79 + "…" in text
    assert "\u202e" not in page
    assert "javascript:x.png" in text  # named in a note, never a source
    assert list((folder / "images").iterdir())


def test_the_page_fetches_nothing_and_runs_nothing(tmp_path: Path) -> None:
    """No script, no external URL, no style attribute, no link; the policy is declared."""
    baseline, now, comparison = typical()
    page = write_html(tmp_path, comparison, baseline, now, outputs=assets(tmp_path)).read_text()
    parsed = Page(page)
    assert not re.search(r"https?:|//", page)
    assert not {"script", "link", "iframe", "object", "embed", "base", "form"} & {
        tag for tag, _ in parsed.tags
    }
    assert not parsed.attributes("style")
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": CSP}) in parsed.tags
    assert CSP.startswith("default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'")


def test_the_trend_marks_the_baseline_and_ends_with_now(tmp_path: Path) -> None:
    """Main's builds (oldest first, the baseline found by its commit and time, one on another
    corpus left out) are drawn with their commits, the baseline ringed and now last."""
    baseline, now, comparison = typical()
    older = [
        figures(
            metric("segment.floor_iou", dict.fromkeys(UNITS, value)),
            commit=f"{i}" * 10,
            made_at=START - timedelta(days=10 - i),
        )
        for i, value in [(1, 0.8), (2, 0.9)]
    ]
    other = figures(corpus=CORPUS.model_copy(update={"content_hash": "sha256:" + "d" * 64}))
    trend = [other, *older, baseline.model_copy()]
    page = write_html(tmp_path, comparison, baseline, now, trend=trend).read_text()
    assert "1 of main's builds measured another corpus" in page
    plot = section(page, "segment.floor_iou").split("<svg")[2]
    labels = re.findall(r'<text x="[\d.]+" y="134" text-anchor="middle">(.*?)</text>', plot)
    assert labels == ["1111111", "2222222", "abc1234", "now"]
    values = re.findall(r"<title>([^<]*)</title></circle>", plot)
    assert values == [
        "1111111 (11-22): 0.8",
        "2222222 (11-23): 0.9",
        "abc1234 (12-01): 1",
        f"now: {now.metrics['segment.floor_iou'].mean:.4g}",
    ]
    assert plot.count('class="ring"') == 1
    assert ">baseline</text>" in plot
    assert "over main's last 3 builds" in plot
    assert (
        "No earlier builds of main were given"
        in write_html(tmp_path, comparison, baseline, now).read_text()
    )


def test_a_metric_on_one_side_only_is_drawn_with_the_other_absent(tmp_path: Path) -> None:
    """A new and a missing metric each get their section, the absent side said so."""
    baseline = figures(metric("segment.old", dict.fromkeys(UNITS, 1.0)))
    now = figures(metric("segment.new", dict.fromkeys(UNITS, 1.0)), side="n")
    page = write_html(tmp_path, compare(baseline, now), baseline, now).read_text()
    assert 'y="80">absent</text>' in section(page, "segment.old")
    assert 'y="34">absent</text>' in section(page, "segment.new")


def test_the_page_stays_small_for_a_large_corpus(tmp_path: Path) -> None:
    """10,000 units, 120 metrics that all regress, 30 builds of trend: the dots, the sections and
    the worst units are bounded, and the page stays under 3 MB."""
    units = [f"unit-{i:05d}-{'x' * 60}" for i in range(10_000)]
    keys = [f"step{i}.metric" for i in range(120)]

    def side(shift: float, name: str, made_at: datetime, measured: list[str] = keys) -> Figures:
        values = {unit: (i % 97) / 97 + shift for i, unit in enumerate(units)}
        return figures(
            *(metric(key, dict(values)) for key in measured),
            side=name,
            units=units,
            made_at=made_at,
        )

    baseline = side(0.0, "b", START)
    now = side(-0.5, "n", START + timedelta(days=1))
    # Earlier builds measured a few of the metrics: the others' trends are the baseline alone.
    trend = [side(0.01 * i, "b", START - timedelta(days=30 - i), keys[:3]) for i in range(29)]
    comparison = compare(baseline, now)
    page = write_html(tmp_path, comparison, baseline, now, trend=[*trend, baseline]).read_text()
    assert len(page.encode()) < 3_000_000
    assert page.count('<section id="m-') == report.MAX_SECTIONS
    assert "…and 20 more metrics in the JSON result." in page
    first = section(page, keys[0])
    distribution = first.split("<svg")[1]
    assert distribution.count("<circle") == 2 * MAX_DOTS
    assert len(units_shown(first)) == 5
    assert "The baseline's outputs are not at hand." in first


@pytest.mark.slow
def test_chromium_renders_the_page_under_its_policy(tmp_path: Path, chromium: Any) -> None:
    """Opened from file:// in headless Chromium: no console error (a policy violation is one),
    every image decoded, and every section's plots drawn."""
    baseline, now, _ = typical()
    extreme = {"u0": -1.7e308, "u1": 1.7e308}
    baseline.metrics["segment.extreme"] = metric("segment.extreme", extreme)
    now.metrics["segment.extreme"] = metric("segment.extreme", extreme)
    outputs = assets(tmp_path)
    outputs["n-u4"] = {"mask": {"$asset": str(tmp_path / "missing.png")}}
    trend = [
        figures(
            metric("segment.floor_iou", dict.fromkeys(UNITS, 0.9)),
            made_at=START - timedelta(days=5),
        ),
        baseline,
    ]
    path = write_html(
        tmp_path / "report", compare(baseline, now), baseline, now, trend=trend, outputs=outputs
    )
    (tmp_path / "hostile").mkdir()
    hostile_report(tmp_path / "hostile")
    page = chromium.new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    for opened in (path, tmp_path / "hostile" / "report" / "report.html"):
        page.goto(opened.as_uri())
        page.wait_for_load_state("load")
        images = page.locator("img")
        for index in range(images.count()):
            images.nth(index).scroll_into_view_if_needed()
        page.wait_for_function("[...document.images].every((image) => image.complete)")
        widths = page.evaluate("[...document.images].map((image) => image.naturalWidth)")
        assert widths and all(width > 0 for width in widths), widths
        sections = page.locator("section").count()
        assert sections and page.locator("section svg.plot").count() >= sections
        assert page.evaluate("document.scripts.length") == 0
        assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert HOSTILE in page.inner_text("h1")  # the hostile page, its target shown as text
    assert not [m for m in messages if m.startswith(("error", "pageerror"))], messages
    assert not [m for m in messages if "Content Security Policy" in m], messages
