"""The one shape of every refusal the API answers, whichever layer answers it (a view, the
middleware, the authentication): ``{"detail", "hint", "diagnostics"}``, and ``code`` when the
refusal has a diagnostic id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rainbow.diagnostics import Diagnostic


def problem_body(
    detail: str,
    hint: str | None = None,
    diagnostics: Sequence[dict[str, Any]] = (),
    code: str | None = None,
) -> dict[str, Any]:
    body = {"detail": detail, "hint": hint, "diagnostics": list(diagnostics)}
    return body if code is None else {**body, "code": code}


def diagnostic_body(diagnostic: Diagnostic) -> dict[str, Any]:
    return {
        "code": diagnostic.code,
        "severity": diagnostic.severity,
        "message": diagnostic.message,
        "where": diagnostic.location.json_path,
        "hint": diagnostic.hint,
    }
