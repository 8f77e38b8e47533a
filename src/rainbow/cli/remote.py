"""The CLI's client for the control plane's REST API (used when ``RAINBOW_URL`` is set)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from http import HTTPStatus
from typing import Any

from rainbow import settings as rb_settings
from rainbow.control.web.answers import ModuleOut, ModuleVersionOut, RunDetailOut, RunOut
from rainbow.deploy.registry import ReleasedVersion
from rainbow.diagnostics import CATALOG, Diagnostic, Location
from rainbow.engine.ledger import Instance
from rainbow.engine.records import RunDetail, RunSummary
from rainbow.errors import DiagnosticError, PlatformError, UserError
from rainbow.evaluate.figures import Figures

TIMEOUT_S = 60


class ControlPlane:
    def __init__(self, settings: rb_settings.ClientSettings) -> None:
        assert settings.url is not None
        self.url = settings.url.rstrip("/")
        if not settings.token:
            raise UserError(
                f"RAINBOW_URL is set ({self.url}) but RAINBOW_TOKEN is not",
                hint="create a token (rainbow token create NAME --user YOU, or POST /api/tokens) "
                "and export RAINBOW_TOKEN",
            )
        self.token = settings.token

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

    def get_or_none(self, path: str) -> Any:
        """``GET path``, or None when the control plane has no such thing (404)."""
        try:
            return self.call("GET", path)
        except RemoteError as exc:
            if exc.status == HTTPStatus.NOT_FOUND:
                return None
            raise


def module_version_path(name: str, version: str) -> str:
    return f"/modules/{urllib.parse.quote(name, safe='')}/versions/{version}"


class RemoteError(UserError):
    """The control plane refused a request; ``status`` is its HTTP status."""

    def __init__(
        self, message: str, *, status: int, hint: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, hint=hint, code=code)
        self.status = status


def _refusal(exc: urllib.error.HTTPError) -> Exception:
    try:
        body = json.loads(exc.read())
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail")
    if exc.code == 401:
        return RemoteError(
            "the control plane refused RAINBOW_TOKEN (unknown or revoked)",
            status=exc.code,
            hint="create a new token and export RAINBOW_TOKEN",
        )
    diagnostics = body.get("diagnostics")
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
    return RemoteError(
        f"the control plane refused ({exc.code}): {detail or exc.reason}",
        status=exc.code,
        hint=body.get("hint"),
        code=body.get("code"),
    )


class RemoteStore:
    """The reads `rainbow runs` and `rainbow show` need, answered by the REST API."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def list_runs(self, *, limit: int = 50, status: str | None = None) -> list[RunSummary]:
        query = urllib.parse.urlencode({"limit": limit, **({"status": status} if status else {})})
        page = self.plane.call("GET", f"/runs?{query}")
        return [RunOut.model_validate(run).summary() for run in page["items"]]

    def get_run(self, run_id: str) -> RunDetail | None:
        run = self.plane.get_or_none(f"/runs/{urllib.parse.quote(run_id, safe='')}")
        return None if run is None else RunDetailOut.model_validate(run).detail()

    def instances(self) -> list[Instance]:
        modules = [
            ModuleOut.model_validate(module) for module in self.plane.call("GET", "/modules")
        ]
        return [
            Instance(module.name, version.version, seen.worker, seen.seen_at, seen.commit)
            for module in modules
            for version in module.versions
            for seen in version.instances
        ]


class RemoteRegistry:
    """What a versioned worker asks the registry, answered by the REST API."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def released(self, module: str, version: str) -> ReleasedVersion | None:
        found = self.plane.get_or_none(module_version_path(module, version))
        if found is None:
            return None
        answer = ModuleVersionOut.model_validate(found)
        return ReleasedVersion(
            module=answer.module,
            version=answer.version,
            status=answer.status,
            reason=answer.status_reason,
            commit=answer.commit,
            artifact_url=answer.artifact_url,
            artifact_hash=answer.artifact_hash,
            cache=answer.interface.get("cache", True) is not False,
        )

    def reconnect(self) -> None:
        """Each question is a request of its own: nothing to drop."""


class RemoteBaselines:
    """Baselines recorded and read through the REST API (CI with RAINBOW_URL)."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def record(self, figures: Figures) -> None:
        self.plane.call("POST", "/baselines", figures.model_dump(mode="json"))

    def history(
        self, target: str, *, branch: str, corpus_hash: str = "", limit: int = 1
    ) -> list[Figures]:
        query = {"target": target, "branch": branch, "corpus_hash": corpus_hash, "limit": limit}
        found = self.plane.call("GET", f"/baselines?{urllib.parse.urlencode(query)}")
        return [Figures.model_validate(figures) for figures in found]
