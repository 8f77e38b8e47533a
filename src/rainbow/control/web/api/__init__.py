"""The REST API under ``/api/`` (django-ninja; OpenAPI schema at ``/api/openapi.json``), one
module per resource.

Every endpoint needs a user (:mod:`.auth`). Roles are enforced by the services the endpoints
call; refusals come back as 4xx problem bodies (:func:`rainbow.control.web.problems.problem_body`),
never a 500.
"""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.operation import Operation

from rainbow.control.services.refusals import Refused
from rainbow.control.web.api import access, baselines, corpora, modules, pipelines, runs
from rainbow.control.web.api.auth import (
    SessionAuth,
    TokenAuth,
    signed_in,
    unauthorized,
    why_unauthorized,
)
from rainbow.control.web.problems import diagnostic_body, problem_body
from rainbow.errors import PlatformError, StoreRefused


class RainbowAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # Clients generated from the schema are named by these: they stay what they were when
        # the whole API was one module (rainbow.control.api).
        return f"rainbow_control_api_{operation.view_func.__name__}"


api = RainbowAPI(
    title="Rainbow control plane",
    version="1",
    description="Registry, runs, release gates and audit log. Authenticate with an API token "
    "(`Authorization: Bearer rbt_…`, from POST /api/tokens or `rainbow token`) or a session.",
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
    docs_decorator=signed_in,
)


def _problem(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
    return api.create_response(request, body, status=status)


@api.exception_handler(Refused)
def refused(request: HttpRequest, exc: Refused) -> HttpResponse:
    diagnostics = [diagnostic_body(d) for d in exc.diagnostics]
    return _problem(request, exc.status, problem_body(exc.message, exc.hint, diagnostics, exc.code))


@api.exception_handler(AuthenticationError)
def unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return unauthorized(_problem(request, 401, why_unauthorized(request)))


@api.exception_handler(StoreRefused)
def refused_by_the_store(request: HttpRequest, exc: StoreRefused) -> HttpResponse:
    # The database is up and refuses this content: asking again will not help.
    hint = "change what was sent; the store cannot hold it as it is"
    return _problem(request, 422, {"detail": str(exc), "hint": hint})


@api.exception_handler(PlatformError)
def unavailable(request: HttpRequest, exc: PlatformError) -> HttpResponse:
    # A service behind the control plane (the broker, the database) failed: worth retrying.
    return _problem(
        request, 503, {"detail": str(exc), "hint": "try again once the service is back"}
    )


api.add_router("/modules", modules.router)
api.add_router("/pipelines", pipelines.router)
api.add_router("/promotions", pipelines.promotions)
api.add_router("/runs", runs.router)
api.add_router("/corpora", corpora.router)
api.add_router("/baselines", baselines.router)
api.add_router("/", access.router)
