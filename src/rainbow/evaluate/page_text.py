"""Text as the HTML report shows it: names cut and cleaned (``shown``), then escaped for HTML
content and quoted attributes alike, so that none becomes markup.
"""

from __future__ import annotations

import html

from rainbow.evaluate.shown import MAX_NAME, clean

MAX_TEXT = 400
"""Explanations and notes: they quote names and URLs."""


def text(text: str, limit: int = MAX_NAME) -> str:
    """``text`` as the page shows it: cut to ``limit`` characters, its control and format
    characters (newlines, bidirectional overrides, lone surrogates) replaced, escaped for
    content and quoted attributes alike."""
    text = clean(text, limit)
    return html.escape(text, quote=True) if text else "(empty)"
