"""Released builds in the registry: what ``rainbow release`` records, and what versioned
workers read back.

- ``latest`` and branch builds move in place: each new commit adds a build to the history.
- A release ``X.Y`` is created once, from its tag's commit. The same tag released again is the
  same release; a tag ``X.Y`` at another commit is refused (a released version never moves
  by a tag).
- A hot fix moves ``X.Y`` to a commit on ``release-X.Y`` in place, recorded as ``X.Y.1``,
  ``X.Y.2``, …, only while its interface keeps X.Y's contract (``deploy.compat``).
- Nothing is released into a retired version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from django.db import IntegrityError, transaction

from rainbow.control.models import Module, ModuleBuild, ModuleVersion, PipelineVersion
from rainbow.control.persistence import audit
from rainbow.control.persistence.store import store_errors
from rainbow.control.services.refusals import Conflict, Invalid, NotFound
from rainbow.control.services.registry import parse_interface
from rainbow.control.services.roles import ADMIN, RESEARCHER, require
from rainbow.control.services.versions import VERSION_RULE, is_module_version
from rainbow.deploy.compat import breaking_changes
from rainbow.deploy.registry import ReleasedVersion
from rainbow.spec.models import BRANCH_PREFIX, ModuleInterface

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

ReleaseKind = Literal["latest", "release", "hotfix", "branch"]
KINDS = ("latest", "release", "hotfix", "branch")
SHOWN_PINS = 10
MAX_REASON_CHARS = 1000


@dataclass(frozen=True)
class Release:
    module: str
    version: str
    kind: str
    commit: str
    ref: str
    artifact_url: str
    artifact_hash: str
    interface: dict[str, Any]
    released_by: str


@dataclass(frozen=True)
class Recorded:
    row: ModuleVersion
    label: str
    """The history's name for this build: ``latest``, ``1.0``, ``1.0.2``, ``branch-x``."""
    outcome: Literal["created", "moved", "unchanged"]


def record_release(release: Release, *, by: AbstractBaseUser | None) -> Recorded:
    """Record a build in the registry by the rules above; ``by`` None is direct store use."""
    if by is not None:
        require(by, RESEARCHER, "release module versions")
    if release.kind not in KINDS:
        raise Invalid(f"{release.kind!r} is not a release kind", hint=f"use one of {KINDS}")
    if not is_module_version(release.version):
        raise Invalid(f"{release.version!r} is not a module version: {VERSION_RULE}")
    if _kind_of(release.version) != {"hotfix": "release"}.get(release.kind, release.kind):
        raise Invalid(
            f"a {release.kind} release cannot be version {release.version!r}",
            hint="latest is released from main, X.Y from a tag or its release-X.Y branch, "
            "branch-… from another branch: let `rainbow release` read git",
        )
    interface = parse_interface(release.interface)
    if interface.name != release.module:
        raise Invalid(
            f"the build declares module {interface.name!r}, not {release.module!r}",
            hint="release it under its own name",
        )
    recorded = interface.model_dump(mode="json")
    try:
        return _record(release, interface, recorded, by)
    except IntegrityError:  # released by someone else a moment ago: judge against theirs
        return _record(release, interface, recorded, by)


def record_releases(releases: list[Release], *, by: AbstractBaseUser | None) -> list[Recorded]:
    """The modules of one build, all or none: if one is refused, none moves."""
    with transaction.atomic():
        return [record_release(release, by=by) for release in releases]


def _kind_of(version: str) -> str:
    if version == "latest":
        return "latest"
    return "branch" if version.startswith(BRANCH_PREFIX) else "release"


