"""``/api/me``, ``/api/audit`` and ``/api/tokens``: who is asking, what people changed, and the
caller's API tokens."""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from typing import Any

from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from rainbow.control.models import ApiToken, AuditEntry
from rainbow.control.services import tokens
from rainbow.control.services.roles import RESEARCHER, require, role_of
from rainbow.control.web import schemas as s
from rainbow.control.web.api.auth import user_of
from rainbow.control.web.api.paging import Pages

router = Router(tags=["access"])


@router.get("/me", response=s.Me)
def me(request: HttpRequest) -> s.Me:
    user = user_of(request)
    return s.Me(username=user.get_username(), role=role_of(user))


@router.get("/audit", response=list[s.AuditOut])
@paginate(Pages)
def audit_log(request: HttpRequest, action: str | None = None) -> Any:
    require(user_of(request), RESEARCHER, "read the audit log")
    entries = AuditEntry.objects.order_by("-at", "-id")
    return entries.filter(action=action) if action else entries


@router.get("/tokens", response=list[s.TokenOut])
def list_tokens(request: HttpRequest) -> Any:
    return ApiToken.objects.filter(user=user_of(request)).order_by("-created_at")


@router.post("/tokens", response={201: s.TokenIssued, **s.PROBLEMS})
def issue_token(request: HttpRequest, payload: s.TokenIn) -> Status:
    row, token = tokens.issue(user_of(request), payload.name)
    return Status(201, s.TokenIssued(**dict(s.TokenOut.from_orm(row)), token=token))


@router.delete("/tokens/{token_id}", response={200: s.TokenOut, **s.PROBLEMS})
def revoke_token(request: HttpRequest, token_id: s.IdPath) -> Any:
    return tokens.revoke(token_id, user_of(request))
