"""A run waiting for a module version says whether any worker serves that version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rainbow.engine.ledger import Instance
from rainbow.engine.records import AttemptView, RunDetail, RunSummary, StepView
from rainbow.engine.waiting import waiting_reasons

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = {"steps": [{"id": "seg", "module": "segment", "version": "1.1"}]}


def detail(status: str, attempts: list[AttemptView]) -> RunDetail:
    summary = RunSummary("r", "p", "h", "u", "celery", "running", NOW, NOW, None, None, ())
    return RunDetail(summary, {}, None, SPEC, [StepView("seg", status, attempts, None)])


def attempt(status: str) -> AttemptView:
    return AttemptView(1, status, "segment", "1.1", NOW, None, None, None, None, None, None, (), {})


def test_a_queued_step_with_no_live_instance_says_how_to_start_one() -> None:
    """No instance of segment@1.1 announced recently: the reason names the queue and the fix."""
    stale = Instance("segment", "1.1", "host:1", NOW - timedelta(minutes=5))
    reasons = waiting_reasons(detail("running", []), [stale], NOW)
    assert "no live instance of segment@1.1" in reasons["seg"]
    assert "rainbow worker" in reasons["seg"] and "rainbow.segment.1.1" in reasons["seg"]


def test_a_queued_step_with_a_live_instance_is_waiting_for_a_free_worker() -> None:
    """A live instance exists: the step waits its turn."""
    live = Instance("segment", "1.1", "host:1", NOW - timedelta(seconds=5))
    assert "busy" in waiting_reasons(detail("running", []), [live], NOW)["seg"]


def test_a_running_attempt_or_a_finished_step_is_not_waiting() -> None:
    """Steps already running, or done, have no waiting reason."""
    assert waiting_reasons(detail("running", [attempt("running")]), [], NOW) == {}
    assert waiting_reasons(detail("succeeded", [attempt("succeeded")]), [], NOW) == {}