def _record(
    release: Release,
    interface: ModuleInterface,
    recorded: dict[str, Any],
    by: AbstractBaseUser | None,
) -> Recorded:
    name, version = release.module, release.version
    with transaction.atomic():
        module, _ = Module.objects.get_or_create(name=name)
        row = (
            ModuleVersion.objects.select_for_update().filter(module=module, version=version).first()
        )
        if row is None:
            if release.kind == "hotfix":
                raise NotFound(
                    f"{name}@{version} was never released, so there is nothing to hot-fix",
                    code="RB-E083",
                    hint=f"release the tag {version} first (check it out and run rainbow "
                    "release), then release the branch",
                )
            row = ModuleVersion.objects.create(
                module=module,
                version=version,
                interface=recorded,
                commit=release.commit,
                artifact_url=release.artifact_url,
                artifact_hash=release.artifact_hash,
            )
            _build(row, version, release, recorded, by)
            return Recorded(row, version, "created")
        if row.status == ModuleVersion.Status.RETIRED:
            raise Conflict(
                f"{name}@{version} is retired ({row.status_reason or 'no reason given'}): "
                "nothing is released into it",
                code="RB-E083",
                hint="release a new version, or bring it back first: "
                f"rainbow module live {name}@{version}",
            )
        builds = list(row.builds.order_by("released_at", "id"))
        if row.artifact_hash == release.artifact_hash and row.commit == release.commit:
            return Recorded(row, builds[-1].label if builds else version, "unchanged")
        if release.kind == "release":
            return _release_again(row, builds, release, recorded, by)
        if release.kind == "hotfix" and not builds:
            raise Conflict(
                f"{name}@{version} was registered without a release (a worker of local code "
                "announced it), so there is nothing to hot-fix",
                code="RB-E083",
                hint=f"release the tag {version} first, then release the branch",
            )
        if any(b.commit == release.commit for b in builds):
            # A build of an older commit again (a CI job re-run): the version never moves back.
            return Recorded(row, builds[-1].label, "unchanged")
        label = version
        if release.kind == "hotfix":
            problems = breaking_changes(ModuleInterface.model_validate(row.interface), interface)
            if problems:
                raise Conflict(
                    f"the hot fix of {name}@{version} breaks its interface: "
                    f"{'; '.join(problems)}. {_pinned_by(name, version)}",
                    code="RB-E069",
                    hint=f"a hot fix keeps {version}'s inputs and outputs (a new input needs a "
                    "default): release the change as a new version from main and a new tag",
                )
            label = f"{version}.{max(len(builds), 1)}"
        row.interface, row.commit = recorded, release.commit
        row.artifact_url, row.artifact_hash = release.artifact_url, release.artifact_hash
        row.save(update_fields=["interface", "commit", "artifact_url", "artifact_hash"])
        _build(row, label, release, recorded, by)
        return Recorded(row, label, "moved")


def _release_again(
    row: ModuleVersion,
    builds: list[ModuleBuild],
    release: Release,
    recorded: dict[str, Any],
    by: AbstractBaseUser | None,
) -> Recorded:
    name, version = row.module.name, row.version
    if builds and builds[0].commit == release.commit:
        return Recorded(row, builds[-1].label, "unchanged")  # the tag again, after hot fixes
    if builds:
        raise Conflict(
            f"tag {release.ref} is at {release.commit[:12]}, but {name}@{version} was released "
            f"from {builds[0].commit[:12]}: a released version never moves by a tag",
            code="RB-E068",
            hint=f"tag a new version for new code, or commit a hot fix on release-{version}",
        )
    if row.interface != recorded:
        raise Conflict(
            f"{name}@{version} is already registered with another interface; released "
            "versions are immutable",
            code="RB-E068",
            hint=f"tag a new version of {name} for an interface change",
        )
    # Registered before any build (by a worker of local code): this release gives it one.
    row.commit, row.artifact_url = release.commit, release.artifact_url
    row.artifact_hash = release.artifact_hash
    row.save(update_fields=["commit", "artifact_url", "artifact_hash"])
    _build(row, version, release, recorded, by)
    return Recorded(row, version, "moved")


