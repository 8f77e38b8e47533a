"""``/api/pipelines`` and ``/api/promotions``: pipeline versions and their release gates."""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from collections.abc import Iterable
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Prefetch, QuerySet
from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from rainbow.control.models import Approval, Pipeline, PipelineVersion, Promotion
from rainbow.control.services import queries, registry, release
from rainbow.control.services.execution import current_executor
from rainbow.control.services.refusals import NotFound
from rainbow.control.web import schemas as s
from rainbow.control.web.api.auth import user_of
from rainbow.control.web.api.paging import Pages
from rainbow.control.web.problems import diagnostic_body

router = Router(tags=["pipelines"])
promotions = Router(tags=["pipelines"])


def _versions() -> QuerySet[PipelineVersion]:
    approvals = (
        Approval.objects.select_related("approver")
        .annotate(counts=ExpressionWrapper(release.counting(), output_field=BooleanField()))
        .order_by("created_at", "pk")
    )
    return PipelineVersion.objects.select_related("pipeline", "author").prefetch_related(
        Prefetch("approvals", queryset=approvals)
    )


def _default_in(pipelines: Iterable[Pipeline]) -> dict[int, list[str]]:
    """Environments each pipeline version is the default in, by version id."""
    found: dict[int, list[str]] = {}
    for pointer in queries.default_pointers(pipelines):
        found.setdefault(pointer.version_id, []).append(pointer.environment)
    return found


def _summary(row: PipelineVersion, default_in: dict[int, list[str]]) -> s.PipelineVersionSummary:
    # ``counts`` is annotated by _versions(): the gate's own rule (release.counting).
    counted = [(a.approver.get_username(), a.counts) for a in row.approvals.all()]  # type: ignore[attr-defined]
    return s.PipelineVersionSummary(
        pipeline=row.pipeline.name,
        spec_hash=row.spec_hash,
        kind=row.kind,
        status=row.status,
        author=row.author.get_username() if row.author else None,
        source_commit=row.source_commit,
        created_at=row.created_at,
        approvals=[name for name, counts in counted if counts],
        lapsed_approvals=[name for name, counts in counted if not counts],
        default_in=sorted(default_in.get(row.pk, [])),
    )


def _version_out(row: PipelineVersion) -> s.PipelineVersionOut:
    summary = _summary(row, _default_in([row.pipeline]))
    return s.PipelineVersionOut(**dict(summary), spec=row.spec)


def _pipelines_out(rows: list[Pipeline]) -> list[s.PipelineOut]:
    """Pipelines with their defaults and their versions' summaries, in three queries for any
    number: no spec (a spec may be megabytes; GET /api/pipelines/NAME/versions/HASH has it)."""
    defaults: dict[int, dict[str, str]] = {}
    default_in: dict[int, list[str]] = {}
    for pointer in queries.default_pointers(rows):
        defaults.setdefault(pointer.pipeline_id, {})[pointer.environment] = (
            pointer.version.spec_hash
        )
        default_in.setdefault(pointer.version_id, []).append(pointer.environment)
    versions: dict[int, list[s.PipelineVersionSummary]] = {}
    for version in _versions().defer("spec").filter(pipeline__in=rows):
        versions.setdefault(version.pipeline_id, []).append(_summary(version, default_in))
    return [
        s.PipelineOut(
            name=p.name,
            smoke_units=p.smoke_units,
            defaults=defaults.get(p.pk, {}),
            versions=versions.get(p.pk, []),
        )
        for p in rows
    ]


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


@router.get("", response=list[s.PipelineOut])
@paginate(PipelinePages)
def list_pipelines(request: HttpRequest) -> Any:
    return Pipeline.objects.order_by("name")


@router.post("", response={200: s.Registration, 201: s.Registration, **s.PROBLEMS})
def register_pipeline(request: HttpRequest, payload: s.PipelineIn) -> Status:
    done = registry.register_pipeline_version(
        payload.spec,
        limits=registry.served_limits(),
        kind=payload.kind,
        source_commit=payload.source_commit,
        author=user_of(request),
    )
    body = s.Registration(
        created=done.created,
        version=_version_out(_versions().get(pk=done.version.pk)),
        warnings=[diagnostic_body(d) for d in done.warnings],
    )
    return Status(201 if done.created else 200, body)


@router.get("/{name}", response={200: s.PipelineOut, **s.PROBLEMS})
def get_pipeline(request: HttpRequest, name: s.NamePath) -> s.PipelineOut:
    return _pipelines_out([_pipeline(name)])[0]


@router.put("/{name}/smoke-units", response={200: s.PipelineOut, **s.PROBLEMS})
def set_smoke_units(
    request: HttpRequest, name: s.NamePath, payload: s.SmokeUnitsIn
) -> s.PipelineOut:
    pipeline = release.set_smoke_units(_pipeline(name), payload.units, user_of(request))
    return _pipelines_out([pipeline])[0]


@router.get("/{name}/versions/{version}", response={200: s.PipelineVersionOut, **s.PROBLEMS})
def get_pipeline_version(
    request: HttpRequest, name: s.NamePath, version: s.PipelineVersionPath
) -> s.PipelineVersionOut:
    return _version_out(_one_version(name, version))


@router.post(
    "/{name}/versions/{version}/approve", response={200: s.PipelineVersionOut, **s.PROBLEMS}
)
def approve(
    request: HttpRequest, name: s.NamePath, version: s.PipelineVersionPath, payload: s.ApproveIn
) -> s.PipelineVersionOut:
    release.approve(_one_version(name, version), user_of(request), payload.comment)
    return _version_out(_one_version(name, version))


@router.post("/{name}/versions/{version}/promote", response={202: s.PromotionOut, **s.PROBLEMS})
def promote(
    request: HttpRequest, name: s.NamePath, version: s.PipelineVersionPath, payload: s.EnvironmentIn
) -> Status:
    row = _one_version(name, version)
    promotion = release.promote(row, payload.environment, user_of(request), current_executor())
    return Status(202, _promotions().get(pk=promotion.pk))


@router.post("/{name}/rollback", response={200: s.DefaultOut, **s.PROBLEMS})
def rollback(request: HttpRequest, name: s.NamePath, payload: s.EnvironmentIn) -> s.DefaultOut:
    pointer = release.rollback(_pipeline(name), payload.environment, user_of(request))
    return s.DefaultOut(
        pipeline=name,
        environment=pointer.environment,
        spec_hash=pointer.version.spec_hash,
        previous=pointer.previous.spec_hash if pointer.previous else None,
        moved_at=pointer.moved_at,
    )


def _promotions() -> QuerySet[Promotion]:
    return Promotion.objects.select_related("version__pipeline", "requested_by")


@promotions.get("", response=list[s.PromotionOut])
@paginate(Pages)
def list_promotions(request: HttpRequest) -> Any:
    release.settle_all()
    return _promotions()


@promotions.get("/{promotion_id}", response={200: s.PromotionOut, **s.PROBLEMS})
def get_promotion(request: HttpRequest, promotion_id: s.IdPath) -> Promotion:
    row = _promotions().filter(pk=promotion_id).first()
    if row is None:
        raise NotFound(f"no promotion {promotion_id}")
    release.settle(row)
    return _promotions().get(pk=promotion_id)
