"""Throttled logins (django-axes): after ``RAINBOW_LOGIN_FAILURE_LIMIT`` wrong passwords for one
username from one address, that pair may not log in for ``RAINBOW_LOGIN_COOLOFF`` seconds after
the last failure, whatever password comes next. The counts live in the database, so every
gunicorn worker and every server behind a balancer sees the same ones. Admins unlock early
with ``rainbow manage axes_reset_username NAME`` (or delete the attempt in the admin).

The client's address is the connection's (``REMOTE_ADDR``), never a header someone could forge
to rotate addresses. Behind a proxy that address is the proxy's, so the lockout is then by
username alone.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LoginThrottle(AxesStandaloneBackend):
    """Axes' check before the model backend, for logins that come with their request.

    Every login over HTTP comes through the admin's login form, which passes the request. Code
    calling ``authenticate()`` without one (Django's test client, a script) has no address to
    count against; axes would raise there, so those calls pass on to the model backend.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return
        super().authenticate(request, username, password, **kwargs)
