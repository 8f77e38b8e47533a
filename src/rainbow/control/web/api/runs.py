"""``/api/runs``: submit work units, follow their runs, cancel and retry them."""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from dataclasses import replace
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from rainbow.control.models import Run
from rainbow.control.persistence.store import DjangoStore, last_metrics
from rainbow.control.services import run_service, run_values
from rainbow.control.services.execution import current_executor
from rainbow.control.web import schemas as s
from rainbow.control.web.answers import RunDetailOut, RunOut
from rainbow.control.web.api.auth import user_of
from rainbow.control.web.api.paging import Pages

router = Router(tags=["runs"])


class RunPages(Pages):
    """Pages of runs, each with its steps' last metrics (one query for the page)."""

    def paginate_queryset(
        self, queryset: Any, pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        page = super().paginate_queryset(queryset, pagination, request, **params)
        runs = list(page["items"])
        metrics = last_metrics("default", [run.run_id for run in runs])
        page["items"] = [RunOut.of(run, metrics[run.run_id]) for run in runs]
        return page


def _run_out(run: Run) -> RunOut:
    return RunOut.of(run, last_metrics("default", [run.run_id])[run.run_id])


@router.post("", response={201: s.Submitted, **s.PROBLEMS})
def submit(request: HttpRequest, payload: s.SubmitIn) -> Status:
    version, run_ids = run_service.submit(
        payload.pipeline,
        payload.environment,
        payload.units,
        names=payload.names,
        version=payload.version,
        user=user_of(request),
        executor=current_executor(),
    )
    body = s.Submitted(
        pipeline=payload.pipeline,
        spec_hash=version.spec_hash,
        environment=payload.environment,
        run_ids=run_ids,
    )
    return Status(201, body)


@router.post("/statuses", response={200: s.RunStatusesOut, **s.PROBLEMS})
def statuses(request: HttpRequest, payload: s.RunStatusesIn) -> s.RunStatusesOut:
    """Where many runs stand, in one request and one query: what ``rainbow submit --wait``
    polls. A POST, since thousands of run ids do not fit in an address."""
    found = run_service.run_statuses(payload.run_ids)
    return s.RunStatusesOut(
        runs={
            run_id: s.RunStatusOut(status=row.status, reason=row.reason)
            for run_id, row in found.items()
        },
        unknown=[run_id for run_id in dict.fromkeys(payload.run_ids) if run_id not in found],
    )


@router.get("", response=list[RunOut])
@paginate(RunPages)
def list_runs(request: HttpRequest, filters: Query[s.RunFilters]) -> Any:
    return run_service.list_runs(run_service.RunFilter(**filters.dict()))


@router.get("/{run_id}", response={200: RunDetailOut, **s.PROBLEMS})
def get_run(request: HttpRequest, run_id: s.RunIdPath) -> RunDetailOut:
    run = run_service.get_run(run_id)
    detail = DjangoStore().get_run(run_id)
    assert detail is not None
    # The run's outputs have the first call on the budget, then its inputs, then the steps'.
    budget = run_values.Budget()
    shown = replace(
        detail,
        outputs=budget.show(run.outputs, run_id, "outputs"),
        inputs=budget.show(run.inputs, run_id, "inputs") or {},
        spec=run.spec,
        steps=[
            replace(step, outputs=budget.show(step.outputs, run_id, "outputs", step.step))
            for step in detail.steps
        ],
    )
    return RunDetailOut.of_detail(run, shown, run_service.logs_url(run_id))


@router.get("/{run_id}/inputs/{name}", response={200: s.RunValueOut, **s.PROBLEMS})
def get_run_input(
    request: HttpRequest, run_id: s.RunIdPath, name: s.ValueNamePath
) -> s.RunValueOut:
    return s.RunValueOut(value=run_values.one_value(run_id, "inputs", name))


@router.get("/{run_id}/outputs/{name}", response={200: s.RunValueOut, **s.PROBLEMS})
def get_run_output(
    request: HttpRequest, run_id: s.RunIdPath, name: s.ValueNamePath
) -> s.RunValueOut:
    return s.RunValueOut(value=run_values.one_value(run_id, "outputs", name))


@router.get("/{run_id}/steps/{step}/outputs/{name}", response={200: s.RunValueOut, **s.PROBLEMS})
def get_step_output(
    request: HttpRequest, run_id: s.RunIdPath, step: s.StepIdPath, name: s.ValueNamePath
) -> s.RunValueOut:
    return s.RunValueOut(value=run_values.one_value(run_id, "outputs", name, step))


@router.post("/{run_id}/cancel", response={202: RunOut, **s.PROBLEMS})
def cancel(request: HttpRequest, run_id: s.RunIdPath) -> Status:
    return Status(202, _run_out(run_service.cancel(run_id, user_of(request), current_executor())))


@router.post("/{run_id}/retry", response={202: RunOut, **s.PROBLEMS})
def retry(request: HttpRequest, run_id: s.RunIdPath) -> Status:
    return Status(202, _run_out(run_service.retry(run_id, user_of(request), current_executor())))
