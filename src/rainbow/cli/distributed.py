"""Commands of the distributed engine: serve a module version, conduct runs."""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from rainbow import settings as rb_settings
from rainbow.cli.app import (
    ModulesOption,
    app,
    err,
    open_store,
    out,
    settings_of,
    store_exists,
    unknown_run,
    user_errors,
)
from rainbow.cli.targets import registry_of
from rainbow.diagnostics import Diagnostic, Location
from rainbow.errors import DiagnosticError, UserError
from rainbow.sdk.catalog import AnyModule, load_modules

MetricsPort = Annotated[
    int | None,
    typer.Option(min=1, max=65535, help="Serve Prometheus metrics on http://HOST:PORT/metrics"),
]
LOOPBACK = "127.0.0.1"  # as rainbow.observe.metrics, which must not be imported this early
MetricsHost = Annotated[
    str,
    typer.Option(
        help="Interface for --metrics-port, which has no authentication: 0.0.0.0 lets a "
        "Prometheus on another machine (or outside the pod) scrape it"
    ),
]


SUPERVISOR_PID = "RAINBOW_SUPERVISOR_PID"


def _check_metrics_options(port: int | None, host: str) -> None:
    if port is None and host != LOOPBACK:
        raise UserError(
            f"--metrics-host {host} without --metrics-port serves nothing",
            hint="add --metrics-port PORT",
        )


def _serve_metrics(port: int | None, host: str) -> None:
    if port is not None:
        from rainbow.observe.metrics import serve as serve_metrics

        serve_metrics(port, host)


@app.command()
@user_errors
def worker(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="NAME@VERSION: a released version, from its own environment; or "
            "IMPORT_OR_FILE[:MODULE]: local code, with --version"
        ),
    ],
    version: Annotated[
        str | None, typer.Option(help="The version local code serves: latest, or X.Y")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Attempts run at once")] = 1,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = LOOPBACK,
    build: Annotated[
        Path | None, typer.Option(hidden=True, help="A fetched artifact this process serves")
    ] = None,
) -> None:
    """Serve one module version on its instance queue rainbow.<module>.<version>."""
    _check_metrics_options(metrics_port, metrics_host)
    settings = settings_of(ctx)
    passed = ["--concurrency", str(concurrency)]
    if metrics_port is not None:
        passed += ["--metrics-port", str(metrics_port), "--metrics-host", metrics_host]
    released = "@" in target and build is None and not Path(target).exists()
    if released:
        from rainbow.cli.release_commands import split_pin
        from rainbow.deploy.serving import Supervisor, require_servable

        name, pinned = split_pin(target)
        if version is not None and version != pinned:
            raise UserError(
                f"{target} is version {pinned}, but --version says {version}",
                hint="drop --version: a released version is named by NAME@VERSION",
            )
        registry = registry_of(settings)
        found = require_servable(registry, name, _checked_version(pinned))
        supervisor = Supervisor(
            registry,
            found,
            settings.release.cache,
            poll_s=settings.release.poll_s,
            worker_args=passed,
            say=lambda line: err.print(line, highlight=False),
        )
        raise typer.Exit(supervisor.run())
    if metrics_port is not None:
        # Children record metrics in files the main process aggregates; this must be set
        # before prometheus_client is imported.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rainbow-metrics-")
    from rainbow.engine.celery.app import declare_shared_queues, make_app
    from rainbow.engine.celery.worker import Build, serve
    from rainbow.observe import logging as rblog
    from rainbow.observe import metrics
    from rainbow.sdk.invoke import WorkerEnv

    if build is not None:
        import signal

        from rainbow.lifetime import die_with_parent

        # Started by a supervisor (below): killing it, even with kill -9, stops this warmly;
        # one killed before this line ran has left us with another parent already.
        die_with_parent(signal.SIGTERM)
        if os.getppid() != int(os.environ.get(SUPERVISOR_PID, "0")):
            err.print("the supervisor that started this worker is gone: not serving")
            raise typer.Exit(0)
        module, version, served = _installed(target, build)
    else:
        if version is None:
            raise UserError(
                f"serving local code needs --version: rainbow worker {target} --version latest",
                hint="or serve a released version: rainbow worker NAME@X.Y",
            )
        module = pick_module(target)
        version = _checked_version(version)
        served = _time_locked(settings, module, version)
    rblog.configure()
    celery_app = make_app(settings.broker.url)
    declare_shared_queues(celery_app)
    env = WorkerEnv(
        assets_url=settings.execution.assets_url,
        work_root=settings.store.work_root,
        max_output_bytes=settings.execution.max_output_bytes,
        observe=metrics.observe,
    )
    _sync_files(module, env)
    _serve_metrics(metrics_port, metrics_host)
    err.print(f"serving {module.name}@{version} on rainbow.{module.name}.{version}")
    serve(celery_app, module, version, env, concurrency=concurrency, build=Build(*served))


