"""``@rb.module``: declare a function as a Rainbow module with a typed interface."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError
from rainbow.sdk.interface import inputs_of, outputs_of
from rainbow.spec.models import (
    MAX_RETRIES,
    MAX_TIMEOUT_S,
    NAME_MAX_LENGTH,
    NAME_PATTERN,
    ModuleInterface,
    is_count,
    is_duration,
)


@dataclass(frozen=True)
class ModuleRef:
    """Where a worker finds a module's code: an importable module (or file) and an attribute."""

    import_path: str
    attribute: str
    file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"import_path": self.import_path, "attribute": self.attribute, "file": self.file}


class PythonModule:
    """A module written as a Python function. Calling it calls the function, for unit tests."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        retries: int,
        timeout: float,
        retry_on: tuple[type[BaseException], ...],
        cache: bool = True,
    ) -> None:
        self.fn = fn
        self.retry_on = retry_on
        self.rainbow_interface = ModuleInterface(
            name=name,
            kind="python",
            inputs=inputs_of(fn, name),
            outputs=outputs_of(fn, name),
            retries=retries,
            timeout=timeout,
            cache=cache,
        )
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn

    @property
    def name(self) -> str:
        return self.rainbow_interface.name

    @property
    def ref(self) -> ModuleRef:
        code = getattr(self.fn, "__code__", None)
        return ModuleRef(
            import_path=self.fn.__module__,
            attribute=self.fn.__name__,
            file=code.co_filename if code else None,
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<rainbow module {self.name} ({self.fn.__module__}.{self.fn.__qualname__})>"


def module(
    name: str | None = None,
    *,
    retries: int = 3,
    timeout: float = 600.0,
    retry_on: tuple[type[BaseException], ...] = (),
    cache: bool = True,
) -> Callable[[Callable[..., Any]], PythonModule]:
    """Declare a module. ``retries`` and ``timeout`` are defaults a pipeline step may override.

    Any exception is retried up to the step's retries, except ``rb.PermanentError``. When
    ``retry_on`` lists exception types, only those (and ``rb.Retry``) are retried: any other
    exception fails the step at once, as a bug that retrying cannot fix. ``cache=False`` keeps
    a module whose outputs differ from run to run (sampling, the clock) out of the step cache.
    """

    def declare(fn: Callable[..., Any]) -> PythonModule:
        module_name = name or fn.__name__
        code = getattr(fn, "__code__", None)
        where = Location(file=code.co_filename, line=code.co_firstlineno) if code else Location()
        problems = []
        if not re.fullmatch(NAME_PATTERN, module_name) or len(module_name) > NAME_MAX_LENGTH:
            problems.append(
                Diagnostic(
                    "RB-E032",
                    f"module name {module_name!r} is not valid",
                    where,
                    "use lower case letters, digits, '_' and '-', starting with a letter or digit, "
                    f"at most {NAME_MAX_LENGTH} characters",
                )
            )
        if not is_count(retries) or not is_duration(timeout):
            problems.append(
                Diagnostic(
                    "RB-E032",
                    f"module {module_name!r}: retries must be 0 to {MAX_RETRIES} and timeout "
                    f"> 0 and at most {MAX_TIMEOUT_S:g} seconds (30 days)",
                    where,
                    "e.g. @rb.module(name=..., retries=3, timeout=120)",
                )
            )
        if problems:
            raise DiagnosticError(problems)
        return PythonModule(
            fn,
            name=module_name,
            retries=retries,
            timeout=float(timeout),
            retry_on=retry_on,
            cache=bool(cache),
        )

    return declare
