"""Requests the control plane refuses before any view sees them."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse, JsonResponse


class RefuseNulCharacters:
    """A NUL character in a request to the API gets a 400. PostgreSQL cannot store one in text
    and would otherwise fail the request at the first query (a 500); nothing legitimate sends
    one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/") and self._has_nul(request):
            return JsonResponse(
                {"detail": "the request holds a NUL character (\\u0000), which is never valid"},
                status=400,
            )
        return self.get_response(request)

    @staticmethod
    def _has_nul(request: HttpRequest) -> bool:
        query = unquote_to_bytes(request.META.get("QUERY_STRING", ""))
        body = request.body if request.method in ("POST", "PUT", "PATCH") else b""
        return "\x00" in request.path or b"\x00" in query or b"\x00" in body or b"\\u0000" in body
