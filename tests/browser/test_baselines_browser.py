"""Main's baselines in a real browser against `rainbow web`: the list, a baseline's page and the
trend page with its change points render under the Content-Security-Policy, with no error in
the console. Screenshots go where ``test_admin_browser`` puts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_admin_browser import chromium, log_in, shots
from tests.browser.test_csp_browser import WATCH_VIOLATIONS
from tests.webserver import PASSWORD, Plane

pytestmark = pytest.mark.slow

__all__ = ["chromium", "shots"]  # the fixtures, imported for this module's test


def figures(at: int, iou: float, seconds: float) -> dict[str, Any]:
    """Build ``at`` of main, as `rainbow evaluate --update-baseline` sends it."""
    units = [f"room-{n}" for n in range(3)]

    def metric(key: str, values: list[float], better: str, kind: str) -> dict[str, Any]:
        step, _, name = key.partition(".")
        return {
            "key": key,
            "step": step,
            "name": name,
            "better": better,
            "kind": kind,
            "units": units,
            "values": values,
        }

    return {
        "target": "room-scan",
        "spec_hash": "sha256:" + "b" * 64,
        "corpus": {"name": "rooms", "version": "1", "content_hash": "sha256:" + "a" * 64},
        "commit": f"{at:07x}" + "e" * 33,
        "branch": "main",
        "made_at": (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=at)).isoformat(),
        "units": units,
        "metrics": {
            "segment.floor_iou": metric("segment.floor_iou", [iou] * 3, "high", "quality"),
            "segment.duration_s": metric(
                "segment.duration_s", [seconds, seconds * 1.1, seconds * 0.9], "low", "timing"
            ),
        },
    }


def test_the_baselines_pages_render_under_the_policy(
    plane: Plane, chromium: Any, shots: Path
) -> None:
    """Thirty builds of main, floor_iou falling at the 20th and the timing halving at the 25th:
    the trend page draws both charts with one worse and one better change point, and no page
    breaks the policy or logs an error."""
    plane.rainbow("createuser", "alice", "--role", "researcher", "--password-stdin", stdin=PASSWORD)
    token = plane.rainbow("token", "create", "ci", "--user", "alice").stdout.strip()
    for at in range(30):
        sent = figures(at, 0.91 if at < 20 else 0.8, 2.0 if at < 25 else 1.0)
        status, answer = plane.call("POST", "/api/baselines", token, sent)
        assert status == 201, answer
    newest = answer["id"]
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.add_init_script(WATCH_VIOLATIONS)
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} {message.location['url']}")
            if message.type == "error"
            else None
        ),
    )
    log_in(page, plane, "alice")
    seen = {}
    for path, ready in [
        ("/admin/rainbow/baseline/", "#result_list"),
        (f"/admin/rainbow/baseline/{newest}/change/", "table.rainbow-metrics"),
        (f"/admin/rainbow/baseline/{newest}/trend/", "svg.rainbow-builds-trend"),
    ]:
        page.goto(f"{plane.url}{path}")
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")
        seen[path] = page.evaluate("window.rainbowViolations")
    assert page.locator("svg.rainbow-builds-trend").count() == 2
    assert page.locator("line[data-move=worse]").count() == 1
    assert page.locator("line[data-move=better]").count() == 1
    moves = page.locator("ul.rainbow-moves li").all_inner_texts()
    assert moves[0].startswith("segment.duration_s fell 50% (2 → 1) at 0000019")
    assert moves[1].startswith("segment.floor_iou fell 12% (0.91 → 0.8) at 0000014")
    page.click("text=values >> nth=0")
    assert page.locator("details[open] tbody tr").count() == 30
    page.screenshot(path=str(shots / "baseline-trend.png"), full_page=True)
    assert all(not violations for violations in seen.values()), seen
    # The server has no favicon, and Chromium asks for one on every page.
    assert not [error for error in errors if not error.endswith("/favicon.ico")], errors
