"""``rainbow``: compile, validate, draw and run pipelines; list and show runs."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rainbow import settings as rb_settings
from rainbow.cli import render
from rainbow.cli.targets import load, require_code
from rainbow.errors import DiagnosticError, ModuleLoadError, PlatformError, RainbowError, UserError

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
            err.print(f"[red]error RB-E030:[/red] {exc.message}")
            if exc.user_traceback:
                err.print(exc.user_traceback.rstrip(), markup=False, highlight=False)
            if exc.hint:
                err.print(f"    hint: {exc.hint}", style="dim")
            raise typer.Exit(2) from None
        except UserError as exc:
            err.print(f"[red]error:[/red] {exc.message}", highlight=False)
            if exc.hint:
                err.print(f"    hint: {exc.hint}", style="dim")
            raise typer.Exit(2) from None
        except PlatformError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None
        except RainbowError as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception:
            report = _crash_report()
            err.print(
                "[red]internal error:[/red] Rainbow failed in a way it should not. "
                f"The details are in {report}; please attach that file to a bug report."
            )
            raise typer.Exit(70) from None

    return wrapper  # type: ignore[return-value]


def _crash_report() -> Path:
    settings = rb_settings.from_env()
    settings.logs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
    path = settings.logs_dir / f"crash-{stamp}-{os.getpid()}.txt"
    path.write_text(f"argv: {sys.argv}\n\n{traceback.format_exc()}")
    return path


def _write(path: Path, data: str | bytes) -> None:
    try:
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: {exc.strerror}", hint="check the folder exists"
        ) from None


def _store(settings: rb_settings.Settings) -> Any:
    from rainbow.control.django_setup import open_store

    return open_store(settings.database_url)


@app.command("compile")
@user_errors
def compile_command(
    target: Annotated[str, typer.Argument(help="FILE.py[:FUNC] holding the pipeline")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the spec here (default stdout)")
    ] = None,
    modules: ModulesOption = None,
) -> None:
    """Compile a pipeline to canonical JSON (sorted keys, stable step order, spec_hash)."""
    from rainbow.spec.canonical import dumps

    loaded = load(target, modules or [])
    render.diagnostics(err, loaded.warnings)
    text = dumps(loaded.spec)
    if output is None:
        sys.stdout.write(text)
        return
    _write(output, text)
    err.print(
        f"wrote {output} ({loaded.spec.name}, {len(loaded.spec.steps)} steps, "
        f"{loaded.spec.spec_hash[:19]})",
        highlight=False,
    )


@app.command()
@user_errors
def validate(
    spec_file: Annotated[Path, typer.Argument(help="A compiled SPEC.json")],
    modules: ModulesOption = None,
) -> None:
    """Check a JSON spec against the shipped JSON Schema and the wiring rules."""
    if spec_file.suffix != ".json":
        raise UserError(
            f"{spec_file} is not a .json spec",
            hint="compile a pipeline file with `rainbow compile`",
        )
    loaded = load(str(spec_file), modules or [])
    render.diagnostics(err, loaded.warnings)
    spec = loaded.spec
    out.print(f"[green]ok[/green] {spec.name} ({len(spec.steps)} steps, {spec.spec_hash[:19]})")


@app.command()
@user_errors
def graph(
    target: Annotated[str, typer.Argument(help="FILE.py[:FUNC] or SPEC.json")],
    output: Annotated[Path, typer.Option("-o", "--output", help="OUT.svg, .png, .pdf or .dot")],
    modules: ModulesOption = None,
) -> None:
    """Draw the pipeline's DAG."""
    from rainbow.dsl.graph import render as draw

    loaded = load(target, modules or [])
    _write(output, draw(loaded.spec, output.suffix.lstrip(".").lower()))
    err.print(f"wrote {output}", highlight=False)


