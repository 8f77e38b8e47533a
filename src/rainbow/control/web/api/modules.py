"""``/api/modules``: module versions, their interfaces, status and the workers serving them."""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Router, Status

from rainbow.control.models import Module, ModuleVersion
from rainbow.control.services import builds, queries, registry
from rainbow.control.services.queries import InstanceSeen
from rainbow.control.services.refusals import NotFound
from rainbow.control.web import schemas as s
from rainbow.control.web.answers import (
    InstanceOut,
    ModuleBuildOut,
    ModuleOut,
    ModuleVersionOut,
    ReleaseOut,
)
from rainbow.control.web.api.auth import user_of

router = Router(tags=["modules"])

Instances = dict[tuple[str, str], list[InstanceSeen]]
SHOWN_BUILDS = 100


def _version_out(
    row: ModuleVersion, instances: Instances, *, with_builds: bool = False
) -> ModuleVersionOut:
    history = builds.history(row)[-SHOWN_BUILDS:] if with_builds else []
    return ModuleVersionOut(
        module=row.module.name,
        version=row.version,
        commit=row.commit,
        status=row.status,
        registered_at=row.registered_at,
        interface=row.interface,
        instances=[
            InstanceOut.model_validate(seen)
            for seen in instances.get((row.module.name, row.version), [])
        ],
        status_reason=row.status_reason,
        artifact_url=row.artifact_url,
        artifact_hash=row.artifact_hash,
        builds=[ModuleBuildOut.model_validate(b, from_attributes=True) for b in history],
    )


def _module_out(module: Module, instances: Instances) -> ModuleOut:
    versions = [_version_out(v, instances) for v in module.versions.all()]
    return ModuleOut(name=module.name, versions=versions)


@router.get("", response=list[ModuleOut])
def list_modules(request: HttpRequest) -> list[ModuleOut]:
    instances = queries.instances_by_version()
    rows = Module.objects.prefetch_related(
        Prefetch("versions", queryset=ModuleVersion.objects.select_related("module"))
    )
    return [_module_out(m, instances) for m in rows]


@router.get("/{name}", response={200: ModuleOut, **s.PROBLEMS})
def get_module(request: HttpRequest, name: s.NamePath) -> ModuleOut:
    module = Module.objects.filter(name=name).first()
    if module is None:
        raise NotFound(f"no module named {name!r} is registered")
    return _module_out(module, queries.instances_by_version())


@router.post(
    "/{name}/versions", response={200: ModuleVersionOut, 201: ModuleVersionOut, **s.PROBLEMS}
)
def register_module_version(
    request: HttpRequest, name: s.NamePath, payload: s.ModuleVersionIn
) -> Status:
    row, created = registry.register_module_version(
        name, payload.version, payload.interface, commit=payload.commit, by=user_of(request)
    )
    return Status(201 if created else 200, _version_out(row, queries.instances_by_version()))


@router.post("/{name}/versions/{version}/status", response={200: ModuleVersionOut, **s.PROBLEMS})
def set_module_status(
    request: HttpRequest, name: s.NamePath, version: s.ModuleVersionPath, payload: s.ModuleStatusIn
) -> ModuleVersionOut:
    row = builds.set_status(
        name, version, payload.status, reason=payload.reason, by=user_of(request)
    )
    return _version_out(row, queries.instances_by_version())


@router.get("/{name}/versions/{version}", response={200: ModuleVersionOut, **s.PROBLEMS})
def get_module_version(
    request: HttpRequest, name: s.NamePath, version: s.ModuleVersionPath
) -> ModuleVersionOut:
    row = registry.module_version(name, version)
    return _version_out(row, queries.instances_by_version(), with_builds=True)


@router.post("/{name}/releases", response={200: ReleaseOut, 201: ReleaseOut, **s.PROBLEMS})
def record_release(request: HttpRequest, name: s.NamePath, payload: s.ReleaseIn) -> Status:
    done = builds.record_release(
        builds.Release(module=name, **payload.model_dump()), by=user_of(request)
    )
    answer = ReleaseOut(
        version=_version_out(done.row, queries.instances_by_version(), with_builds=True),
        label=done.label,
        outcome=done.outcome,
    )
    return Status(201 if done.outcome == "created" else 200, answer)
