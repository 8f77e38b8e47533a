"""A comparison as GitHub-flavoured Markdown, for a pull-request comment or a chat message.

Names come from module code, corpus manifests and git, so they are hostile input: each is
shown in a code span (where Markdown, HTML, @mentions and links are inert), cut to a bounded
length, with its pipes escaped for the table and control and format characters (newlines,
bidirectional overrides) replaced. Tables are bounded too, to stay within a comment's size.
"""

from __future__ import annotations

from rainbow.evaluate.comparison import REGRESSIONS, Comparison, Identity, Row, Verdict
from rainbow.evaluate.shown import SHORT_COMMIT, bound, change, clean, counted, num

MAX_ROWS = 100
MAX_SWAPS = 20
"""Rows per table; the JSON result holds them all."""

_VERDICTS: dict[Verdict, str] = {
    "regression": "❌ regression",
    "missing": "❌ missing",
    "improvement": "✅ improvement",
    "unchanged": "unchanged",
    "new": "🆕 new",
}
_HEADER = (
    "| metric | baseline @ commit | now | change | bound | verdict |\n"
    "| --- | --: | --: | --: | --: | --- |"
)


def markdown(comparison: Comparison) -> str:
    changed = [row for row in comparison.rows if row.verdict != "unchanged"]
    unchanged = [row for row in comparison.rows if row.verdict == "unchanged"]
    parts = [_headline(comparison)]
    if changed:
        parts.append(_table(changed))
    if unchanged:
        parts.append(
            f"<details><summary>{len(unchanged)} unchanged</summary>\n\n"
            f"{_table(unchanged)}\n\n</details>"
        )
    return "\n\n".join(parts) + "\n"


def _headline(comparison: Comparison) -> str:
    regressions = comparison.count(*REGRESSIONS)
    missing = comparison.count("missing")
    failed = _counted(regressions, "regression", "regressions") or "no regression"
    counts = [
        failed + (f" ({missing} missing)" if missing else ""),
        _counted(comparison.count("improvement"), "improvement", "improvements"),
        _counted(comparison.count("unchanged"), "unchanged", "unchanged"),
        _counted(comparison.count("new"), "new metric", "new metrics"),
    ]
    mark = "❌" if comparison.regressed else "✅"
    shown = ", ".join(c for c in counts if c)
    now, base = comparison.now, comparison.baseline
    corpus = _code(f"{now.corpus.name}@{now.corpus.version}", cell=False)
    headline = f"{mark} {shown} — {_code(now.target, cell=False)} on {corpus} vs {_side(base)}"
    if now.overrides:
        swapped = ", ".join(_code(o, cell=False) for o in now.overrides[:MAX_SWAPS])
        headline += f"\n\nswapped: {swapped}"
    return headline


def _counted(count: int, one: str, many: str) -> str:
    """Nothing for none: the headline names only the verdicts it has."""
    return counted(count, one, many) if count else ""


def _side(identity: Identity) -> str:
    commit = _code(identity.commit[:SHORT_COMMIT], cell=False) if identity.commit else ""
    branch = _code(identity.branch, cell=False) if identity.branch else ""
    if commit:
        return f"{branch} @ {commit}" if branch else commit
    return branch or f"the baseline of {identity.made_at:%Y-%m-%d %H:%M}"


def _table(rows: list[Row]) -> str:
    lines = [_HEADER, *(_line(row) for row in rows[:MAX_ROWS])]
    if len(rows) > MAX_ROWS:
        lines.append(f"\n…and {len(rows) - MAX_ROWS} more in the JSON result")
    return "\n".join(lines)


def _line(row: Row) -> str:
    commit = row.baseline_commit[:SHORT_COMMIT]
    baseline = num(row.baseline) + (
        f" @ {_code(commit)}" if commit and row.baseline is not None else ""
    )
    cells = [
        _code(row.key),
        baseline,
        num(row.now),
        change(row),
        bound(row),
        _VERDICTS[row.verdict],
    ]
    return f"| {' | '.join(cells)} |"


def _code(text: str, *, cell: bool = True) -> str:
    """``text`` as an inert code span that, in a table ``cell``, cannot break out of it."""
    text = clean(text)
    if not text:
        return "(empty)"
    fence = "`" * (_longest_run(text, "`") + 1)
    # GFM splits table cells before it parses code spans: only an escaped pipe stays inside.
    escaped = text.replace("|", "\\|") if cell else text
    # The parser strips one space from each end: padding lets the text begin or end with a
    # backtick or a space of its own.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{escaped}{pad}{fence}"


def _longest_run(text: str, char: str) -> int:
    longest = run = 0
    for c in text:
        run = run + 1 if c == char else 0
        longest = max(longest, run)
    return longest
