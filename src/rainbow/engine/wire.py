"""The wire: every message between submitters, workers and the conductor, as typed values.

Each message is one frozen type; :func:`encode` writes it as the JSON object that travels (an
envelope with the wire's schema version ``v`` and the message ``type``), and :func:`parse`
reads one back or raises :class:`Malformed` naming the field at fault. Whatever arrives is
hostile until parsed: a message of an unknown version or shape is set aside by its consumer
(the conductor parks it, a worker refuses it), never half-applied.

Tasks (conductor → worker) travel as Celery task arguments; :func:`encode_task` and
:func:`parse_task` give them the same envelope and the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rainbow.sdk.messages import Result, Task

SCHEMA = 1
"""The wire's version: raise it when a message changes meaning, and accept the old one while
older processes may still send it."""

MAX_DELIVERY = 10_000


class Malformed(ValueError):
    """A message that is not one of the wire's: ``where`` names the field at fault."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why


@dataclass(frozen=True, slots=True)
class StartRun:
    """Start a recorded, pending run (sent by whoever submitted it)."""

    type: ClassVar[str] = "start"
    run_id: str


@dataclass(frozen=True, slots=True)
class RetryRun:
    """Run a finished, unsuccessful run again from its failed steps (``rainbow retry``)."""

    type: ClassVar[str] = "retry"
    run_id: str


@dataclass(frozen=True, slots=True)
class CancelRun:
    type: ClassVar[str] = "cancel"
    run_id: str
    reason: str = "cancelled"


@dataclass(frozen=True, slots=True)
class AttemptBegan:
    """A worker has been running an attempt for a while (short ones send only their result)."""

    type: ClassVar[str] = "started"
    run_id: str
    step: str
    attempt: int
    started_at: float | None = None
    worker: str = ""
    delivery: int = 1
    """Which delivery of its task the worker ran: more than 1 after a redelivery."""
    commit: str = ""
    artifact: str = ""
    """The build the worker serves: its code's commit and its artifact's hash (none: local)."""


@dataclass(frozen=True, slots=True)
class AttemptReported:
    """A worker's result for an attempt."""

    type: ClassVar[str] = "result"
    result: Result
    started_at: float | None = None
    worker: str = ""
    delivery: int = 1
    commit: str = ""
    artifact: str = ""

    @property
    def run_id(self) -> str:
        return self.result["run_id"]


@dataclass(frozen=True, slots=True)
class AttemptWorkerDied:
    """A worker's child died running an attempt; the broker delivers the task again."""

    type: ClassVar[str] = "worker_lost"
    run_id: str
    step: str
    attempt: int
    signal: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class AttemptDeadLettered:
    """A task the broker gave up on after its delivery limit (read from the dead letters)."""

    type: ClassVar[str] = "lost"
    run_id: str
    step: str
    attempt: int
    reason: str = "worker lost"


@dataclass(frozen=True, slots=True)
class InstanceSeen:
    """A worker's heartbeat: which module version it serves, from which commit."""

    type: ClassVar[str] = "instance"
    module: str
    version: str
    worker: str
    commit: str = ""
    interface: Mapping[str, Any] = field(default_factory=dict)
    artifact: str = ""


Event = (
    StartRun
    | RetryRun
    | CancelRun
    | AttemptBegan
    | AttemptReported
    | AttemptWorkerDied
    | AttemptDeadLettered
    | InstanceSeen
)
RunEvent = (
    StartRun
    | RetryRun
    | CancelRun
    | AttemptBegan
    | AttemptReported
    | AttemptWorkerDied
    | AttemptDeadLettered
)


def encode(message: Event) -> dict[str, Any]:
    """The JSON object that travels for ``message``."""
    body: dict[str, Any] = {"v": SCHEMA, "type": message.type}
    for name in message.__dataclass_fields__:
        body[name] = getattr(message, name)
    if isinstance(message, AttemptReported):
        body["result"] = dict(message.result)
    return body


def parse(raw: object) -> Event:
    """The message ``raw`` is, or :class:`Malformed` saying which field is wrong and why."""
    if not isinstance(raw, Mapping):
        raise Malformed("message", f"expected a JSON object, got {type(raw).__name__}")
    _check_version(raw, "message")
    kind = raw.get("type")
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    if reader is None:
        raise Malformed("type", f"unknown message type {kind!r}")
    return reader(raw)


def encode_task(task: Task) -> dict[str, Any]:
    return {"v": SCHEMA, **task}


def parse_task(raw: object) -> Task:
    """A task message as a worker receives it, or :class:`Malformed`."""
    if not isinstance(raw, Mapping):
        raise Malformed("task", f"expected a JSON object, got {type(raw).__name__}")
    _check_version(raw, "task")
    task = Task(
        run_id=_text(raw, "run_id", "task"),
        step=_text(raw, "step", "task"),
        attempt=_count(raw, "attempt", "task"),
        module=_text(raw, "module", "task"),
        version=_text(raw, "version", "task"),
        inputs=_object(raw, "inputs", "task"),
        timeout=_number(raw, "timeout", "task"),
        deadline=_number(raw, "deadline", "task"),
    )
    queued_at = _optional_number(raw, "queued_at", "task")
    if queued_at is not None:
        task["queued_at"] = queued_at
    return task


