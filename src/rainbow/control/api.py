"""The REST API under ``/api/`` (django-ninja; OpenAPI schema at ``/api/openapi.json``).

Every endpoint needs a user: an API token (``Authorization: Bearer rbt_…``) or a logged-in
session (with Django's CSRF check on writes). Roles are enforced by the services this module
calls; refusals come back as 4xx with ``{"detail", "hint", "diagnostics"}``, never a 500.
"""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import BooleanField, ExpressionWrapper, Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Field, NinjaAPI, Query, Router, Schema, Status
from ninja.errors import AuthenticationError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.security import APIKeyCookie, HttpBearer

from rainbow.control import registry, release, run_service, run_values, tokens
from rainbow.control import schemas as s
from rainbow.control.execution import current_executor
from rainbow.control.models import (
    ApiToken,
    Approval,
    AuditEntry,
    DefaultPointer,
    Instance,
    Module,
    ModuleVersion,
    Pipeline,
    PipelineVersion,
    Promotion,
)
from rainbow.control.problems import NotFound, Refused, problem_body
from rainbow.control.roles import RESEARCHER, require, role_of
from rainbow.control.store import DjangoStore, last_metrics
from rainbow.diagnostics import Diagnostic
from rainbow.engine.records import MetricValue
from rainbow.engine.waiting import LIVE_WITHIN
from rainbow.errors import PlatformError, StoreRefused


