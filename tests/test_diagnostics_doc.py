"""Every diagnostic id is documented, and the docs list no id the code does not know."""

from __future__ import annotations

import re
from pathlib import Path

from rainbow.diagnostics import CATALOG

DOC = Path(__file__).resolve().parent.parent / "docs" / "diagnostics.md"


def test_docs_list_every_diagnostic_id() -> None:
    """docs/diagnostics.md has a section for each id in the catalog and no others."""
    documented = set(re.findall(r"^## (RB-[EW]\d{3})", DOC.read_text(), flags=re.MULTILINE))
    assert documented == set(CATALOG)


def test_every_catalogued_id_is_emitted_somewhere() -> None:
    """Each diagnostic id in the catalogue appears in the code outside the catalogue itself."""
    source = Path(__file__).resolve().parent.parent / "src" / "rainbow"
    code = "\n".join(p.read_text() for p in source.rglob("*.py") if p.name != "diagnostics.py")
    assert [code_id for code_id in CATALOG if code_id not in code] == []
