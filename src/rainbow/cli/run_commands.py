"""Commands on runs: run, runs, show, migrate."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rainbow import settings as rb_settings
from rainbow.cli import render
from rainbow.cli.app import (
    ModulesOption,
    OverrideOption,
    app,
    err,
    open_store,
    out,
    read_store,
    settings_of,
    unknown_run,
    user_errors,
)
from rainbow.cli.targets import (
    Loaded,
    load,
    refuse_retired,
    registry_lookup,
    registry_of,
    require_code,
    with_overrides,
)
from rainbow.engine.workunits import WorkUnit
from rainbow.errors import UserError
from rainbow.spec.models import PipelineSpec

if TYPE_CHECKING:
    from rainbow.engine.local import ReleasedCode
    from rainbow.evaluate.corpus.opened import OpenedCorpus


@app.command()
@user_errors
def run(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="FILE.py[:FUNC] or SPEC.json")],
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="One work unit: UNIT.json")
    ] = None,
    corpus: Annotated[
        str | None, typer.Option("--corpus", help="A corpus: a folder of work units, or its URL")
    ] = None,
    modules: ModulesOption = None,
    engine: Annotated[str, typer.Option(help="local (embedded) or celery")] = "local",
    wait: Annotated[
        bool, typer.Option(help="celery: follow the runs to the end (local runs always do)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON")] = False,
    workers: Annotated[
        int | None, typer.Option(min=1, help="local: worker processes (default: one per core)")
    ] = None,
    cache: Annotated[
        bool,
        typer.Option(
            help="local: reuse the outputs of steps already run with the same code and inputs"
        ),
    ] = True,
    override: OverrideOption = None,
    strict_versions: Annotated[
        bool,
        typer.Option(
            help="local: run pins (name@X.Y) from their released builds, never from local code"
        ),
    ] = False,
) -> None:
    """Run work units through a pipeline; exit 0 only if every run succeeded."""
    from rainbow.engine.workunits import load_corpus, load_unit

    if engine not in ("local", "celery"):
        raise UserError(f"unknown engine {engine!r}", hint="use --engine local or --engine celery")
    if (input_file is None) == (corpus is None):
        raise UserError("give exactly one of --input UNIT.json or --corpus DIR")
    settings = settings_of(ctx)
    lookup = registry_lookup(settings)
    loaded = load(target, modules or [], limits=settings.spec, registered=lookup)
    loaded, _ = with_overrides(loaded, override or [], registered=lookup)
    render.diagnostics(err, loaded.warnings)
    spec = loaded.spec
    if input_file is not None:
        units = [load_unit(input_file, spec)]
    else:
        units = load_corpus(corpus_folder(corpus, settings), spec)  # type: ignore[arg-type]
    store = open_store(settings.store)
    refuse_retired(spec, store.retired_versions())
    # A SIGTERM (CI cancelling, `timeout`, an orchestrator) stops runs as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    with counted_runs(spec.name, len(units), quiet=as_json) as advance:
        if engine == "local":
            run_ids = run_locally(
                loaded, units, store, settings, workers, strict_versions, advance, cache=cache
            )
        else:
            run_ids = run_on_celery(spec, units, store, settings, wait=wait, advance=advance)
    details = [store.get_run(run_id) for run_id in run_ids]
    if as_json:
        for detail in details:
            sys.stdout.write(json.dumps(render.outcome_json(detail)) + "\n")
    else:
        summaries = [d.summary for d in details]
        title = f"{spec.name} ({spec.spec_hash[7:19]}): {len(details)} run(s)"
        out.print(render.runs_table(summaries, title=title, with_pipeline=False))
        summary = render.metric_summary(summaries)
        if summary is not None:
            out.print(summary)
        out.print(
            f"outputs: {settings.execution.assets_url}/<run>/  ·  "
            f"logs: {settings.store.logs_dir / 'rainbow.log'}"
            "  ·  details: rainbow show <run>",
            highlight=False,
            soft_wrap=True,
        )
    if engine == "celery" and not wait:
        return
    if any(d.summary.status != "succeeded" for d in details):
        raise typer.Exit(1)


RUN_STATUSES = ("pending", "running", "succeeded", "failed", "timed_out", "cancelled")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def corpus_folder(location: str, settings: rb_settings.Settings) -> Path:
    """The corpus's local folder: a URL's fetched into the cache and checked file by file, a
    folder's checked against its manifest; a folder without one runs as it is, with a note."""
    return opened_corpus(location, settings).folder


def opened_corpus(location: str, settings: rb_settings.Settings) -> OpenedCorpus:
    from rainbow.evaluate.corpus.opened import open_corpus

    opened = open_corpus(location, settings.store.corpora)
    if opened.note:
        _note(f"note: {opened.note}")
    return opened


