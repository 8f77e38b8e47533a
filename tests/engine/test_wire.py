"""The wire: every message encodes to JSON and parses back; anything else is named and refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rainbow.engine import wire
from rainbow.sdk.messages import Result, Task

RESULT = Result(
    run_id="r",
    step="s",
    attempt=1,
    status="succeeded",
    outputs={"y": 2},
    metrics=[],
    timings={},
    duration_s=0.1,
    error=None,
)
TASK = Task(
    run_id="r",
    step="s",
    attempt=1,
    module="add",
    version="1.0",
    inputs={"x": 1},
    timeout=5.0,
    deadline=1e9,
    queued_at=1e9,
)

MESSAGES: list[wire.Event] = [
    wire.StartRun("r"),
    wire.RetryRun("r"),
    wire.CancelRun("r", "operator"),
    wire.AttemptBegan("r", "s", 1, 12.5, "host:1", 2),
    wire.AttemptReported(RESULT, 12.5, "host:1", 1),
    wire.AttemptWorkerDied("r", "s", 1, 9, "lost"),
    wire.AttemptDeadLettered("r", "s", 1, "worker lost 6 times"),
    wire.InstanceSeen("add", "1.0", "host:1", "abc", {"inputs": {}}),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.type)
def test_every_message_survives_the_trip_through_json(message: wire.Event) -> None:
    """What is encoded, sent as JSON and parsed is the message that was sent."""
    assert wire.parse(json.loads(json.dumps(wire.encode(message)))) == message


def test_a_task_survives_the_trip_through_json() -> None:
    """Tasks carry the same envelope as events."""
    assert wire.parse_task(json.loads(json.dumps(wire.encode_task(TASK)))) == TASK


def _with(message: wire.Event, **changes: Any) -> dict[str, Any]:
    return {**wire.encode(message), **changes}


MALFORMED: list[tuple[object, str]] = [
    ([1, 2], "message"),
    ({"v": None, "type": "start", "run_id": "r"}, "message.v"),
    (_with(wire.StartRun("r"), v=2), "message.v"),
    (_with(wire.StartRun("r"), type="bogus"), "type"),
    (_with(wire.StartRun("r"), run_id=7), "run_id"),
    (_with(wire.AttemptBegan("r", "s", 1), attempt="1"), "attempt"),
    (_with(wire.AttemptBegan("r", "s", 1), attempt=True), "attempt"),
    (_with(wire.AttemptReported(RESULT), result="done"), "result"),
    (
        _with(wire.AttemptReported(RESULT), result={**RESULT, "duration_s": "fast"}),
        "result.duration_s",
    ),
    (_with(wire.AttemptReported(RESULT), result={**RESULT, "metrics": {}}), "result.metrics"),
    (_with(wire.AttemptReported(RESULT), result={**RESULT, "error": "boom"}), "result.error"),
    (_with(wire.InstanceSeen("a", "1.0", "w"), interface=[]), "interface"),
]


@pytest.mark.parametrize(("raw", "where"), MALFORMED, ids=[w for _, w in MALFORMED])
def test_a_malformed_message_names_the_field_at_fault(raw: object, where: str) -> None:
    """Parsing refuses a message of another version or shape and says which field is wrong."""
    with pytest.raises(wire.Malformed) as caught:
        wire.parse(raw)
    assert caught.value.where == where


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({k: v for k, v in wire.encode_task(TASK).items() if k != "inputs"}, "task.inputs"),
        ({**wire.encode_task(TASK), "v": None}, "task.v"),
        ({**wire.encode_task(TASK), "deadline": "soon"}, "task.deadline"),
    ],
)
def test_a_malformed_task_names_the_field_at_fault(raw: object, where: str) -> None:
    """A worker refuses a task it cannot read, naming the field."""
    with pytest.raises(wire.Malformed) as caught:
        wire.parse_task(raw)
    assert caught.value.where == where


def test_a_nonsense_delivery_count_reads_as_the_first_delivery() -> None:
    """Older workers send no delivery count; a count out of range is not trusted either."""
    for delivery in (None, 0, -3, 10**9, "2"):
        raw = _with(wire.AttemptBegan("r", "s", 1), delivery=delivery)
        assert wire.parse(raw) == wire.AttemptBegan("r", "s", 1)


def test_a_message_from_before_the_envelope_reads_as_schema_1() -> None:
    """Tasks and events written by a Rainbow without the version field still parse, so an
    upgrade in place fails no run that was in flight."""
    assert wire.parse({"type": "start", "run_id": "r"}) == wire.StartRun("r")
    old_task = {k: v for k, v in wire.encode_task(TASK).items() if k != "v"}
    assert wire.parse_task(old_task) == TASK
