"""Release gates for system-default pipelines: approve → promote (smoke runs) → default.

- Approvals come from approvers other than the version's author, one each; promoting needs
  ``RAINBOW_REQUIRED_APPROVALS`` of them, counted when promoting: an approval counts only while
  its approver still may approve (active, approver role or higher), so demoting or deactivating
  someone withdraws their approvals without deleting the record.
- Promoting starts a :class:`Promotion`: the pipeline's smoke units run on the version in the
  target environment, and only when every one has succeeded does the default pointer move
  (:func:`settle`). A failed smoke run leaves the old default in place.
- Rolling back swaps the pointer with the version it pointed to before: one action.

Every approval, pointer move and failure goes to the audit log in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from rainbow.control.models import (
    Approval,
    DefaultPointer,
    Environment,
    Pipeline,
    PipelineVersion,
    Promotion,
    Run,
)
from rainbow.control.persistence import audit
from rainbow.control.services.execution import Executor
from rainbow.control.services.refusals import Conflict, Invalid, NotFound
from rainbow.control.services.registry import forbid_author, require_runnable
from rainbow.control.services.roles import APPROVER, holders, require
from rainbow.control.services.units import bind_units
from rainbow.engine.machine import FINISHED_RUN
from rainbow.errors import PlatformError
from rainbow.spec.models import PipelineSpec

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, User


SMOKE_GRACE = timedelta(minutes=10)
"""How much longer than the pipeline's own timeout smoke runs may take (queueing, start-up)."""


def required_approvals() -> int:
    # Set with the web options, whose default is rainbow.settings.DEFAULT_REQUIRED_APPROVALS.
    return int(settings.RAINBOW_REQUIRED_APPROVALS)


def counting(path: str = "") -> Q:
    """Approvals that count toward promotion, as a filter on the approval at ``path`` (e.g.
    ``"approvals__"`` from a pipeline version): the gate, the admin and the API count alike."""
    return Q(**{f"{path}approver__in": holders(APPROVER)})


def environment_of(name: str) -> str:
    if name not in Environment.values:
        raise Invalid(
            f"{name!r} is not an environment", hint=f"use one of {', '.join(Environment.values)}"
        )
    return name


def set_smoke_units(
    pipeline: Pipeline, units: Sequence[Mapping[str, Any]], user: AbstractBaseUser
) -> Pipeline:
    """What a promotion of ``pipeline`` must run successfully; checked against its newest
    version now (a promotion checks against its own version again)."""
    require(user, APPROVER, "change smoke units")
    newest = pipeline.versions.order_by("-created_at").first()
    if newest is not None:
        spec = PipelineSpec.model_validate(newest.spec)
        bind_units(spec, units, name="smoke", what="smoke unit")
    with transaction.atomic():
        pipeline.smoke_units = [dict(unit) for unit in units]
        pipeline.save(update_fields=["smoke_units"])
        audit.record(user, "pipeline.smoke_units", pipeline.name, units=len(units))
    return pipeline


def approve(version: PipelineVersion, user: AbstractBaseUser, comment: str = "") -> Approval:
    require(user, APPROVER, "approve pipeline versions")
    if version.kind == PipelineVersion.Kind.ONE_OFF:
        raise Conflict(
            f"{version} is a one-off pipeline: one-offs run in staging and are never approved "
            "or promoted",
            hint="register the spec as a system-default pipeline to release it",
        )
    forbid_author(version, user, "approve")
    try:
        with transaction.atomic():
            approval = Approval.objects.create(version=version, approver=user, comment=comment)
            audit.record(user, "pipeline.approve", str(version), comment=comment)
    except IntegrityError:  # the unique (version, approver) constraint: approved already
        raise Conflict(f"{user.get_username()} has already approved {version}") from None
    return approval


