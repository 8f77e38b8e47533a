"""`rainbow show` stays readable and quick whatever size the run's values and errors are."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from rainbow.cli import render
from rainbow.engine.records import AttemptView, RunDetail, RunSummary, StepView


def test_show_prints_the_start_of_long_values_and_errors_and_the_end_of_tracebacks() -> None:
    """Megabytes of output, error message and traceback print as a few lines each, saying how
    long they are and that --json prints them whole."""
    now = datetime.now(UTC)
    summary = RunSummary(
        "r1", "p", "sha256:" + "a" * 64, "u", "local", "failed", now, now, now, None, []
    )
    attempt = AttemptView(
        1,
        "failed",
        "m",
        "1.0",
        now,
        now,
        1.0,
        "ValueError",
        "starts like this " + "e" * 3_000_000,
        "Traceback\n" + "t" * 3_000_000 + '\n  File "mine.py", line 7\nValueError: the end',
        None,
        [],
        {},
    )
    outputs = {
        "blob": "x" * 3_000_000,
        "counts": list(range(300_000)),
        "small": 1,
        "far": {"$elided": {"bytes": 123, "url": "/api/runs/r1/outputs/far"}},
    }
    detail = RunDetail(summary, {}, outputs, {}, [StepView("s", "failed", [attempt], None)])
    printed = io.StringIO()
    Console(file=printed, width=120).print(render.run_detail(detail))
    shown = printed.getvalue()
    assert len(shown) < 40_000
    assert "3,000,000 characters: rainbow show r1 --json prints it whole" in shown
    assert "small: 1" in shown
    assert "far: (123 bytes, not shown: GET /api/runs/r1/outputs/far)" in shown
    assert "starts like this" in shown and "(3,000,029 characters)" in shown
    assert "ValueError: the end" in shown and "characters cut" in shown


def test_show_says_when_an_attempt_ran_more_than_once() -> None:
    """An attempt whose task the broker delivered twice says so, in the table and in --json."""
    now = datetime.now(UTC)
    summary = RunSummary(
        "r1", "p", "sha256:" + "a" * 64, "u", "celery", "succeeded", now, now, now, None, []
    )
    twice = AttemptView(
        1, "succeeded", "m", "1.0", now, now, 1.0, None, None, None, None, [], {}, "h:2", 2
    )
    detail = RunDetail(summary, {}, {}, {}, [StepView("s", "succeeded", [twice], {})])
    printed = io.StringIO()
    Console(file=printed, width=160).print(render.run_detail(detail))
    assert "ran 2 times" in printed.getvalue()
    (attempt,) = render.detail_json(detail)["steps"][0]["attempts"]
    assert (attempt["deliveries"], attempt["worker"]) == (2, "h:2")
