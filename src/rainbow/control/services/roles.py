"""Roles, enforced on the server: researcher ⊂ approver ⊂ admin.

- researcher: registers modules and pipelines, submits, retries and cancels runs;
- approver: also approves others' pipeline versions, promotes and rolls back defaults;
- admin: also retires module versions and manages users.

A role is a Django group of that name; a superuser holds every role. A role is judged when it
is used: an account that lost its role or was deactivated can no longer do what it needed, and
what it did before (an approval) counts only while it could still do it (:func:`holders`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from rainbow.control.services.refusals import Forbidden

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
    from django.db.models import QuerySet

RESEARCHER = "researcher"
APPROVER = "approver"
ADMIN = "admin"
ROLES = (RESEARCHER, APPROVER, ADMIN)
"""From least to most: each role can do everything the ones before it can."""


def role_of(user: AbstractBaseUser | AnonymousUser) -> str | None:
    """The highest role the user holds, or None."""
    if not user.is_authenticated or not user.is_active:
        return None
    if getattr(user, "is_superuser", False):
        return ADMIN
    names = set(cast("User", user).groups.values_list("name", flat=True))
    held = [role for role in ROLES if role in names]
    return held[-1] if held else None


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    held = role_of(user)
    return held is not None and ROLES.index(held) >= ROLES.index(role)


def holders(role: str) -> QuerySet[User]:
    """The accounts holding ``role`` (or a higher one) now, as :func:`role_of` judges them:
    active, and a superuser or in the group of that role or one above it. A query, so that it
    can be a subquery of a count (``approver__in=holders(APPROVER)``)."""
    from django.contrib.auth.models import User
    from django.db.models import Q

    above = ROLES[ROLES.index(role) :]
    return User.objects.filter(Q(is_superuser=True) | Q(groups__name__in=above), is_active=True)


def require(user: AbstractBaseUser | AnonymousUser, role: str, doing: str) -> None:
    """Refuse unless ``user`` holds ``role`` (or a higher one)."""
    if not has_role(user, role):
        held = role_of(user)
        raise Forbidden(
            f"{getattr(user, 'username', 'anonymous')} ({held or 'no role'}) cannot {doing}: "
            f"that needs the {role} role",
            hint="ask an admin to give you the role (rainbow createuser NAME --role ROLE)",
        )


def ensure_groups(using: str = "default", **signal: Any) -> None:
    """Create the role groups with the admin permissions each role needs, in the database just
    migrated (a ``post_migrate`` receiver)."""
    from django.contrib.auth.models import Group, Permission

    permissions = Permission.objects.using(using)
    viewing = list(
        permissions.filter(content_type__app_label="rainbow", codename__startswith="view_")
    )
    # Admins manage users on top; every change to Rainbow's own rows goes through the services
    # (the admin's actions and forms call them), never through a plain model form.
    users = list(permissions.filter(content_type__app_label="auth"))
    granted = {RESEARCHER: viewing, APPROVER: viewing, ADMIN: viewing + users}
    for role, allowed in granted.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set(allowed)
