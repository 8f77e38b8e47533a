"""The ``rainbow`` Typer application, its consoles, and how user errors are shown."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.text import Text

from rainbow import settings as rb_settings
from rainbow.cli import render
from rainbow.errors import DiagnosticError, ModuleLoadError, PlatformError, RainbowError, UserError
from rainbow.private import private_folder

app = typer.Typer(
    name="rainbow",
    help="Ship research code as versioned, retried, observable pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
# Messages are never wrapped mid-path: users copy file:line from them.
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

ModulesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--modules",
        "-m",
        help="Where module code lives: an import path, a .py file or a command module .toml "
        "(repeatable). Modules the pipeline file imports are found without it.",
    ),
]


OverrideOption = Annotated[
    list[str] | None,
    typer.Option(
        "--override",
        help="NAME=SOURCE: every step of module NAME runs SOURCE instead: a version "
        "(NAME@1.3, NAME@branch-fix) or local code (a file, folder or import path); repeatable",
    ),
]


def user_errors(command: F) -> F:
    """Show Rainbow's errors as messages with hints, never as Rainbow's own traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DiagnosticError as exc:
            render.diagnostics(err, exc.diagnostics)
            raise typer.Exit(2) from None
        except ModuleLoadError as exc:
            _say(f"error {exc.code}", exc.message)
            if exc.user_traceback:
                err.print(exc.user_traceback.rstrip(), markup=False, highlight=False)
            _hint(exc.hint)
            raise typer.Exit(2) from None
        except UserError as exc:
            _say(f"error {exc.code}" if exc.code else "error", exc.message)
            _hint(exc.hint)
            raise typer.Exit(2) from None
        except RainbowError as exc:  # PlatformError and the rest: Rainbow's side, not the user's
            _say("error", str(exc))
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception:
            report = crash_report()
            err.print(
                "[red]internal error:[/red] Rainbow failed in a way it should not. "
                f"The details are in {report}; please attach that file to a bug report."
            )
            raise typer.Exit(70) from None

    return wrapper  # type: ignore[return-value]


def _say(label: str, message: str) -> None:
    # Messages quote TOML tables and paths: brackets in them are text, never rich markup.
    err.print(Text.assemble((f"{label}:", "red"), " ", message), highlight=False)


def _hint(hint: str | None) -> None:
    if hint:
        err.print(Text(f"    hint: {hint}", style="dim"), highlight=False)


def crash_report() -> Path:
    context = click.get_current_context(silent=True)
    settings = context.find_object(rb_settings.Settings) if context else None
    report = f"argv: {sys.argv}\n\n{traceback.format_exc()}"
    if settings is None:
        # A crash while reading the settings has no home to report into.
        descriptor, name = tempfile.mkstemp(prefix="rainbow-crash-", suffix=".txt")
        with os.fdopen(descriptor, "w") as file:
            file.write(report)
        return Path(name)
    logs_dir = settings.store.logs_dir
    private_folder(logs_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
    path = logs_dir / f"crash-{stamp}-{os.getpid()}.txt"
    path.write_text(report)
    return path


@app.callback()
@user_errors
def read_settings(ctx: typer.Context) -> None:
    # Read once for the whole invocation, so every part of it acts on the same values and a bad
    # one is reported once, before any work starts. Help needs no settings: it shows whatever
    # the environment holds.
    if not _asks_for_help(ctx):
        ctx.obj = rb_settings.from_env()


def _asks_for_help(ctx: typer.Context) -> bool:
    return any(word in ctx.help_option_names for word in sys.argv[1:])


def settings_of(ctx: typer.Context) -> rb_settings.Settings:
    """The settings the root callback read for this invocation."""
    settings = ctx.find_object(rb_settings.Settings)
    if settings is None:
        raise RuntimeError("the settings are read by the root callback, which did not run")
    return settings


def unknown_run(run_id: str) -> UserError:
    return UserError(
        f"no run {run_id!r} in the store",
        code="RB-E050",
        hint="`rainbow runs` lists run ids; RAINBOW_DATABASE_URL picks the store",
    )


def write_file(path: Path, data: str | bytes) -> None:
    try:
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: {exc.strerror}", hint="check the folder exists"
        ) from None


def read_store(settings: rb_settings.Settings) -> Any:
    """Where `rainbow runs` and `rainbow show` read: the control plane's API when RAINBOW_URL
    is set, else the store itself."""
    if settings.client.url:
        from rainbow.cli.remote import ControlPlane, RemoteStore

        return RemoteStore(ControlPlane(settings.client))
    store = open_store(settings.store)
    from rainbow.engine.interrupted import close_abandoned_runs

    # Whoever looks closes what a dead process left running, so what they see is true.
    with contextlib.suppress(PlatformError):  # a read-only store still answers reads
        close_abandoned_runs(store, datetime.now(UTC))
    return store


def store_exists(settings: rb_settings.StoreSettings) -> bool:
    """Whether the store may hold anything: a SQLite file nobody has made holds nothing, and
    making one (migrating it) only to look would slow every command that looks."""
    url = settings.database_url
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists()


def open_store(settings: rb_settings.StoreSettings) -> Any:
    """The run store, with the conductor's tables (instances) readable too."""
    from rainbow.control.django_setup import open_ledger

    return open_ledger(settings.database_url)
