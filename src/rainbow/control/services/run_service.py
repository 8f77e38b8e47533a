"""Runs as people ask for them: submit by pipeline name and environment (its default) or an
exact version, list with filters, cancel, and retry from the failed steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.functions import Substr

from rainbow.control.models import Environment, PipelineVersion, Promotion, Run
from rainbow.control.services.execution import Executor
from rainbow.control.services.refusals import Conflict, Forbidden, Invalid, NotFound
from rainbow.control.services.registry import pipeline_version, require_runnable
from rainbow.control.services.release import default_version, environment_of
from rainbow.control.services.roles import RESEARCHER, require
from rainbow.control.services.units import bind_units
from rainbow.engine.machine import FINISHED_RUN, RESUMABLE
from rainbow.spec.models import PipelineSpec

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

MAX_UNITS = 1000
"""Work units one submission request may carry: a request stays bounded in what it binds, checks
and writes in one transaction. More units are sent in pages, one request after another."""
MAX_STATUS_IDS = 5000
"""Runs one status request may ask about (``POST /api/runs/statuses``)."""
REASON_CHARS = 1000
"""How much of each run's reason a status answer carries (as ``rainbow show`` prints of an
error): the answer stays bounded whatever the reasons hold."""


def submit(
    pipeline: str,
    environment: str,
    units: Sequence[Mapping[str, Any]],
    *,
    names: Sequence[str] | None = None,
    version: str | None,
    user: AbstractBaseUser,
    executor: Executor,
) -> tuple[PipelineVersion, list[str]]:
    require(user, RESEARCHER, "submit runs")
    environment = environment_of(environment)
    if not units:
        raise Invalid("no work units to run", hint='send "units": [{"input": value, ...}]')
    if len(units) > MAX_UNITS:
        raise Invalid(
            f"{len(units):,} work units in one request; at most {MAX_UNITS:,} per request",
            hint=f"send them in pages of at most {MAX_UNITS:,} units, one request after "
            "another (rainbow submit --corpus does)",
            code="RB-E110",
        )
    if names is not None and len(names) != len(units):
        raise Invalid(f"{len(names)} names for {len(units)} work units", hint="one name per unit")
    chosen = (
        pipeline_version(pipeline, version) if version else default_version(pipeline, environment)
    )
    require_runnable(chosen, environment)
    require_released(chosen, environment)
    spec = PipelineSpec.model_validate(chosen.spec)
    work = bind_units(spec, units, name="api", names=names)
    run_ids = executor.submit(spec, work, environment=environment, submitted_by=user.get_username())
    return chosen, run_ids


@dataclass(frozen=True)
class RunStatus:
    status: str
    reason: str | None


def run_statuses(run_ids: Sequence[str]) -> dict[str, RunStatus]:
    """The status of each of ``run_ids`` the store has, and why it ended so (cut to
    ``REASON_CHARS``): one query, whatever the number of runs."""
    if len(run_ids) > MAX_STATUS_IDS:
        raise Invalid(
            f"{len(run_ids):,} run ids in one request; at most {MAX_STATUS_IDS:,} per request",
            hint=f"ask in pages of at most {MAX_STATUS_IDS:,} run ids",
            code="RB-E110",
        )
    rows = Run.objects.filter(run_id__in=list(run_ids)).values_list(
        "run_id", "status", Substr("reason", 1, REASON_CHARS)
    )
    return {run_id: RunStatus(status, reason) for run_id, status, reason in rows}


def require_released(version: PipelineVersion, environment: str) -> None:
    """In prod only versions that went through the gates run: the default, or an earlier one
    (kept runnable for debugging). Staging runs anything registered."""
    if environment != Environment.PROD:
        return
    released = Promotion.objects.filter(
        version=version, environment=environment, status=Promotion.Status.SUCCEEDED
    )
    if not released.exists():
        raise Forbidden(
            f"{version} has never been promoted to {environment}: only released versions run there",
            hint="run it in staging, or take it through the gates (approve, then promote)",
        )


@dataclass(frozen=True)
class RunFilter:
    status: str | None = None
    pipeline: str | None = None
    environment: str | None = None
    engine: str | None = None
    submitted_by: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def list_runs(filters: RunFilter) -> QuerySet[Run]:
    """Newest first; one query for any page (the list never touches steps or attempts)."""
    runs = Run.objects.order_by("-created_at", "-run_id").defer("spec", "inputs")
    exact = {
        "status": filters.status,
        "pipeline": filters.pipeline,
        "environment": filters.environment,
        "engine": filters.engine,
        "submitted_by": filters.submitted_by,
    }
    runs = runs.filter(**{k: v for k, v in exact.items() if v})
    if filters.created_after is not None:
        runs = runs.filter(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        runs = runs.filter(created_at__lt=filters.created_before)
    return runs


def logs_url(run_id: str) -> str | None:
    """Where the run's logs are (``RAINBOW_LOGS_URL`` with the run id), if configured."""
    template: str | None = settings.RAINBOW_LOGS_URL
    return template.replace("{run_id}", run_id) if template else None


def get_run(run_id: str) -> Run:
    run = Run.objects.filter(run_id=run_id).first()
    if run is None:
        raise NotFound(f"no run {run_id}", hint="list runs: GET /api/runs", code="RB-E050")
    return run


def cancel(run_id: str, user: AbstractBaseUser, executor: Executor) -> Run:
    require(user, RESEARCHER, "cancel runs")
    run = get_run(run_id)
    if run.status in FINISHED_RUN:
        raise Conflict(f"run {run_id} has already ended ({run.status})")
    _same_engine(run, executor)
    executor.cancel(run_id, f"cancelled by {user.get_username()}")
    return run


def retry(run_id: str, user: AbstractBaseUser, executor: Executor) -> Run:
    require(user, RESEARCHER, "retry runs")
    run = get_run(run_id)
    if run.status not in RESUMABLE:
        raise Conflict(
            f"run {run_id} is {run.status}: only failed, timed-out or cancelled runs resume"
        )
    _same_engine(run, executor)
    executor.retry(run_id)
    return run


def _same_engine(run: Run, executor: Executor) -> None:
    if run.engine != executor.engine:
        raise Conflict(
            f"run {run.run_id} runs on the {run.engine} engine; this control plane drives "
            f"{executor.engine} runs",
            hint="use the command line where that run was started (rainbow cancel / retry)",
        )