@contextmanager
def counted_runs(name: str, total: int, *, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A progress bar of ``total`` runs; the function it gives counts one run's end."""
    progress = progress_of(name, quiet=quiet)
    with progress:
        bar = progress.add_task("runs", total=total, failed=0)
        failures = 0

        def advance(status: str) -> None:
            nonlocal failures
            failures += status != "succeeded"
            progress.update(bar, advance=1, failed=failures)

        yield advance


def progress_of(name: str, *, quiet: bool) -> Progress:
    return Progress(
        TextColumn(f"[bold]{name}[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
        transient=False,
    )


def run_locally(
    loaded: Loaded,
    units: list[WorkUnit],
    store: Any,
    settings: rb_settings.Settings,
    workers: int | None,
    strict_versions: bool,
    advance: Callable[[str], None],
    *,
    cache: bool = True,
) -> list[str]:
    from rainbow.engine.local import LocalEngine, LocalOptions
    from rainbow.engine.machine import RetryPolicy
    from rainbow.observe import logging as rblog
    from rainbow.observe import metrics

    released = _released_builds(loaded, settings, strict_versions)
    stand_ins = require_code(loaded, strict_versions=strict_versions, released=released.keys())
    if stand_ins:
        err.print(
            f"note: running local code for {', '.join(stand_ins)} (local runs use the code at "
            "hand for pinned versions; --strict-versions refuses this)",
            style="dim",
            highlight=False,
        )
    log_file = settings.store.logs_dir / "rainbow.log"
    rblog.configure(log_file=log_file)
    execution = settings.execution
    options = LocalOptions(
        workers=workers or LocalOptions().workers,
        assets_url=execution.assets_url,
        work_root=settings.store.work_root,
        log_file=log_file,
        retry=RetryPolicy(base_delay=execution.retry_base_delay),
        max_output_bytes=execution.max_output_bytes,
        lease_s=execution.local_lease_s,
        cache=cache,
    )
    engine = LocalEngine(
        store,
        loaded.modules,
        options,
        on_finish=lambda o: advance(o.status),
        observe=metrics.observe,
        released=released,
    )
    return [outcome.run_id for outcome in engine.run(loaded.spec, units)]


def _released_builds(
    loaded: Loaded, settings: rb_settings.Settings, strict_versions: bool
) -> dict[tuple[str, str], ReleasedCode]:
    """Released builds for the steps local code does not stand for: modules without code
    here, and with --strict-versions every pin but latest."""
    from rainbow.deploy.pinned import released_builds

    pins = {
        (s.module, s.version)
        for s in loaded.spec.steps
        if s.module not in loaded.modules or (strict_versions and s.version != "latest")
    }
    if not pins:
        return {}
    return released_builds(registry_of(settings), pins, settings.release.cache, say=_note)


def _note(line: str) -> None:
    err.print(line, style="dim", highlight=False)


def run_on_celery(
    spec: PipelineSpec,
    units: list[WorkUnit],
    store: Any,
    settings: rb_settings.Settings,
    *,
    wait: bool,
    advance: Callable[[str], None],
) -> list[str]:
    from rainbow.engine.celery.app import declare_shared_queues, make_app
    from rainbow.engine.celery.client import submit
    from rainbow.engine.celery.client import wait as wait_for

    app = make_app(settings.broker.url)
    declare_shared_queues(app)
    run_ids = submit(app, store, spec, units)
    if wait:

        def stalled() -> None:
            err.print(
                "no run has started after 15 s: is `rainbow conductor` running against the same "
                f"store ({settings.store.database_url.split('?')[0]}) and broker "
                "(RAINBOW_BROKER_URL)?",
                style="yellow",
                highlight=False,
            )

        wait_for(
            store, run_ids, on_finish=lambda summary: advance(summary.status), on_stall=stalled
        )
    return run_ids


@app.command()
@user_errors
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="How many runs, newest first")] = 20,
    status: Annotated[
        str | None, typer.Option(help=f"Only runs with this status: {', '.join(RUN_STATUSES)}")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List recent runs."""
    if status is not None and status not in RUN_STATUSES:
        raise UserError(f"no run status {status!r}", hint=f"statuses are {', '.join(RUN_STATUSES)}")
    store = read_store(settings_of(ctx))
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
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run id (as `rainbow runs` lists)")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One run: its steps, attempts, errors with tracebacks, durations and metrics."""
    store = read_store(settings_of(ctx))
    detail = store.get_run(run_id)
    if detail is None:
        raise unknown_run(run_id)
    from rainbow.engine.waiting import waiting_reasons

    waiting = waiting_reasons(detail, store.instances(), datetime.now(UTC))
    if as_json:
        shown = {**render.detail_json(detail), "waiting": waiting}
        sys.stdout.write(json.dumps(shown, indent=2) + "\n")
        return
    out.print(render.run_detail(detail, waiting))


@app.command()
@user_errors
def migrate(ctx: typer.Context) -> None:
    """Create or upgrade the run store's tables (SQLite by default)."""
    from rainbow.control.django_setup import configure, ensure_migrated

    store = settings_of(ctx).store
    configure(store.database_url)
    ensure_migrated()
    out.print(f"store ready: {store.database_url}", highlight=False)
