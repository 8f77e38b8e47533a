"""The exceptions Rainbow raises, and the two a module may raise to steer retries.

Every exception Rainbow raises derives from :class:`RainbowError`; the tree is shallow and
classifies by what happens next::

    RainbowError
    ├── UserError              the user's input is wrong; fix it and try again (CLI exit 2)
    │   ├── DiagnosticError    carries every Diagnostic found, not just the first
    │   └── ModuleLoadError    a module or pipeline file could not be imported
    ├── PlatformError          Rainbow or its environment failed (CLI exit 1)
    │   └── StoreRefused       the store is up but refuses these changes (their content)
    └── StepError              raised *by module code* to steer the engine
        ├── Retry              try this step again after ``delay`` seconds
        ├── PermanentError     do not retry: the input can never succeed
        └── StepTimeout        a ``ctx.timeout`` block ran past its budget
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rainbow.diagnostics import Diagnostic


class RainbowError(Exception):
    """Root of every exception Rainbow raises."""


class UserError(RainbowError):
    """Something the user wrote or asked for is wrong; the message says what to change."""

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.message = message
        self.hint = hint
        self.code = code
        """The diagnostic id (``RB-E051``) when the mistake has one in docs/diagnostics.md."""


class DiagnosticError(UserError):
    """A check found problems; ``diagnostics`` holds all of them, errors and warnings."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        shown = errors or self.diagnostics
        summary = "\n".join(d.render() for d in shown)
        super().__init__(f"{len(errors)} error(s):\n{summary}")


class ModuleLoadError(UserError):
    """A pipeline or module file could not be imported; the user's traceback is attached."""

    def __init__(self, message: str, *, hint: str | None = None, user_traceback: str = "") -> None:
        super().__init__(message, hint=hint, code="RB-E030")
        self.user_traceback = user_traceback


class PlatformError(RainbowError):
    """Rainbow itself or a service it relies on failed; retrying later may help."""


class StoreRefused(PlatformError):
    """The store is reachable but refused a write because of what it holds (a value it cannot
    store, a change naming a row it lacks): retrying the same write can never succeed, so the
    executor narrows it to the run at fault instead of stopping."""


class StepError(RainbowError):
    """Base of the exceptions module code raises to tell the engine what to do next."""


class Retry(StepError):
    """Ask for this step to be attempted again after ``delay`` seconds (within its retry policy)."""

    def __init__(self, message: str = "retry requested", *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(StepError):
    """The step can never succeed for this input: fail it now without using its retries."""


class StepTimeout(StepError):
    """A ``ctx.timeout(name, seconds)`` block, or the step itself, ran past its budget."""

    def __init__(self, name: str, seconds: float) -> None:
        super().__init__(f"timeout {name!r} exceeded its budget of {seconds:g}s")
        self.name = name
        self.seconds = seconds
