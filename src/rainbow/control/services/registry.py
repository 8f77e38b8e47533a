"""Registering module versions and pipeline versions: contracts checked, not hoped for.

A module version records its interface. A pipeline version is accepted only if its wiring holds
against the recorded interfaces of the exact versions it pins, with the same diagnostics as
``rainbow validate``; registering the same spec twice returns the version already there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from pydantic import ValidationError

from rainbow.control.models import Module, ModuleVersion, Pipeline, PipelineVersion
from rainbow.control.persistence import audit
from rainbow.control.services.refusals import Conflict, Forbidden, Invalid, NotFound
from rainbow.control.services.roles import RESEARCHER, require
from rainbow.control.services.versions import VERSION_RULE, is_module_version
from rainbow.diagnostics import Diagnostic, Location
from rainbow.spec.canonical import spec_to_dict
from rainbow.spec.limits import SpecLimits
from rainbow.spec.models import BRANCH_PREFIX, ModuleInterface, PipelineSpec
from rainbow.spec.validate import from_data
from rainbow.spec.wiring import WiringPolicy, check

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

REGISTRY_POLICY = WiringPolicy(unknown_module="error")
"""Every pinned version must be registered: its interface is the contract being checked."""


def parse_interface(data: Any) -> ModuleInterface:
    try:
        return ModuleInterface.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the interface"
        raise Invalid(
            f"the module interface is not valid: {where}: {first['msg']}",
            hint="send the interface a worker announces (rainbow.sdk: module.interface)",
        ) from None


def register_module_version(
    name: str,
    version: str,
    interface: Mapping[str, Any],
    *,
    commit: str = "",
    by: AbstractBaseUser | None,
) -> tuple[ModuleVersion, bool]:
    """Record ``name@version`` with its interface; returns (the version, whether it is new).

    ``latest`` follows main, so its interface is updated in place; a released version is
    immutable: the same interface again is accepted, another one is refused.
    """
    if by is not None:
        require(by, RESEARCHER, "register module versions")
    if not is_module_version(version):
        raise Invalid(f"{version!r} is not a module version: {VERSION_RULE}")
    parsed = parse_interface(interface)
    if parsed.name != name:
        raise Invalid(
            f"the interface is for module {parsed.name!r}, not {name!r}",
            hint="register it under its own name",
        )
    recorded = parsed.model_dump(mode="json")
    try:
        return _record_module_version(name, version, recorded, commit, by)
    except IntegrityError:  # registered by someone else a moment ago: judge against theirs
        return _record_module_version(name, version, recorded, commit, by)


def _record_module_version(
    name: str,
    version: str,
    recorded: dict[str, Any],
    commit: str,
    by: AbstractBaseUser | None,
) -> tuple[ModuleVersion, bool]:
    with transaction.atomic():
        module, _ = Module.objects.get_or_create(name=name)
        existing = ModuleVersion.objects.select_for_update().filter(module=module, version=version)
        row = existing.first()
        if row is None:
            row = ModuleVersion.objects.create(
                module=module, version=version, interface=recorded, commit=commit, registered_by=by
            )
            audit.record(by, "module.register", f"{name}@{version}", commit=commit)
            return row, True
        if row.interface == recorded and (version != "latest" or row.commit == commit):
            return row, False
        if version != "latest":
            raise Conflict(
                f"{name}@{version} is already registered with another interface; released "
                "versions are immutable",
                hint=f"release a new version of {name} for an interface change (hot fixes "
                "keep the interface)",
            )
        row.interface, row.commit = recorded, commit
        row.save(update_fields=["interface", "commit"])
        audit.record(by, "module.update", f"{name}@{version}", commit=commit)
        return row, False


def module_version(name: str, version: str) -> ModuleVersion:
    row = (
        ModuleVersion.objects.select_related("module")
        .filter(module__name=name, version=version)
        .first()
    )
    if row is None:
        raise NotFound(
            f"module version {name}@{version} is not registered",
            hint="register it: its workers announce it, or POST /api/modules/NAME/versions",
        )
    return row


@dataclass(frozen=True)
class Registered:
    version: PipelineVersion
    created: bool
    warnings: list[Diagnostic]


def served_limits() -> SpecLimits:
    """The spec limits ``rainbow web`` was started with (RAINBOW_MAX_SPEC_STEPS and _BYTES)."""
    return SpecLimits(settings.RAINBOW_MAX_SPEC_STEPS, settings.RAINBOW_MAX_SPEC_BYTES)


def check_spec(data: Any, limits: SpecLimits) -> tuple[PipelineSpec, list[Diagnostic]]:
    """The parsed spec and its warnings; Invalid with every diagnostic if it has errors.

    Wiring is checked against the registered interfaces of the exact versions pinned; a pin on a
    draining or retired version is refused.
    """
    spec, problems = from_data(data, file="spec", limits=limits)
    if spec is not None:
        interfaces, statuses = _pinned(spec)
        problems += check(spec, lambda m, v: interfaces.get((m, v)), REGISTRY_POLICY)
        for index, step in enumerate(spec.steps):
            status = statuses.get((step.module, step.version))
            if status in (ModuleVersion.Status.DRAINING, ModuleVersion.Status.RETIRED):
                problems.append(
                    Diagnostic(
                        "RB-E017",
                        f"{step.module}@{step.version} is {status}: new pipeline versions "
                        "may not pin it",
                        Location(file="spec", json_path=f"$.steps[{index}].version"),
                        "pin a live version of the module",
                    )
                )
    errors = [p for p in problems if p.severity == "error"]
    if spec is None or errors:
        raise Invalid(
            f"the pipeline spec has {len(errors)} error(s); nothing was registered",
            hint="fix them and register again (`rainbow validate` shows the same)",
            diagnostics=problems,
        )
    return spec, problems


def register_pipeline_version(
    data: Any,
    *,
    limits: SpecLimits,
    kind: str = PipelineVersion.Kind.SYSTEM_DEFAULT,
    source_commit: str = "",
    author: AbstractBaseUser,
) -> Registered:
    require(author, RESEARCHER, "register pipelines")
    if kind not in PipelineVersion.Kind.values:
        raise Invalid(
            f"{kind!r} is not a pipeline kind",
            hint=f"use one of {', '.join(PipelineVersion.Kind.values)}",
        )
    spec, warnings = check_spec(data, limits)
    branch_pins = sorted(
        {f"{s.module}@{s.version}" for s in spec.steps if s.version.startswith(BRANCH_PREFIX)}
    )
    if branch_pins and kind != PipelineVersion.Kind.ONE_OFF:
        raise Invalid(
            f"{spec.name} pins branch build(s) {', '.join(branch_pins)}: only one-off "
            "pipelines may, and they run in staging only",
            hint="register it with --kind one-off to try the branch, or pin a release",
        )
    try:
        with transaction.atomic():
            pipeline, _ = Pipeline.objects.get_or_create(name=spec.name)
            existing = PipelineVersion.objects.filter(pipeline=pipeline, spec_hash=spec.spec_hash)
            row = existing.first()
            if row is not None:
                if row.kind != kind:
                    raise Conflict(
                        f"{row} is already registered as {row.kind}, not {kind}",
                        hint="a spec is one version of one kind; change the spec to register "
                        "another",
                    )
                return Registered(row, False, warnings)
            row = PipelineVersion.objects.create(
                pipeline=pipeline,
                spec_hash=spec.spec_hash,
                spec=spec_to_dict(spec),
                kind=kind,
                author=author,
                source_commit=source_commit,
            )
            audit.record(
                author,
                "pipeline.register",
                str(row),
                kind=kind,
                spec_hash=spec.spec_hash,
                source_commit=source_commit,
            )
    except IntegrityError:  # registered by someone else a moment ago
        row = PipelineVersion.objects.get(pipeline__name=spec.name, spec_hash=spec.spec_hash)
        return Registered(row, False, warnings)
    return Registered(row, True, warnings)


def pipeline_version(name: str, version: str) -> PipelineVersion:
    """A pipeline's version by its spec hash, or a unique prefix of it (``sha256:`` optional)."""
    digits = version.removeprefix("sha256:")
    if len(digits) < 6:
        raise Invalid(
            f"version {version!r} is too short to identify a pipeline version",
            hint="give at least 6 hex digits of the spec hash",
        )
    rows = list(
        PipelineVersion.objects.select_related("pipeline").filter(
            pipeline__name=name, spec_hash__startswith=f"sha256:{digits}"
        )[:2]
    )
    if not rows:
        raise NotFound(
            f"pipeline {name!r} has no version {version!r}",
            hint=f"list its versions: GET /api/pipelines/{name}",
        )
    if len(rows) > 1:
        raise Invalid(f"{version!r} matches several versions of {name!r}; give more digits")
    return rows[0]