@app.command()
@user_errors
def run(
    target: Annotated[str, typer.Argument(help="FILE.py[:FUNC] or SPEC.json")],
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="One work unit: UNIT.json")
    ] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", help="A folder of work units")] = None,
    modules: ModulesOption = None,
    engine: Annotated[str, typer.Option(help="local (embedded) or celery")] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON")] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes (default: one per core)")
    ] = None,
    strict_versions: Annotated[
        bool,
        typer.Option(help="Refuse pins (name@X.Y) that only the local code could stand for"),
    ] = False,
) -> None:
    """Run work units through a pipeline; exit 0 only if every run succeeded."""
    from rainbow.engine.local import LocalEngine, LocalOptions
    from rainbow.engine.machine import RetryPolicy
    from rainbow.engine.workunits import load_corpus, load_unit
    from rainbow.observe import logging as rblog

    if engine != "local":
        raise UserError(
            f"engine {engine!r} is not available in this version",
            hint="use --engine local (the embedded default)",
        )
    if (input_file is None) == (corpus is None):
        raise UserError("give exactly one of --input UNIT.json or --corpus DIR")
    settings = rb_settings.from_env()
    loaded = load(target, modules or [])
    render.diagnostics(err, loaded.warnings)
    stand_ins = require_code(loaded, strict_versions=strict_versions)
    if stand_ins and not as_json:
        err.print(
            f"note: running local code for {', '.join(stand_ins)} (no registry holds these "
            "versions; --strict-versions refuses this)",
            style="dim",
            highlight=False,
        )
    spec = loaded.spec
    units = [load_unit(input_file, spec)] if input_file else load_corpus(corpus, spec)  # type: ignore[arg-type]
    store = _store(settings)
    rblog.configure(log_file=settings.logs_dir / "rainbow.log")
    options = LocalOptions(
        workers=workers or LocalOptions().workers,
        assets_url=settings.assets_url,
        work_root=settings.home / "work",
        log_file=settings.logs_dir / "rainbow.log",
        retry=RetryPolicy(base_delay=settings.retry_base_delay),
    )
    progress = Progress(
        TextColumn(f"[bold]{spec.name}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=err,
        disable=as_json,
        transient=False,
    )
    with progress:
        bar = progress.add_task("runs", total=len(units), failed=0)
        failures = 0

        def advance(outcome: Any) -> None:
            nonlocal failures
            failures += outcome.status != "succeeded"
            progress.update(bar, advance=1, failed=failures)

        outcomes = LocalEngine(store, loaded.modules, options, on_finish=advance).run(spec, units)
    if as_json:
        for outcome in outcomes:
            sys.stdout.write(
                json.dumps(
                    {
                        "run_id": outcome.run_id,
                        "unit": outcome.unit,
                        "status": outcome.status,
                        "reason": outcome.reason,
                        "outputs": outcome.outputs,
                        "steps": [
                            {"id": s.id, "status": s.status, "attempts": s.attempts}
                            for s in outcome.steps
                        ],
                    }
                )
                + "\n"
            )
    else:
        summaries = [store.get_run(o.run_id).summary for o in outcomes]
        title = f"{spec.name} ({spec.spec_hash[7:19]}): {len(outcomes)} run(s)"
        out.print(render.runs_table(summaries, title=title, with_pipeline=False))
        summary = render.metric_summary(summaries)
        if summary is not None:
            out.print(summary)
        out.print(
            f"outputs: {settings.assets_url}/<run>/  ·  logs: {settings.logs_dir / 'rainbow.log'}"
            "  ·  details: rainbow show <run>",
            highlight=False,
            soft_wrap=True,
        )
    if any(o.status != "succeeded" for o in outcomes):
        raise typer.Exit(1)


@app.command()
@user_errors
def runs(
    limit: Annotated[int, typer.Option(help="How many runs, newest first")] = 20,
    status: Annotated[str | None, typer.Option(help="Only runs with this status")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List recent runs."""
    store = _store(rb_settings.from_env())
    found = store.list_runs(limit=limit, status=status)
    if as_json:
        for run_summary in found:
            sys.stdout.write(
                json.dumps(
                    {
                        "run_id": run_summary.run_id,
                        "pipeline": run_summary.pipeline,
                        "unit": run_summary.unit,
                        "status": run_summary.status,
                        "duration_s": run_summary.duration_s,
                        "reason": run_summary.reason,
                    }
                )
                + "\n"
            )
        return
    if not found:
        out.print("no runs yet: try `rainbow run FILE.py --input UNIT.json`")
        return
    out.print(render.runs_table(found))


@app.command()
@user_errors
def show(
    run_id: Annotated[str, typer.Argument(help="The run id (as `rainbow runs` lists)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One run: its steps, attempts, errors with tracebacks, durations and metrics."""
    store = _store(rb_settings.from_env())
    detail = store.get_run(run_id)
    if detail is None:
        raise UserError(
            f"no run {run_id!r} in the store (RB-E050)",
            hint="`rainbow runs` lists run ids; RAINBOW_DATABASE_URL picks the store",
        )
    if as_json:
        sys.stdout.write(json.dumps(render.detail_json(detail), indent=2) + "\n")
        return
    out.print(render.run_detail(detail))


@app.command()
@user_errors
def migrate() -> None:
    """Create or upgrade the run store's tables (SQLite by default)."""
    from rainbow.control.django_setup import configure
    from rainbow.control.django_setup import migrate as run_migrations

    settings = rb_settings.from_env()
    configure(settings.database_url)
    run_migrations()
    out.print(f"store ready: {settings.database_url}", highlight=False)


def main() -> None:
    app()
