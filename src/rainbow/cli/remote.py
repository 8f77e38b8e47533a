"""The CLI's client for the control plane's REST API (used when ``RAINBOW_URL`` is set)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from rainbow import settings as rb_settings
from rainbow.diagnostics import CATALOG, Diagnostic, Location
from rainbow.errors import DiagnosticError, PlatformError, UserError

TIMEOUT_S = 60


class ControlPlane:
    def __init__(self, settings: rb_settings.Settings) -> None:
        assert settings.control_url is not None
        self.url = settings.control_url.rstrip("/")
        if not settings.api_token:
            raise UserError(
                f"RAINBOW_URL is set ({self.url}) but RAINBOW_TOKEN is not",
                hint="create a token (rainbow token create NAME --user YOU, or POST /api/tokens) "
                "and export RAINBOW_TOKEN",
            )
        self.token = settings.api_token

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/api{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PlatformError(
                f"cannot reach the control plane at {self.url} (RAINBOW_URL): {reason}"
            ) from None


def _refusal(exc: urllib.error.HTTPError) -> Exception:
    try:
        body = json.loads(exc.read())
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    if exc.code == 401:
        return UserError(
            "the control plane refused RAINBOW_TOKEN (unknown or revoked)",
            hint="create a new token and export RAINBOW_TOKEN",
        )
    diagnostics = body.get("diagnostics") if isinstance(body, dict) else None
    if diagnostics:
        return DiagnosticError(
            [
                Diagnostic(
                    d["code"] if d.get("code") in CATALOG else "RB-E002",
                    d.get("message", ""),
                    Location(json_path=d.get("where")),
                    d.get("hint"),
                )
                for d in diagnostics
            ]
        )
    if isinstance(detail, list):  # the API's own validation of the request's shape
        detail = "; ".join(str(item.get("msg", item)) for item in detail)
    if exc.code >= 500:
        return PlatformError(f"the control plane failed ({exc.code}): {detail or exc.reason}")
    return UserError(
        f"the control plane refused ({exc.code}): {detail or exc.reason}",
        hint=body.get("hint") if isinstance(body, dict) else None,
    )
