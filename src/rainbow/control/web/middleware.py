"""Requests the control plane refuses before any view sees them, and what every API answer
carries."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.cache import patch_cache_control

from rainbow.control.web.problems import problem_body

API = "/api/"


class NoStoreForApi:
    """API answers hold tokens, runs and audit entries: no cache, neither a shared proxy's nor
    the browser's disk, may keep one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(API):
            patch_cache_control(response, no_store=True)
        return response


class LimitApiBodies:
    """A request to the API with a body over ``RAINBOW_MAX_REQUEST_BYTES`` gets a 413 in the
    API's own error shape; Django would answer it with an HTML 400 page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API):
            try:
                request.body  # noqa: B018  (reads it, up to the limit, as every API view would)
            except RequestDataTooBig:
                return self._too_big(request)
        return self.get_response(request)

    @staticmethod
    def _too_big(request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        sent = request.META.get("CONTENT_LENGTH")
        size = f" of {sent} bytes" if sent else ""
        return JsonResponse(
            problem_body(
                f"the request body{size} is over the control plane's limit of "
                f"{limit} bytes (RAINBOW_MAX_REQUEST_BYTES)",
                "pass files as assets (a path or URL in the work unit), send work "
                "units in smaller batches, or raise RAINBOW_MAX_REQUEST_BYTES on the server",
            ),
            status=413,
        )


class RefuseNulCharacters:
    """A NUL character in a request gets a 400. PostgreSQL cannot store one in text and would
    otherwise fail the request at its first query (a 500); nothing legitimate sends one. Pages
    are checked on their address (their forms refuse NUL themselves); the API on its body too,
    as JSON's ``\\u0000`` as well."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API):
            if self._in_address(request) or self._in_body(request):
                return JsonResponse(
                    problem_body(
                        "the request holds a NUL character (\\u0000), which is never valid",
                        "remove it from the address, the parameters or the body",
                    ),
                    status=400,
                )
        elif self._in_address(request):
            return HttpResponseBadRequest(
                "The address holds a NUL character (%00), which is never valid: remove it.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)

    @staticmethod
    def _in_address(request: HttpRequest) -> bool:
        query = unquote_to_bytes(request.META.get("QUERY_STRING", ""))
        return "\x00" in request.path or b"\x00" in query

    @staticmethod
    def _in_body(request: HttpRequest) -> bool:
        body = request.body if request.method in ("POST", "PUT", "PATCH") else b""
        return b"\x00" in body or b"\\u0000" in body