# Reading ------------------------------------------------------------------------------------


def _check_version(raw: Mapping[str, Any], where: str) -> None:
    # Rainbow before the envelope wrote no version: its messages (queued tasks, outbox rows,
    # events of workers not yet upgraded) are schema 1, so an upgrade in place loses none.
    version = raw.get("v", SCHEMA)
    if version != SCHEMA or isinstance(version, bool):
        raise Malformed(f"{where}.v", f"wire schema {version!r}, this Rainbow reads {SCHEMA}")


def _start(raw: Mapping[str, Any]) -> StartRun:
    return StartRun(_text(raw, "run_id"))


def _retry(raw: Mapping[str, Any]) -> RetryRun:
    return RetryRun(_text(raw, "run_id"))


def _cancel(raw: Mapping[str, Any]) -> CancelRun:
    return CancelRun(_text(raw, "run_id"), _optional_text(raw, "reason") or "cancelled")


def _began(raw: Mapping[str, Any]) -> AttemptBegan:
    return AttemptBegan(
        _text(raw, "run_id"),
        _text(raw, "step"),
        _count(raw, "attempt"),
        _optional_number(raw, "started_at"),
        _optional_text(raw, "worker") or "",
        _delivery(raw),
        _optional_text(raw, "commit") or "",
        _optional_text(raw, "artifact") or "",
    )


def _reported(raw: Mapping[str, Any]) -> AttemptReported:
    result = _object(raw, "result")
    where = "result"
    for key in ("run_id", "step", "status"):
        _text(result, key, where)
    _count(result, "attempt", where)
    _number(result, "duration_s", where)
    for key, kind in (("metrics", list), ("timings", dict)):
        if not isinstance(result.get(key), kind):
            raise Malformed(f"{where}.{key}", f"expected {_KIND_NAMES[kind]}")
    if not isinstance(result.get("error"), Mapping | None):
        raise Malformed(f"{where}.error", "expected an object or null")
    if "outputs" not in result:
        raise Malformed(f"{where}.outputs", "missing")
    return AttemptReported(
        result,  # type: ignore[arg-type]  # its shape is checked above, its values by intake
        _optional_number(raw, "started_at"),
        _optional_text(raw, "worker") or "",
        _delivery(raw),
        _optional_text(raw, "commit") or "",
        _optional_text(raw, "artifact") or "",
    )


def _worker_died(raw: Mapping[str, Any]) -> AttemptWorkerDied:
    signal = raw.get("signal")
    return AttemptWorkerDied(
        _text(raw, "run_id"),
        _text(raw, "step"),
        _count(raw, "attempt"),
        signal if isinstance(signal, int) and not isinstance(signal, bool) else None,
        _optional_text(raw, "message") or "",
    )


def _dead_lettered(raw: Mapping[str, Any]) -> AttemptDeadLettered:
    return AttemptDeadLettered(
        _text(raw, "run_id"),
        _text(raw, "step"),
        _count(raw, "attempt"),
        _optional_text(raw, "reason") or "worker lost",
    )


def _instance(raw: Mapping[str, Any]) -> InstanceSeen:
    interface = raw.get("interface")
    if interface is None:
        interface = {}
    if not isinstance(interface, Mapping):
        raise Malformed("interface", "expected an object")
    return InstanceSeen(
        _text(raw, "module"),
        _text(raw, "version"),
        _text(raw, "worker"),
        _optional_text(raw, "commit") or "",
        interface,
        _optional_text(raw, "artifact") or "",
    )


_READERS: dict[str, Callable[[Mapping[str, Any]], Event]] = {
    StartRun.type: _start,
    RetryRun.type: _retry,
    CancelRun.type: _cancel,
    AttemptBegan.type: _began,
    AttemptReported.type: _reported,
    AttemptWorkerDied.type: _worker_died,
    AttemptDeadLettered.type: _dead_lettered,
    InstanceSeen.type: _instance,
}
_KIND_NAMES = {list: "a list", dict: "an object"}


def _text(raw: Mapping[str, Any], key: str, where: str = "") -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise Malformed(_at(where, key), f"expected a string, got {_shown(value)}")
    return value


def _optional_text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(key, f"expected a string, got {_shown(value)}")
    return value


def _count(raw: Mapping[str, Any], key: str, where: str = "") -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Malformed(_at(where, key), f"expected a whole number, got {_shown(value)}")
    return value


def _number(raw: Mapping[str, Any], key: str, where: str = "") -> float:
    value = raw.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise Malformed(_at(where, key), f"expected a number, got {_shown(value)}")
    return float(value)


def _optional_number(raw: Mapping[str, Any], key: str, where: str = "") -> float | None:
    return None if raw.get(key) is None else _number(raw, key, where)


def _object(raw: Mapping[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise Malformed(_at(where, key), f"expected an object, got {_shown(value)}")
    return dict(value)


def _delivery(raw: Mapping[str, Any]) -> int:
    """Workers before this field count as the first delivery; nonsense counts as one too."""
    value = raw.get("delivery")
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_DELIVERY:
        return value
    return 1


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _shown(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