def _build(
    row: ModuleVersion,
    label: str,
    release: Release,
    recorded: dict[str, Any],
    by: AbstractBaseUser | None,
) -> None:
    ModuleBuild.objects.create(
        module_version=row,
        label=label,
        commit=release.commit,
        ref=release.ref[:255],
        artifact_url=release.artifact_url,
        artifact_hash=release.artifact_hash,
        interface=recorded,
        released_by=release.released_by[:300],
    )
    audit.record(
        by,
        f"module.{release.kind}",
        f"{row.module.name}@{row.version}",
        label=label,
        commit=release.commit,
        ref=release.ref,
        artifact=release.artifact_hash,
        released_by=release.released_by,
    )


def _pinned_by(name: str, version: str) -> str:
    """Which pipeline versions pin ``name@version``, for a refusal's message."""
    pins: list[str] = []
    needle = {"module": name, "version": version}
    rows = PipelineVersion.objects.select_related("pipeline").only(
        "spec", "spec_hash", "pipeline__name"
    )
    for row in rows.iterator():
        steps = row.spec.get("steps", [])
        if any(s.get("module") == needle["module"] and s.get("version") == version for s in steps):
            pins.append(f"{row.pipeline.name} {row.spec_hash[:19]}")
    if not pins:
        return "No registered pipeline pins it."
    shown = ", ".join(pins[:SHOWN_PINS]) + (
        f" and {len(pins) - SHOWN_PINS} more" if len(pins) > SHOWN_PINS else ""
    )
    return f"Pipelines pinning {name}@{version}: {shown}."


def released(name: str, version: str) -> ReleasedVersion | None:
    row = (
        ModuleVersion.objects.select_related("module")
        .filter(module__name=name, version=version)
        .first()
    )
    if row is None:
        return None
    return ReleasedVersion(
        module=name,
        version=version,
        status=row.status,
        reason=row.status_reason,
        commit=row.commit,
        artifact_url=row.artifact_url,
        artifact_hash=row.artifact_hash,
        cache=row.interface.get("cache", True) is not False,
    )


class StoreRegistry:
    """The registry read straight from the store (no control plane)."""

    def released(self, module: str, version: str) -> ReleasedVersion | None:
        with store_errors("the registry refused the question", "the registry failed"):
            return released(module, version)

    def reconnect(self) -> None:
        from django.db import connections

        for connection in connections.all():
            connection.close_if_unusable_or_obsolete()


def set_status(
    name: str,
    version: str,
    status: str,
    *,
    reason: str,
    by: AbstractBaseUser | None,
    actor_name: str = "",
) -> ModuleVersion:
    """Drain or retire a module version, or bring it back to live, with the reason; admins
    only through the control plane (``by`` None: direct store use, audited as ``actor_name``)."""
    if by is not None:
        require(by, ADMIN, f"mark module versions {status}")
    if status not in ModuleVersion.Status.values:
        raise Invalid(
            f"{status!r} is not a module version status",
            hint=f"use one of {', '.join(ModuleVersion.Status.values)}",
        )
    reason = reason.strip()[:MAX_REASON_CHARS]
    with transaction.atomic():
        row = (
            ModuleVersion.objects.select_for_update()
            .select_related("module")
            .filter(module__name=name, version=version)
            .first()
        )
        if row is None:
            raise NotFound(
                f"module version {name}@{version} is not registered",
                hint="`rainbow module list` shows the registered versions",
            )
        if row.status != status or row.status_reason != reason:
            before = row.status
            row.status, row.status_reason = status, reason
            row.save(update_fields=["status", "status_reason"])
            entry = audit.record(
                by, f"module.{status}", f"{name}@{version}", was=before, reason=reason
            )
            if by is None and actor_name:
                entry.actor_name = actor_name[:150]
                entry.save(update_fields=["actor_name"])
    return row


def versions(name: str | None = None) -> list[ModuleVersion]:
    rows = ModuleVersion.objects.select_related("module").order_by("module__name", "version")
    return list(rows.filter(module__name=name) if name else rows)


def history(row: ModuleVersion) -> list[ModuleBuild]:
    return list(row.builds.order_by("released_at", "id"))