def _sync_files(module: AnyModule, env: Any) -> None:
    """The module's declared files, before it takes tasks: a wrong hash or an unreachable
    source stops the worker here, not each attempt."""
    from rainbow.sdk.files import FileSyncError, synced

    try:
        files = synced(module, env.files_cache)
    except FileSyncError as exc:
        raise UserError(
            str(exc), hint="fix the [[files]] entry in the module's config, or its source"
        ) from None
    if files:
        err.print(f"synced {len(files)} file(s) for {module.name} into {env.files_cache}")


def _checked_version(version: str) -> str:
    from rainbow.spec.models import VERSION_MAX_LENGTH, VERSION_PATTERN

    if not re.fullmatch(VERSION_PATTERN, version) or len(version) > VERSION_MAX_LENGTH:
        message = f"version {version[:40]!r} is not X.Y, X.Y.Z, latest or branch-NAME"
        hint = f"at most {VERSION_MAX_LENGTH} characters"
        raise DiagnosticError([Diagnostic("RB-E019", message, Location(), hint)])
    return version


def _retry_locally(
    detail: Any, store: Any, settings: rb_settings.Settings, modules: list[str]
) -> None:
    """A local run cannot be resumed in place (its pool is gone): its unit runs again on the
    same spec, and the step cache gives back what succeeded (when its code was committed)."""
    from rainbow.cli.run_commands import run_locally
    from rainbow.cli.targets import Loaded
    from rainbow.engine.workunits import WorkUnit
    from rainbow.spec.models import PipelineSpec

    spec = PipelineSpec.model_validate(detail.spec)
    loaded = Loaded(spec, load_modules(modules), [])
    unit = WorkUnit(detail.summary.unit, dict(detail.inputs))
    (new_id,) = run_locally(loaded, [unit], store, settings, None, False, lambda status: None)
    again = store.get_run(new_id)
    reused = [s.step for s in again.steps if s.attempts and s.attempts[-1].cached_from]
    err.print(
        f"ran {detail.summary.run_id}'s unit again as run {new_id}: {again.summary.status}; "
        + (
            f"from the cache: {', '.join(reused)}"
            if reused
            else "nothing came from the cache (uncommitted code is never cached)"
        ),
        highlight=False,
    )
    out.print(new_id, highlight=False)
    if again.summary.status != "succeeded":
        raise typer.Exit(1)


def _installed(target: str, build: Path) -> tuple[AnyModule, str, tuple[str, str]]:
    """The module of a fetched artifact, from the environment this process runs in."""
    from rainbow.cli.release_commands import split_pin
    from rainbow.deploy.artifacts import read_manifest
    from rainbow.sdk.catalog import installed_modules

    name, version = split_pin(target)
    manifest = read_manifest(build)
    found = installed_modules([name]).get(name)
    if found is None:
        raise UserError(
            f"module {name} is not installed in this environment ({sys.executable})",
            hint=f"serve released versions with `rainbow worker {target}`",
        )
    return found, version, (manifest.commit, f"sha256:{build.name}")


def _time_locked(
    settings: rb_settings.Settings, module: AnyModule, version: str
) -> tuple[str, str]:
    """Local code may serve a released X.Y only at the commit it was released from."""
    from rainbow.vcs import code_state

    commit, dirty = code_state(Path(module.ref.file or "."))
    if version == "latest" or not _may_hold_releases(settings):
        return commit, ""
    found = registry_of(settings).released(module.name, version)
    if found is None or not found.artifact_hash:
        return commit, ""
    if found.retired:
        from rainbow.deploy.serving import retired_refusal

        raise retired_refusal(found)
    if commit != found.commit or dirty:
        state = (
            "has changes not committed"
            if dirty and commit == found.commit
            else (f"is at commit {commit[:12] or '(not in git)'}")
        )
        raise UserError(
            f"{module.name}@{version} was released from commit {found.commit[:12]}; the local "
            f"code {state}: a released version is time-locked",
            code="RB-E081",
            hint=f"serve the released build: `rainbow worker {module.name}@{version}`; or "
            "develop against latest: --version latest",
        )
    return commit, ""


def _may_hold_releases(settings: rb_settings.Settings) -> bool:
    """Whether there is a registry to ask: a control plane, or a store that exists."""
    return bool(settings.client.url) or store_exists(settings.store)


def pick_module(target: str) -> AnyModule:
    where, _, name = target.rpartition(":") if ":" in target else (target, "", "")
    found = load_modules([where])
    if name:
        for module in found.values():
            if name in (module.name, getattr(module, "__name__", None)):
                return module
    elif len(found) == 1:
        return next(iter(found.values()))
    names = ", ".join(sorted(found)) or "none"
    problem = f"no module {name!r} in {where}" if name else f"{where} holds several modules"
    if not found:
        problem = f"no Rainbow module in {where}"
    raise DiagnosticError(
        [
            Diagnostic(
                "RB-E017",
                problem,
                Location(file=where),
                f"pick one with {where}:MODULE (its name or function name); modules here: {names}",
            )
        ]
    )