def promote(
    version: PipelineVersion, environment: str, user: AbstractBaseUser, executor: Executor
) -> Promotion:
    """Start making ``version`` the default in ``environment``: its smoke runs are submitted;
    :func:`settle` moves the pointer once they have all succeeded."""
    require(user, APPROVER, "promote pipeline versions")
    environment = environment_of(environment)
    if version.kind == PipelineVersion.Kind.ONE_OFF:
        raise Conflict(
            f"{version} is a one-off pipeline and cannot become a default",
            hint="register the spec as a system-default pipeline to release it",
        )
    require_runnable(version, environment)
    approvals = version.approvals.filter(counting()).count()
    needed = required_approvals()
    if approvals < needed:
        lapsed = version.approvals.exclude(counting()).count()
        raise Conflict(
            f"{version} has {approvals} of the {needed} approvals it needs to be promoted"
            + (
                f" ({lapsed} more from approvers who no longer hold the approver role or whose "
                "accounts are inactive do not count)"
                if lapsed
                else ""
            ),
            hint="approvers other than its author approve it first",
        )
    pipeline = version.pipeline
    if not pipeline.smoke_units:
        raise Conflict(
            f"pipeline {pipeline.name} has no smoke units: nothing would prove {version} works "
            f"in {environment} before it becomes the default",
            hint="set the pipeline's smoke units (admin, or PUT /api/pipelines/NAME/smoke-units)",
        )
    spec = PipelineSpec.model_validate(version.spec)
    units = bind_units(spec, pipeline.smoke_units, name="smoke", what="smoke unit")
    with transaction.atomic():
        # Serialise promotions of one pipeline: the check below and the insert must not race.
        Pipeline.objects.select_for_update().get(pk=pipeline.pk)
        pointer = DefaultPointer.objects.filter(pipeline=pipeline, environment=environment).first()
        if pointer is not None and pointer.version_id == version.pk:
            raise Conflict(f"{version} is already the default in {environment}")
        if Promotion.objects.filter(
            version__pipeline=pipeline,
            environment=environment,
            status=Promotion.Status.SMOKE_TESTING,
        ).exists():
            raise Conflict(
                f"another promotion of {pipeline.name} to {environment} is smoke testing",
                hint="wait for it to end (GET /api/promotions)",
            )
        promotion = Promotion.objects.create(
            version=version, environment=environment, requested_by=user
        )
        audit.record(user, "promotion.start", str(version), environment=environment)
    try:
        promotion.run_ids = executor.submit(
            spec, units, environment=environment, submitted_by=user.get_username()
        )
    except Exception as exc:
        # Left smoke testing, it would block every later promotion of the pipeline here.
        _fail(promotion, f"the smoke runs could not be submitted: {exc}")
        raise PlatformError(f"{version} was not promoted: {promotion.reason}") from exc
    promotion.save(update_fields=["run_ids"])
    return promotion


def settle(promotion: Promotion) -> Promotion:
    """Move the default once every smoke run succeeded; fail the promotion if one did not, or
    if they have not all ended within the pipeline's timeout and SMOKE_GRACE."""
    if promotion.status != Promotion.Status.SMOKE_TESTING or not promotion.run_ids:
        return promotion
    statuses = dict(
        Run.objects.filter(run_id__in=promotion.run_ids).values_list("run_id", "status")
    )
    ended = len(statuses) == len(promotion.run_ids) and all(
        s in FINISHED_RUN for s in statuses.values()
    )
    if not ended:
        allowed = timedelta(seconds=float(promotion.version.spec.get("timeout", 0))) + SMOKE_GRACE
        if timezone.now() - promotion.created_at > allowed:
            return _fail(promotion, f"the smoke runs did not all end within {allowed}")
        return promotion
    failed = sorted(run_id for run_id, status in statuses.items() if status != "succeeded")
    if failed:
        return _fail(promotion, f"smoke run(s) did not succeed: {', '.join(failed)}")
    with transaction.atomic():
        locked = Promotion.objects.select_for_update().get(pk=promotion.pk)
        if locked.status != Promotion.Status.SMOKE_TESTING:
            return locked
        locked.finished_at = timezone.now()
        version = locked.version
        _move_default(version, locked.environment, locked.requested_by, "default.move")
        locked.status = Promotion.Status.SUCCEEDED
        locked.save(update_fields=["status", "finished_at"])
    return locked