class Pages(LimitOffsetPagination):
    """Limit and offset, both bounded: an offset past what a database integer holds would be a
    500; deeper pages than this are a filter's job."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=500)
        offset: int = Field(0, ge=0, le=1_000_000)


def _metric_out(metric: MetricValue) -> dict[str, Any]:
    return {
        "name": metric.name,
        "value": metric.value,
        "better": metric.better,
        "step": metric.step,
    }


class RunPages(Pages):
    """Pages of runs, each with its steps' last metrics (one query for the page)."""

    def paginate_queryset(
        self, queryset: Any, pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        page = super().paginate_queryset(queryset, pagination, request, **params)
        runs = list(page["items"])
        metrics = last_metrics("default", [run.run_id for run in runs])
        page["items"] = [
            {
                **{
                    field: getattr(run, field)
                    for field in s.RunOut.model_fields
                    if field != "metrics"
                },
                "metrics": [_metric_out(m) for m in metrics[run.run_id]],
            }
            for run in runs
        ]
        return page


SCHEMA_ERRORS = dict.fromkeys((400, 401, 403, 404, 409, 422, 503), s.Problem)


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        user = tokens.user_for(token)
        if user is None or role_of(user) is None:  # a user without a role may do nothing
            return None
        request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """The admin's login session; writes need Django's CSRF token too."""

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request: HttpRequest) -> str | None:
        # Without a session cookie there is no session to protect: a bad token is a 401, not
        # a CSRF failure.
        if self.param_name not in request.COOKIES:
            return None
        return super()._get_key(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> AbstractBaseUser | None:
        user = request.user
        return user if role_of(user) is not None else None  # type: ignore[return-value]


def _signed_in(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The OpenAPI schema and docs need a user too, by token or session."""

    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        signed_in = request.user.is_authenticated or (
            header.lower().startswith("bearer ")
            and tokens.user_for(header.partition(" ")[2].strip()) is not None
        )
        if not signed_in:
            return _unauthorized(JsonResponse(_why_unauthorized(request), status=401))
        return view(request, *args, **kwargs)

    return guarded


def _why_unauthorized(request: HttpRequest) -> dict[str, Any]:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    get_token = "create one with `rainbow token create NAME` (or POST /api/tokens)"
    if scheme.lower() == "bearer" and token.strip():
        detail = (
            "the API token is not valid: unknown, revoked, or its user is inactive or has no role"
        )
        hint = f"{get_token} and send it as Authorization: Bearer rbt_…"
    elif settings.SESSION_COOKIE_NAME in request.COOKIES:
        detail = "the session is not logged in (it expired or logged out), or its user has no role"
        hint = f"log in again at /admin/login/, or send an API token: {get_token}"
    else:
        detail = "no credentials: the API needs an API token or a logged-in session"
        hint = f"send Authorization: Bearer rbt_… ({get_token}), or log in at /admin/login/"
    return problem_body(detail, hint)


def _unauthorized(response: HttpResponse) -> HttpResponse:
    response["WWW-Authenticate"] = 'Bearer realm="rainbow"'  # what HTTP requires of a 401
    return response


api = NinjaAPI(
    title="Rainbow control plane",
    version="1",
    description="Registry, runs, release gates and audit log. Authenticate with an API token "
    "(`Authorization: Bearer rbt_…`, from POST /api/tokens or `rainbow token`) or a session.",
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
    docs_decorator=_signed_in,
)


def _problem(request: HttpRequest, status: int, detail: str, **extra: Any) -> HttpResponse:
    return api.create_response(request, {"detail": detail, **extra}, status=status)


@api.exception_handler(Refused)
def refused(request: HttpRequest, exc: Refused) -> HttpResponse:
    body = problem_body(exc.message, exc.hint, [_diagnostic(d) for d in exc.diagnostics])
    return api.create_response(request, body, status=exc.status)


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _unauthorized(api.create_response(request, _why_unauthorized(request), status=401))


@api.exception_handler(StoreRefused)
def refused_by_the_store(request: HttpRequest, exc: StoreRefused) -> HttpResponse:
    # The database is up and refuses this content: asking again will not help.
    return _problem(
        request, 422, str(exc), hint="change what was sent; the store cannot hold it as it is"
    )


@api.exception_handler(PlatformError)
def unavailable(request: HttpRequest, exc: PlatformError) -> HttpResponse:
    # A service behind the control plane (the broker, the database) failed: worth retrying.
    return _problem(request, 503, str(exc), hint="try again once the service is back")


def _diagnostic(diagnostic: Diagnostic) -> dict[str, Any]:
    return {
        "code": diagnostic.code,
        "severity": diagnostic.severity,
        "message": diagnostic.message,
        "where": diagnostic.location.json_path,
        "hint": diagnostic.hint,
    }


def _user(request: HttpRequest) -> AbstractBaseUser:
    return request.auth  # type: ignore[attr-defined]


# Who am I ---------------------------------------------------------------------------------------


@api.get("/me", response=s.Me, tags=["access"])
def me(request: HttpRequest) -> dict[str, Any]:
    user = _user(request)
    return {"username": user.get_username(), "role": role_of(user)}


# Modules ----------------------------------------------------------------------------------------

modules = Router(tags=["modules"])


def _instances_by_version() -> dict[tuple[str, str], list[dict[str, Any]]]:
    live_after = timezone.now() - LIVE_WITHIN
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in Instance.objects.order_by("-seen_at"):
        found.setdefault((row.module, row.version), []).append(
            {
                "worker": row.worker,
                "commit": row.commit,
                "seen_at": row.seen_at,
                "live": row.seen_at >= live_after,
            }
        )
    return found


def _module_version_out(
    row: ModuleVersion, instances: dict[tuple[str, str], list[dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "module": row.module.name,
        "version": row.version,
        "commit": row.commit,
        "status": row.status,
        "registered_at": row.registered_at,
        "interface": row.interface,
        "instances": instances.get((row.module.name, row.version), []),
    }


def _module_out(
    module: Module, instances: dict[tuple[str, str], list[dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "name": module.name,
        "versions": [_module_version_out(v, instances) for v in module.versions.all()],
    }


@modules.get("", response=list[s.ModuleOut])
def list_modules(request: HttpRequest) -> list[dict[str, Any]]:
    instances = _instances_by_version()
    rows = Module.objects.prefetch_related(
        Prefetch("versions", queryset=ModuleVersion.objects.select_related("module"))
    )
    return [_module_out(m, instances) for m in rows]


@modules.get("/{name}", response={200: s.ModuleOut, **SCHEMA_ERRORS})
def get_module(request: HttpRequest, name: s.NamePath) -> dict[str, Any]:
    module = Module.objects.filter(name=name).first()
    if module is None:
        raise NotFound(f"no module named {name!r} is registered")
    return _module_out(module, _instances_by_version())


@modules.post(
    "/{name}/versions", response={200: s.ModuleVersionOut, 201: s.ModuleVersionOut, **SCHEMA_ERRORS}
)
def register_module_version(
    request: HttpRequest, name: s.NamePath, payload: s.ModuleVersionIn
) -> Status:
    row, created = registry.register_module_version(
        name, payload.version, payload.interface, commit=payload.commit, by=_user(request)
    )
    return Status(201 if created else 200, _module_version_out(row, _instances_by_version()))


@modules.post(
    "/{name}/versions/{version}/status", response={200: s.ModuleVersionOut, **SCHEMA_ERRORS}
)
def set_module_status(
    request: HttpRequest, name: s.NamePath, version: s.ModuleVersionPath, payload: s.ModuleStatusIn
) -> dict[str, Any]:
    row = registry.set_module_status(name, version, payload.status, by=_user(request))
    return _module_version_out(row, _instances_by_version())


# Pipelines --------------------------------------------------------------------------------------

pipelines = Router(tags=["pipelines"])


def _versions() -> Any:
    approvals = (
        Approval.objects.select_related("approver")
        .annotate(counts=ExpressionWrapper(release.counting(), output_field=BooleanField()))
        .order_by("created_at", "pk")
    )
    return PipelineVersion.objects.select_related("pipeline", "author").prefetch_related(
        Prefetch("approvals", queryset=approvals)
    )


def _defaults_of(pipeline_ids: set[int]) -> dict[int, list[str]]:
    """Environments each pipeline version is the default in, by version id."""
    found: dict[int, list[str]] = {}
    for version_id, environment in DefaultPointer.objects.filter(
        pipeline_id__in=pipeline_ids
    ).values_list("version_id", "environment"):
        found.setdefault(version_id, []).append(environment)
    return found


def _version_summary(row: PipelineVersion, defaults: dict[int, list[str]]) -> dict[str, Any]:
    return {
        "pipeline": row.pipeline.name,
        "spec_hash": row.spec_hash,
        "kind": row.kind,
        "status": row.status,
        "author": row.author.get_username() if row.author else None,
        "source_commit": row.source_commit,
        "created_at": row.created_at,
        # ``counts`` is annotated by _versions(): the gate's own rule (release.counting).
        "approvals": [
            a.approver.get_username()
            for a in row.approvals.all()
            if a.counts  # type: ignore[attr-defined]
        ],
        "lapsed_approvals": [
            a.approver.get_username()
            for a in row.approvals.all()
            if not a.counts  # type: ignore[attr-defined]
        ],
        "default_in": sorted(defaults.get(row.pk, [])),
    }


def _version_out(row: PipelineVersion, defaults: dict[int, list[str]]) -> dict[str, Any]:
    return {**_version_summary(row, defaults), "spec": row.spec}


def _pipelines_out(rows: list[Pipeline]) -> list[dict[str, Any]]:
    """Pipelines with their defaults and their versions' summaries, in three queries for any
    number: no spec (a spec may be megabytes; GET /api/pipelines/NAME/versions/HASH has it)."""
    defaults: dict[int, dict[str, str]] = {}
    default_in: dict[int, list[str]] = {}
    for pipeline_id, environment, version_id, spec_hash in DefaultPointer.objects.filter(
        pipeline__in=rows
    ).values_list("pipeline_id", "environment", "version_id", "version__spec_hash"):
        defaults.setdefault(pipeline_id, {})[environment] = spec_hash
        default_in.setdefault(version_id, []).append(environment)
    versions: dict[int, list[dict[str, Any]]] = {}
    for version in _versions().defer("spec").filter(pipeline__in=rows):
        versions.setdefault(version.pipeline_id, []).append(_version_summary(version, default_in))
    return [
        {
            "name": p.name,
            "smoke_units": p.smoke_units,
            "defaults": defaults.get(p.pk, {}),
            "versions": versions.get(p.pk, []),
        }
        for p in rows
    ]


def _pipeline_out(pipeline: Pipeline) -> dict[str, Any]:
    return _pipelines_out([pipeline])[0]


class PipelinePages(Pages):
    """Pages of pipelines, summarised as :func:`_pipelines_out` does."""

    def paginate_queryset(
        self, queryset: Any, pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        page = super().paginate_queryset(queryset, pagination, request, **params)
        page["items"] = _pipelines_out(list(page["items"]))
        return page


def _pipeline(name: str) -> Pipeline:
    pipeline = Pipeline.objects.filter(name=name).first()
    if pipeline is None:
        raise NotFound(
            f"no pipeline named {name!r} is registered",
            hint="register it: rainbow pipeline register FILE.py",
        )
    return pipeline


def _one_version(name: str, version: str) -> PipelineVersion:
    found = registry.pipeline_version(name, version)
    return _versions().get(pk=found.pk)


@pipelines.get("", response=list[s.PipelineOut])
@paginate(PipelinePages)
def list_pipelines(request: HttpRequest) -> Any:
    return Pipeline.objects.order_by("name")


@pipelines.post("", response={200: s.Registration, 201: s.Registration, **SCHEMA_ERRORS})
def register_pipeline(request: HttpRequest, payload: s.PipelineIn) -> Status:
    done = registry.register_pipeline_version(
        payload.spec,
        limits=registry.served_limits(),
        kind=payload.kind,
        source_commit=payload.source_commit,
        author=_user(request),
    )
    row = _versions().get(pk=done.version.pk)
    body = {
        "created": done.created,
        "version": _version_out(row, _defaults_of({row.pipeline_id})),
        "warnings": [_diagnostic(d) for d in done.warnings],
    }
    return Status(201 if done.created else 200, body)


@pipelines.get("/{name}", response={200: s.PipelineOut, **SCHEMA_ERRORS})
def get_pipeline(request: HttpRequest, name: s.NamePath) -> dict[str, Any]:
    return _pipeline_out(_pipeline(name))


@pipelines.put("/{name}/smoke-units", response={200: s.PipelineOut, **SCHEMA_ERRORS})
def set_smoke_units(
    request: HttpRequest, name: s.NamePath, payload: s.SmokeUnitsIn
) -> dict[str, Any]:
    pipeline = release.set_smoke_units(_pipeline(name), payload.units, _user(request))
    return _pipeline_out(pipeline)


@pipelines.get("/{name}/versions/{version}", response={200: s.PipelineVersionOut, **SCHEMA_ERRORS})
def get_pipeline_version(
    request: HttpRequest, name: s.NamePath, version: s.PipelineVersionPath
) -> dict[str, Any]:
    row = _one_version(name, version)
    return _version_out(row, _defaults_of({row.pipeline_id}))


@pipelines.post(
    "/{name}/versions/{version}/approve", response={200: s.PipelineVersionOut, **SCHEMA_ERRORS}
)
def approve(
    request: HttpRequest, name: s.NamePath, version: s.PipelineVersionPath, payload: s.ApproveIn
) -> dict[str, Any]:
    row = _one_version(name, version)
    release.approve(row, _user(request), payload.comment)
    row = _one_version(name, version)
    return _version_out(row, _defaults_of({row.pipeline_id}))


@pipelines.post(
    "/{name}/versions/{version}/promote", response={202: s.PromotionOut, **SCHEMA_ERRORS}
)
def promote(
    request: HttpRequest, name: s.NamePath, version: s.PipelineVersionPath, payload: s.EnvironmentIn
) -> Status:
    row = _one_version(name, version)
    promotion = release.promote(row, payload.environment, _user(request), current_executor())
    return Status(202, _promotions().get(pk=promotion.pk))


@pipelines.post("/{name}/rollback", response={200: s.DefaultOut, **SCHEMA_ERRORS})
def rollback(request: HttpRequest, name: s.NamePath, payload: s.EnvironmentIn) -> dict[str, Any]:
    pointer = release.rollback(_pipeline(name), payload.environment, _user(request))
    return {
        "pipeline": name,
        "environment": pointer.environment,
        "spec_hash": pointer.version.spec_hash,
        "previous": pointer.previous.spec_hash if pointer.previous else None,
        "moved_at": pointer.moved_at,
    }


# Promotions -------------------------------------------------------------------------------------

promotions = Router(tags=["pipelines"])


def _promotions() -> Any:
    return Promotion.objects.select_related("version__pipeline", "requested_by")


@promotions.get("", response=list[s.PromotionOut])
@paginate(Pages)
def list_promotions(request: HttpRequest) -> Any:
    release.settle_all()
    return _promotions()


@promotions.get("/{promotion_id}", response={200: s.PromotionOut, **SCHEMA_ERRORS})
def get_promotion(request: HttpRequest, promotion_id: s.IdPath) -> Promotion:
    row = _promotions().filter(pk=promotion_id).first()
    if row is None:
        raise NotFound(f"no promotion {promotion_id}")
    release.settle(row)
    return _promotions().get(pk=promotion_id)


# Runs -------------------------------------------------------------------------------------------

runs = Router(tags=["runs"])


@runs.post("", response={201: s.Submitted, **SCHEMA_ERRORS})
def submit(request: HttpRequest, payload: s.SubmitIn) -> Status:
    version, run_ids = run_service.submit(
        payload.pipeline,
        payload.environment,
        payload.units,
        names=payload.names,
        version=payload.version,
        user=_user(request),
        executor=current_executor(),
    )
    body = {
        "pipeline": payload.pipeline,
        "spec_hash": version.spec_hash,
        "environment": payload.environment,
        "run_ids": run_ids,
    }
    return Status(201, body)


@runs.get("", response=list[s.RunOut])
@paginate(RunPages)
def list_runs(request: HttpRequest, filters: Query[s.RunFilters]) -> Any:
    return run_service.list_runs(run_service.RunFilter(**filters.dict()))


@runs.get("/{run_id}", response={200: s.RunDetailOut, **SCHEMA_ERRORS})
def get_run(request: HttpRequest, run_id: s.RunIdPath) -> dict[str, Any]:
    run = run_service.get_run(run_id)
    detail = DjangoStore().get_run(run_id)
    assert detail is not None
    # The run's outputs have the first call on the budget, then its inputs, then the steps'.
    budget = run_values.Budget()
    outputs = budget.show(run.outputs, run_id, "outputs")
    inputs = budget.show(run.inputs, run_id, "inputs")
    return {
        **{f: getattr(run, f) for f in s.RunOut.model_fields if f != "metrics"},
        "metrics": [_metric_out(m) for m in detail.summary.metrics],
        "inputs": inputs,
        "outputs": outputs,
        "spec": run.spec,
        "steps": [
            {
                "step": step.step,
                "status": step.status,
                "outputs": budget.show(step.outputs, run_id, "outputs", step.step),
                "attempts": [
                    {
                        **{f: getattr(a, f) for f in s.AttemptOut.model_fields if f != "metrics"},
                        "metrics": [
                            {"name": m.name, "value": m.value, "better": m.better}
                            for m in a.metrics
                        ],
                    }
                    for a in step.attempts
                ],
            }
            for step in detail.steps
        ],
        "logs_url": run_service.logs_url(run_id),
    }


@runs.get("/{run_id}/inputs/{name}", response={200: s.RunValueOut, **SCHEMA_ERRORS})
def get_run_input(request: HttpRequest, run_id: s.RunIdPath, name: s.ValueNamePath) -> Any:
    return {"value": run_values.one_value(run_id, "inputs", name)}


@runs.get("/{run_id}/outputs/{name}", response={200: s.RunValueOut, **SCHEMA_ERRORS})
def get_run_output(request: HttpRequest, run_id: s.RunIdPath, name: s.ValueNamePath) -> Any:
    return {"value": run_values.one_value(run_id, "outputs", name)}


@runs.get("/{run_id}/steps/{step}/outputs/{name}", response={200: s.RunValueOut, **SCHEMA_ERRORS})
def get_step_output(
    request: HttpRequest, run_id: s.RunIdPath, step: s.StepIdPath, name: s.ValueNamePath
) -> Any:
    return {"value": run_values.one_value(run_id, "outputs", name, step)}


@runs.post("/{run_id}/cancel", response={202: s.RunOut, **SCHEMA_ERRORS})
def cancel(request: HttpRequest, run_id: s.RunIdPath) -> Status:
    return Status(202, run_service.cancel(run_id, _user(request), current_executor()))


@runs.post("/{run_id}/retry", response={202: s.RunOut, **SCHEMA_ERRORS})
def retry(request: HttpRequest, run_id: s.RunIdPath) -> Status:
    return Status(202, run_service.retry(run_id, _user(request), current_executor()))


# Audit and tokens -------------------------------------------------------------------------------

access = Router(tags=["access"])


@access.get("/audit", response=list[s.AuditOut])
@paginate(Pages)
def audit_log(request: HttpRequest, action: str | None = None) -> Any:
    require(_user(request), RESEARCHER, "read the audit log")
    entries = AuditEntry.objects.order_by("-at", "-id")
    return entries.filter(action=action) if action else entries


@access.get("/tokens", response=list[s.TokenOut])
def list_tokens(request: HttpRequest) -> Any:
    return ApiToken.objects.filter(user=_user(request)).order_by("-created_at")


@access.post("/tokens", response={201: s.TokenIssued, **SCHEMA_ERRORS})
def issue_token(request: HttpRequest, payload: s.TokenIn) -> Status:
    row, token = tokens.issue(_user(request), payload.name)
    out = s.TokenOut.from_orm(row).dict()
    return Status(201, {**out, "token": token})


@access.delete("/tokens/{token_id}", response={200: s.TokenOut, **SCHEMA_ERRORS})
def revoke_token(request: HttpRequest, token_id: s.IdPath) -> Any:
    return tokens.revoke(token_id, _user(request))


api.add_router("/modules", modules)
api.add_router("/pipelines", pipelines)
api.add_router("/promotions", promotions)
api.add_router("/runs", runs)
api.add_router("/", access)
