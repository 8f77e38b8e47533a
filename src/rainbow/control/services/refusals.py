"""Why the control plane refuses a request: each refusal carries the HTTP status it maps to.

They are :class:`UserError` s, so the CLI shows them like any other mistake; the REST API answers
them with their status and a problem body (:func:`rainbow.control.web.problems.problem_body`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rainbow.diagnostics import Diagnostic
from rainbow.errors import UserError


class Refused(UserError):
    status = 400

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        diagnostics: Sequence[Diagnostic] = (),
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        self.diagnostics = list(diagnostics)


class Forbidden(Refused):
    """The user's role does not allow it."""

    status = 403


class NotFound(Refused):
    status = 404


class Conflict(Refused):
    """Allowed in general, but not in the current state (e.g. not approved enough yet)."""

    status = 409


class Invalid(Refused):
    """The request's content is wrong (a spec that does not wire, an unknown interface field)."""

    status = 422
