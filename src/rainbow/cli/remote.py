"""The CLI's client for the control plane's REST API (used when ``RAINBOW_URL`` is set)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from rainbow import settings as rb_settings
from rainbow.diagnostics import CATALOG, Diagnostic, Location
from rainbow.engine.ledger import Instance
from rainbow.engine.records import AttemptView, MetricValue, RunDetail, RunSummary, StepView
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


class RemoteStore:
    """The reads `rainbow runs` and `rainbow show` need, answered by the REST API."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def list_runs(self, *, limit: int = 50, status: str | None = None) -> list[RunSummary]:
        query = urllib.parse.urlencode({"limit": limit, **({"status": status} if status else {})})
        page = self.plane.call("GET", f"/runs?{query}")
        return [_summary(run) for run in page["items"]]

    def get_run(self, run_id: str) -> RunDetail | None:
        try:
            run = self.plane.call("GET", f"/runs/{urllib.parse.quote(run_id, safe='')}")
        except UserError as exc:
            if "(404)" in exc.message:
                return None
            raise
        return RunDetail(
            summary=_summary(run),
            inputs=run["inputs"],
            outputs=run["outputs"],
            spec=run["spec"],
            steps=[
                StepView(
                    step=step["step"],
                    status=step["status"],
                    outputs=step["outputs"],
                    attempts=[_attempt(a) for a in step["attempts"]],
                )
                for step in run["steps"]
            ],
        )

    def instances(self) -> list[Instance]:
        return [
            Instance(
                module["name"],
                version["version"],
                seen["worker"],
                _moment(seen["seen_at"]) or datetime.now(UTC),
                seen["commit"],
            )
            for module in self.plane.call("GET", "/modules")
            for version in module["versions"]
            for seen in version["instances"]
        ]


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _summary(run: dict[str, Any]) -> RunSummary:
    return RunSummary(
        run_id=run["run_id"],
        pipeline=run["pipeline"],
        spec_hash=run["spec_hash"],
        unit=run["unit"],
        engine=run["engine"],
        status=run["status"],
        created_at=_moment(run["created_at"]) or datetime.now(UTC),
        started_at=_moment(run["started_at"]),
        finished_at=_moment(run["finished_at"]),
        reason=run["reason"],
        metrics=[
            MetricValue(m["name"], m["value"], m["better"], m.get("step", ""))
            for m in run.get("metrics", [])
        ],
    )


def _attempt(attempt: dict[str, Any]) -> AttemptView:
    return AttemptView(
        attempt=attempt["attempt"],
        status=attempt["status"],
        module=attempt["module"],
        version=attempt["version"],
        started_at=_moment(attempt["started_at"]) or datetime.now(UTC),
        finished_at=_moment(attempt["finished_at"]),
        duration_s=attempt["duration_s"],
        error_type=attempt["error_type"],
        error_message=attempt["error_message"],
        traceback=attempt["traceback"],
        exit_signal=attempt["exit_signal"],
        metrics=[MetricValue(m["name"], m["value"], m["better"]) for m in attempt["metrics"]],
        timings=attempt["timings"],
        worker=attempt["worker"],
        deliveries=attempt.get("deliveries", 1),
    )
