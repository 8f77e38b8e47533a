"""The Markdown summary of a comparison: headline, changed rows first, unchanged folded, and
names that cannot break out of their table cell."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from rainbow.evaluate.compare import compare
from rainbow.evaluate.figures import Figures, MetricFigures
from rainbow.evaluate.shown import MAX_NAME
from rainbow.evaluate.summary import MAX_ROWS, markdown
from tests.evaluate.test_compare import figures, metric, timing, timings


def render(text: str) -> str:
    """HTML as GitHub would make of it (CommonMark with GFM tables)."""
    return MarkdownIt("commonmark").enable("table").render(text)


def cells(html: str) -> list[list[str]]:
    """The cells of every body row in the rendered HTML."""
    rows = re.findall(r"<tr>\n(.*?)</tr>", html, flags=re.DOTALL)
    return [
        re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL) for row in rows if "<td" in row
    ]


def typical() -> str:
    baseline = figures(
        metric("segment.floor_iou", [0.912]),
        metric("segment.wall_count", [4.0]),
        metric("run:failed_units", [1.0], better="low"),
        timing("run:duration_s", timings(1.0)),
    )
    now = figures(
        metric("segment.floor_iou", [0.871]),
        metric("segment.wall_count", [4.0]),
        metric("run:failed_units", [0.0], better="low"),
        timing("run:duration_s", timings(1.0)),
        metric("segment.doors", [2.0]),
        commit="fff0000",
    )
    return markdown(compare(baseline, now))


def test_the_headline_counts_verdicts_and_names_both_sides() -> None:
    """One line: the mark, the counts, the target and corpus, the baseline's branch and commit."""
    headline = typical().splitlines()[0]
    assert headline == (
        "❌ 1 regression, 1 improvement, 2 unchanged, 1 new metric"
        " — `room-scan` on `room-scan@1` vs `main` @ `abc1234`"
    )


def test_changed_rows_come_first_and_unchanged_are_folded() -> None:
    """The regression, improvement and new rows make the first table; unchanged sit in details."""
    text = typical()
    visible, folded = text.split("<details>")
    assert [row[0] for row in cells(render(visible))] == [
        "<code>segment.floor_iou</code>",
        "<code>run:failed_units</code>",
        "<code>segment.doors</code>",
    ]
    assert "<summary>2 unchanged</summary>" in folded
    assert [row[0] for row in cells(render(folded))] == [
        "<code>run:duration_s</code>",
        "<code>segment.wall_count</code>",
    ]
    assert folded.rstrip().endswith("</details>")


def test_a_row_shows_baseline_at_commit_now_change_bound_and_verdict() -> None:
    """Each row has the six columns, in the issue's order."""
    html = render(typical())
    assert "<th>metric</th>" in html
    assert re.search(r"<th[^>]*>baseline @ commit</th>", html)
    first = cells(html)[0]
    assert first == [
        "<code>segment.floor_iou</code>",
        "0.912 @ <code>abc1234</code>",
        "0.871",
        "-0.041 (-4.5%)",
        "−0.00912, default",
        "❌ regression",
    ]
    new = cells(html)[2]
    assert new[1:4] == ["—", "2", "—"]


def test_timing_rows_show_the_p_value_and_factor() -> None:
    """A timing row's change carries its p-value, its bound the factor."""
    text = markdown(
        compare(
            figures(timing("run:duration_s", timings(1.0))),
            figures(timing("run:duration_s", timings(1.5))),
        )
    )
    [row] = cells(render(text))
    assert re.fullmatch(r"\+0\.5 \(\+50\.0%\), p=\S+", row[3])
    assert row[4] == "+0.1 (×1.1), default"


def test_no_regression_is_a_green_headline() -> None:
    """Without regressions the mark is ✅ and the headline says so; no details without unchanged."""
    text = markdown(compare(figures(metric("s.m", [0.5])), figures(metric("s.m", [0.9]))))
    assert text.startswith("✅ no regression, 1 improvement — ")
    assert "<details>" not in text


def test_missing_metrics_count_among_regressions() -> None:
    """A missing metric is a regression in the headline, and said to be missing."""
    text = markdown(compare(figures(metric("s.m", [0.5])), figures()))
    assert text.startswith("❌ 1 regression (1 missing) — ")
    [row] = cells(render(text))
    assert row[2:] == ["—", "—", "—", "❌ missing"]


def test_a_baseline_outside_git_is_named_by_its_date() -> None:
    """Without commit or branch the baseline is named by when it was made."""
    bare = figures(commit="").model_copy(update={"branch": ""})
    assert markdown(compare(bare, bare)).startswith("✅ no regression — `room-scan` on ")
    assert "vs the baseline of 2026-12-01 00:00" in markdown(compare(bare, bare))


HOSTILE = [
    "a|b",
    "a\\|b",
    "back`tick",
    "``fence``",
    "`edge",
    "line\nbreak",
    "<script>alert(1)</script>",
    "@everyone #1 [x](http://evil)",
    "rtl\u202eoverride",
    "x" * 500,
]


def hostile_figures(commit: str) -> Figures:
    metrics = [
        MetricFigures(
            key=f"{name}.{name}",
            step=name,
            name=name,
            better="high",
            units=["u"],
            values=[float(i)],
        )
        for i, name in enumerate(HOSTILE)
    ]
    return figures(*metrics, commit=commit)


def test_hostile_names_stay_inside_their_cells() -> None:
    """Pipes, backticks, newlines, HTML, mentions and bidi overrides in names and commits
    neither split a cell nor render as anything but code; long names are cut."""
    text = markdown(compare(hostile_figures("|`<b>\n"), hostile_figures("|`<b>\n")))
    html = render(text)
    rows = cells(html)
    assert len(rows) == len(HOSTILE)
    assert all(len(row) == 6 for row in rows)
    assert "<script>" not in html
    assert "<b>" not in html
    assert "<a " not in html
    assert "\u202e" not in text
    headline = render(text.splitlines()[0])
    assert "@ <code>|`&lt;b&gt;\ufffd</code></p>" in headline
    shown = sorted(row[0] for row in rows)
    assert "<code>a|b.a|b</code>" in shown
    assert "<code>a\\|b.a\\|b</code>" in shown
    assert "<code>back`tick.back`tick</code>" in shown
    assert "<code>``fence``.``fence``</code>" in shown
    assert "<code>`edge.`edge</code>" in shown
    assert "<code>line\ufffdbreak.line\ufffdbreak</code>" in shown
    assert (
        "<code>&lt;script&gt;alert(1)&lt;/script&gt;.&lt;script&gt;alert(1)&lt;/script"
        in " ".join(shown)
    )
    longest = max(len(line) for line in text.splitlines())
    assert longest < 3 * MAX_NAME + 200
    assert any(row[0] == f"<code>{'x' * (MAX_NAME - 1)}…</code>" for row in rows)


def test_large_comparisons_are_bounded() -> None:
    """At most MAX_ROWS rows a table; the rest are counted and left to the JSON result."""
    many = [metric(f"s.m{i:03}", [float(i)]) for i in range(MAX_ROWS + 5)]
    text = markdown(compare(figures(*many), figures(*many)))
    assert len(cells(render(text))) == MAX_ROWS
    assert "…and 5 more in the JSON result" in text
