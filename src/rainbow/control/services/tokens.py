"""API tokens: shown once when issued, stored as a SHA-256 digest, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from rainbow.control.models import ApiToken
from rainbow.control.persistence import audit
from rainbow.control.services.refusals import Forbidden, NotFound

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, User

PREFIX = "rbt_"
LAST_USED_PRECISION = timedelta(minutes=1)


def digest(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough (no dictionary to guard against).
    return hashlib.sha256(token.encode()).hexdigest()


def issue(user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row, and the token itself (never stored, never shown again)."""
    token = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        row = ApiToken.objects.create(
            user=user, name=name, prefix=token[: len(PREFIX) + 6], digest=digest(token)
        )
        audit.record(user, "token.issue", f"token {row.prefix}…", name=name)
    return row, token


def user_for(token: str) -> User | None:
    """The active user holding this unrevoked token, or None."""
    row = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    # Once a minute is precise enough to see unused tokens, and spares every request a write
    # (on SQLite, the one write lock).
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


def revoke(token_id: int, by: AbstractBaseUser) -> ApiToken:
    """Revoke one of ``by``'s tokens (an admin may revoke anyone's)."""
    from rainbow.control.services.roles import ADMIN, has_role

    row = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if row is None:
        raise NotFound(f"no API token {token_id}")
    if row.user_id != by.pk and not has_role(by, ADMIN):
        raise Forbidden(f"token {token_id} belongs to someone else; only an admin may revoke it")
    with transaction.atomic():
        if row.revoked_at is None:
            row.revoked_at = timezone.now()
            row.save(update_fields=["revoked_at"])
            audit.record(by, "token.revoke", f"token {row.prefix}…", owner=row.user.username)
    return row