@app.command()
@user_errors
def conductor(
    ctx: typer.Context, metrics_port: MetricsPort = None, metrics_host: MetricsHost = LOOPBACK
) -> None:
    """Drive runs from the event queue: dispatch, retry, time out, complete."""
    _check_metrics_options(metrics_port, metrics_host)
    import logging

    from rainbow.control.django_setup import open_ledger
    from rainbow.engine.celery.app import declare_shared_queues, make_app
    from rainbow.engine.celery.publisher import CeleryPublisher
    from rainbow.engine.celery.service import ConductorService, run_service
    from rainbow.engine.conductor import Conductor
    from rainbow.engine.machine import RetryPolicy
    from rainbow.observe import metrics

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings_of(ctx)
    ledger = open_ledger(settings.store.database_url)
    celery_app = make_app(settings.broker.url)
    declare_shared_queues(celery_app)
    retry = RetryPolicy(base_delay=settings.execution.retry_base_delay)
    service = ConductorService(
        celery_app,
        Conductor(
            ledger,
            CeleryPublisher(celery_app),
            retry=retry,
            max_output_bytes=settings.execution.max_output_bytes,
            observe=metrics.observe,
        ),
    )
    _serve_metrics(metrics_port, metrics_host)
    store_url = rb_settings.redact(settings.store.database_url)
    err.print(f"conducting runs in {store_url} from {rb_settings.redact(settings.broker.url)}")
    run_service(service)


@app.command()
@user_errors
def retry(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A failed, timed-out or cancelled run")],
    wait: Annotated[bool, typer.Option(help="Follow the run to its end")] = False,
    modules: ModulesOption = None,
) -> None:
    """Resume a distributed run from its failed steps, reusing what succeeded; run a local
    run's unit again, its succeeded steps taken from the step cache."""
    from rainbow.engine.celery.app import declare_shared_queues, make_app
    from rainbow.engine.celery.client import ask_retry, wait_for_resumed
    from rainbow.engine.machine import RESUMABLE

    settings = settings_of(ctx)
    store = open_store(settings.store)
    detail = store.get_run(run_id)
    if detail is None:
        raise unknown_run(run_id)
    summary = detail.summary
    if summary.status not in RESUMABLE:
        raise UserError(
            f"run {run_id} is {summary.status}; only failed, timed-out or cancelled runs resume"
        )
    retired = store.retired_versions()
    steps = detail.spec.get("steps", [])
    pinned = {(s.get("module"), s.get("version")) for s in steps} & set(retired)
    if pinned:
        named = ", ".join(
            f"{m}@{v} ({retired[(m, v)] or 'no reason given'})" for m, v in sorted(pinned)
        )
        raise UserError(
            f"run {run_id} pins retired module version(s) {named}: nothing new runs on them",
            code="RB-E082",
            hint="run the work unit again on a pipeline version that pins live versions",
        )
    if summary.engine == "local":
        _retry_locally(detail, store, settings, modules or [])
        return
    celery_app = make_app(settings.broker.url)
    declare_shared_queues(celery_app)
    ask_retry(celery_app, run_id)
    failed = [s.step for s in detail.steps if s.status != "succeeded"]
    err.print(f"resuming {run_id} from {', '.join(failed)}; the conductor takes it from here")
    if wait:
        final = wait_for_resumed(store, run_id, summary.finished_at)
        err.print(f"{run_id}: {final}")
        if final != "succeeded":
            raise typer.Exit(1)


@app.command()
@user_errors
def cancel(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A pending or running distributed run")],
    reason: Annotated[str, typer.Option(help="Recorded as the run's reason")] = "cancelled",
) -> None:
    """Cancel a distributed run: its running steps are revoked, the rest never start."""
    from rainbow.engine.celery.app import declare_shared_queues, make_app
    from rainbow.engine.celery.client import ask_cancel

    settings = settings_of(ctx)
    detail = open_store(settings.store).get_run(run_id)
    if detail is None:
        raise unknown_run(run_id)
    if detail.summary.engine != "celery" or detail.summary.status not in ("pending", "running"):
        raise UserError(
            f"run {run_id} is a {detail.summary.engine} run that is {detail.summary.status}; "
            "only pending or running distributed runs can be cancelled",
            hint="a local run stops with Ctrl-C",
        )
    celery_app = make_app(settings.broker.url)
    declare_shared_queues(celery_app)
    ask_cancel(celery_app, run_id, reason)
    err.print(f"asked the conductor to cancel {run_id}")
