"""How the evaluation's results show figures and names, alike in the Markdown summary and the
HTML report: numbers to four significant digits, a row's change and bound, counts, short commits,
and names cut and cleaned.

Names come from module code, corpus manifests and git, so they are hostile input: each is cut
to a bounded length and its control and format characters are replaced here; each format then
makes it inert its own way (``page_text`` escapes it for HTML, ``summary`` puts it in a Markdown
code span).
"""

from __future__ import annotations

import unicodedata

from rainbow.evaluate.comparison import Row

MAX_NAME = 80
SHORT_COMMIT = 7


def num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def change(row: Row) -> str:
    """How ``row``'s value moved: by how much, relatively, and the rank test's p for timings."""
    if row.change is None:
        return "—"
    text = f"{row.change:+.4g}"
    if row.relative_change is not None:
        text += f" ({row.relative_change:+.1%})"
    if row.p_value is not None:
        text += f", p={row.p_value:.2g}"
    return text


def bound(row: Row) -> str:
    """How much worse ``row``'s value may get (signed the bad way), and where the bound is from."""
    if row.bound is None:
        return "—"
    worse = "−" if row.better == "high" else "+"
    text = f"{worse}{row.bound:.4g}"
    if row.factor is not None:
        text += f" (×{row.factor:.3g})"
    return f"{text}, {row.bound_source}" if row.bound_source else text


def counted(count: int, one: str, many: str = "") -> str:
    """``count`` of what ``one`` names, ``many`` (by default ``one`` with an s) unless just 1."""
    return f"{count} {one if count == 1 else many or one + 's'}"


def short(commit: str) -> str:
    """A commit by its first characters, still marked ``+dirty`` when it was."""
    dirty = "+dirty" if commit.endswith("+dirty") and len(commit) > SHORT_COMMIT else ""
    return commit[:SHORT_COMMIT] + dirty


def cut(text: str, limit: int = MAX_NAME) -> str:
    """``text`` in at most ``limit`` characters, the last an ellipsis where it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean(text: str, limit: int = MAX_NAME) -> str:
    """``text`` cut to ``limit`` characters, its control and format characters (newlines,
    bidirectional overrides, zero widths, lone surrogates) replaced."""
    text = cut(text, limit)
    if text.isprintable():  # no control, format or separator but the space: nothing to replace
        return text
    return "".join("\ufffd" if _unprintable(c) else c for c in text)


def _unprintable(char: str) -> bool:
    """Controls, format characters (bidirectional overrides, zero widths) and line breaks."""
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")
