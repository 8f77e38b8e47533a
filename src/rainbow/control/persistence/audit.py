"""The audit log: one entry per change people make, in the change's own transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rainbow.control.models import AuditEntry

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def record(
    actor: AbstractBaseUser | None,
    action: str,
    target: str,
    *,
    using: str = "default",
    **detail: Any,
) -> AuditEntry:
    """``action`` is dotted (``default.move``); ``target`` names what changed; no actor is the
    system (a worker's announcement)."""
    return AuditEntry.objects.using(using).create(
        actor=actor if actor is not None and actor.pk else None,
        actor_name=getattr(actor, "username", "") or "system",
        action=action,
        target=target,
        detail=detail,
    )