def _fail(promotion: Promotion, reason: str) -> Promotion:
    with transaction.atomic():
        locked = Promotion.objects.select_for_update().get(pk=promotion.pk)
        if locked.status != Promotion.Status.SMOKE_TESTING:
            return locked
        locked.status, locked.reason = Promotion.Status.FAILED, reason
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "reason", "finished_at"])
        audit.record(
            locked.requested_by,
            "promotion.fail",
            str(locked.version),
            environment=locked.environment,
            reason=reason,
        )
    promotion.status, promotion.reason = locked.status, locked.reason
    return locked


def settle_all() -> int:
    """Settle every promotion still smoke testing; how many ended."""
    ended = 0
    for promotion in Promotion.objects.filter(status=Promotion.Status.SMOKE_TESTING):
        if settle(promotion).status != Promotion.Status.SMOKE_TESTING:
            ended += 1
    return ended


def rollback(pipeline: Pipeline, environment: str, user: AbstractBaseUser) -> DefaultPointer:
    """Point the default back at the version it pointed to before the last move."""
    require(user, APPROVER, "roll back defaults")
    environment = environment_of(environment)
    with transaction.atomic():
        pointer = (
            DefaultPointer.objects.select_for_update()
            .filter(pipeline=pipeline, environment=environment)
            .first()
        )
        if pointer is None:
            raise NotFound(f"pipeline {pipeline.name} has no default in {environment}")
        if pointer.previous is None:
            raise Conflict(
                f"{pointer.version} is the first default of {pipeline.name} in {environment}: "
                "there is nothing to roll back to"
            )
        require_runnable(pointer.previous, environment)
        return _move_default(pointer.previous, environment, user, "default.rollback")


def _move_default(
    version: PipelineVersion, environment: str, user: AbstractBaseUser | None, action: str
) -> DefaultPointer:
    """Point ``environment``'s default at ``version``; statuses follow (in the caller's
    transaction)."""
    pointer = (
        DefaultPointer.objects.select_for_update()
        .filter(pipeline=version.pipeline, environment=environment)
        .first()
    )
    before = pointer.version if pointer is not None else None
    if pointer is None:
        pointer = DefaultPointer(pipeline=version.pipeline, environment=environment)
    pointer.previous, pointer.version = before, version
    pointer.moved_at, pointer.moved_by = timezone.now(), cast("User | None", user)
    pointer.save()
    version.status = PipelineVersion.Status.ACTIVE
    version.save(update_fields=["status"])
    if before is not None and before.pk != version.pk:
        still_default = DefaultPointer.objects.filter(version=before).exists()
        if not still_default:
            before.status = PipelineVersion.Status.INACTIVE
            before.save(update_fields=["status"])
    audit.record(
        user,
        action,
        f"{version.pipeline.name} in {environment}",
        to=version.spec_hash,
        was=before.spec_hash if before is not None else None,
    )
    return pointer


def default_version(pipeline_name: str, environment: str) -> PipelineVersion:
    environment = environment_of(environment)
    pointer = (
        DefaultPointer.objects.select_related("version__pipeline")
        .filter(pipeline__name=pipeline_name, environment=environment)
        .first()
    )
    if pointer is None:
        known = Pipeline.objects.filter(name=pipeline_name).exists()
        raise NotFound(
            f"pipeline {pipeline_name!r} has no default in {environment}"
            if known
            else f"no pipeline named {pipeline_name!r} is registered",
            hint="give an exact version, or promote one to be the default"
            if known
            else "register it: rainbow pipeline register FILE.py",
        )
    return pointer.version
