"""Who is asking: an API token (``Authorization: Bearer rbt_…``) or the admin's login session
(with Django's CSRF check on writes); a user without a role may do nothing."""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja.security import APIKeyCookie, HttpBearer

from rainbow.control.services import tokens
from rainbow.control.services.roles import role_of
from rainbow.control.web.problems import problem_body


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        user = tokens.user_for(token)
        if user is None or role_of(user) is None:
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


def user_of(request: HttpRequest) -> AbstractBaseUser:
    return request.auth  # type: ignore[attr-defined]


def signed_in(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The OpenAPI schema and docs need a user too, by token or session."""

    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        is_signed_in = request.user.is_authenticated or (
            header.lower().startswith("bearer ")
            and tokens.user_for(header.partition(" ")[2].strip()) is not None
        )
        if not is_signed_in:
            return unauthorized(JsonResponse(why_unauthorized(request), status=401))
        return view(request, *args, **kwargs)

    return guarded


def why_unauthorized(request: HttpRequest) -> dict[str, Any]:
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


def unauthorized(response: HttpResponse) -> HttpResponse:
    response["WWW-Authenticate"] = 'Bearer realm="rainbow"'  # what HTTP requires of a 401
    return response