def require_runnable(version: PipelineVersion, environment: str) -> None:
    """One-off pipelines run in staging only; nothing runs on a retired module version."""
    if version.kind == PipelineVersion.Kind.ONE_OFF and environment != "staging":
        raise Forbidden(
            f"{version} is a one-off pipeline: it runs in staging only, never in {environment}",
            hint="register it as a system-default pipeline and promote it through the gates",
        )
    pins = {(s["module"], s["version"]) for s in version.spec.get("steps", [])}
    retired = [
        f"{row.module.name}@{row.version}"
        for row in ModuleVersion.objects.select_related("module").filter(
            status=ModuleVersion.Status.RETIRED, module__name__in={m for m, _ in pins}
        )
        if (row.module.name, row.version) in pins
    ]
    if retired:
        raise Conflict(
            f"{version} pins retired module version(s) {', '.join(sorted(retired))}",
            hint="run a pipeline version that pins live module versions",
        )


def _pinned(
    spec: PipelineSpec,
) -> tuple[dict[tuple[str, str], ModuleInterface], dict[tuple[str, str], str]]:
    pins = {(s.module, s.version) for s in spec.steps}
    rows = ModuleVersion.objects.select_related("module").filter(
        module__name__in={m for m, _ in pins}
    )
    interfaces, statuses = {}, {}
    for row in rows:
        key = (row.module.name, row.version)
        if key in pins:
            interfaces[key] = ModuleInterface.model_validate(row.interface)
            statuses[key] = row.status
    return interfaces, statuses


def forbid_author(version: PipelineVersion, user: AbstractBaseUser, doing: str) -> None:
    if version.author_id is not None and version.author_id == user.pk:
        raise Forbidden(
            f"{user.get_username()} wrote {version} and cannot {doing} it",
            hint="another approver must do it",
        )
