"""The conductor: drives runs from events, whatever carries them (RabbitMQ, or a list in tests).

For each batch of events it locks their runs, rebuilds the state machine's state from the ledger,
applies the events in order, and writes everything that follows — the new states, timers, and the
task messages to send — in that one transaction. Only after the commit are the messages published
(and then removed from the outbox), and only after that are the events acknowledged. So a
conductor killed at any moment loses nothing: an unacknowledged event is delivered again and
changes nothing the second time, and messages left in the outbox are published by the next sweep.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from rainbow.engine import effects, wire
from rainbow.engine import machine as m
from rainbow.engine.intake import checked_result
from rainbow.engine.ledger import (
    Instance,
    Ledger,
    OutboxMessage,
    Snapshot,
    Timer,
)
from rainbow.engine.naming import HARD_LIMIT_FACTOR, attempt_id, queue_name
from rainbow.engine.records import (
    AttemptRedelivered,
    AttemptStarted,
    AttemptStatus,
    Change,
    MetricValue,
    RunChanged,
)
from rainbow.errors import PlatformError, StoreRefused
from rainbow.observe.facts import Fact, Observer, ignore
from rainbow.settings import DEFAULT_MAX_OUTPUT_BYTES
from rainbow.spec.models import PipelineSpec
from rainbow.storable import bounded_text, storable_name

log = logging.getLogger("rainbow.conductor")

SWEEP_AFTER = timedelta(seconds=10)
"""How old an unpublished message or an unstarted run must be before a sweep takes it over."""
RETIRED_READ_S = 2.0
"""How long the conductor trusts its reading of the retired versions."""


class Publisher(Protocol):
    """Sends what the conductor decided: tasks to instance queues, stops to running attempts."""

    def publish(self, messages: Sequence[OutboxMessage]) -> None:
        """Publish and wait until the broker has them (publisher confirms)."""

    def revoke(self, attempt_ids: Sequence[str]) -> None:
        """Ask workers to stop these attempts if they run them."""


@dataclass
class _Decision:
    """Everything one event leads to, written in the event's transaction."""

    snapshot: Snapshot
    now: datetime
    changes: list[Change] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    """Stored timers this decision ends (deleted before ``timers`` are added)."""
    messages: list[OutboxMessage] = field(default_factory=list)
    revokes: list[str] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    """Told to the observer only once the decision is committed (a rolled-back one never was)."""


class Conductor:
    def __init__(
        self,
        ledger: Ledger,
        publisher: Publisher,
        *,
        retry: m.RetryPolicy | None = None,
        watchdog_grace: float = 30.0,
        max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        observe: Observer = ignore,
    ) -> None:
        self.ledger = ledger
        self.publisher = publisher
        self.plans = effects.Plans(retry or m.RetryPolicy())
        self.watchdog_grace = watchdog_grace
        self.max_output_bytes = max_output_bytes
        self.clock = clock
        self.observe = observe
        self._retired: dict[tuple[str, str], str] = {}
        self._retired_read_at = float("-inf")

    # Events ----------------------------------------------------------------------------------

    def handle(self, event: wire.Event) -> None:
        """Apply one event from the event queue. Safe to call again with the same event."""
        self.handle_many([event])

    def handle_many(self, events: Sequence[wire.Event]) -> None:
        """Apply events in order, in one transaction: under load, one database round per batch
        instead of one per event is what lets one conductor keep up with many workers."""
        work: list[tuple[str, Callable[[_Decision], None]]] = []
        for event in events:
            if isinstance(event, wire.InstanceSeen):
                self._record_instance(event)
            else:
                work.append((event.run_id, functools.partial(self._on_event, event=event)))
        if work:
            self._decide_many(work)

    def set_aside(self, event: wire.Event, problem: str) -> bool:
        """Fail what an event the store refused was about, so its run ends instead of waiting
        forever; whether that could be recorded (if not, the caller parks the event).

        A result becomes a permanent failure of its attempt; anything else fails the run.
        """
        if isinstance(event, wire.InstanceSeen):
            return False
        why = bounded_text(f"Rainbow could not record a {event.type!r} event: {problem}", 2000)
        if isinstance(event, wire.AttemptReported):
            failure = {
                **event.result,
                "status": "failed",
                "outputs": None,
                "metrics": [],
                "timings": {},
                "error": {
                    "type": "Unrecordable",
                    "message": why,
                    "traceback": None,
                    "retryable": False,
                    "delay": None,
                },
            }
            try:
                self.handle(replace(event, result=failure))  # type: ignore[arg-type]
                return True
            except Exception as exc:
                if _store_away(exc):
                    raise
                log.exception("could not record the failure of a refused result either")
        return self._halt(event.run_id, why)

    def tick(self) -> int:
        """Fire due timers, start runs whose start event was lost, republish stranded messages.

        Returns how many things it did, so a caller can tick again at once when busy.
        """
        now = self.clock()
        done = 0
        timers = self.ledger.due_timers(now)
        unstarted = self.ledger.unstarted_runs(now - SWEEP_AFTER)
        work: list[tuple[str, Callable[[_Decision], None]]] = [
            (t.run_id, functools.partial(self._fire, timer=t)) for t in timers
        ]
        work += [(run_id, self._start) for run_id in unstarted]
        if work:
            self._decide_isolated(work)
        done += len(work)
        done += self.ledger.republish_stranded(now - SWEEP_AFTER, self.publisher.publish)
        return done

    # Decisions -------------------------------------------------------------------------------

    def _decide_isolated(self, work: Sequence[tuple[str, Callable[[_Decision], None]]]) -> None:
        """Decide all at once or, if that fails for any reason but the store being away, one
        run at a time, failing a run whose own decision fails: one run's bad value never stops
        the conductor nor stalls the other runs' timers."""
        try:
            self._decide_many(work)
            return
        except Exception as exc:
            if _store_away(exc):
                raise
            log.warning("%d timer decisions failed (%s); one by one", len(work), exc)
        for run_id, decide in work:
            try:
                self._decide_many([(run_id, decide)])
            except Exception as exc:
                if _store_away(exc):
                    raise
                log.exception("a decision about run %s failed; failing the run", run_id)
                self._halt(run_id, f"Rainbow could not decide about this run: {exc}")

    def _halt(self, run_id: str, why: str) -> bool:
        """Fail a run Rainbow cannot go on with; whether that could be recorded.

        Through the state machine, which aborts what runs; if even that fails (a stored spec
        that no longer parses), by recording the run failed directly.
        """
        reason = bounded_text(why, 2000)
        try:
            self._decide_many([(run_id, functools.partial(self._advance, event=m.Halt(reason)))])
            return True
        except Exception as exc:
            if _store_away(exc):
                raise
            log.exception("could not fail run %s through its state; recording it failed", run_id)
        try:
            self.ledger.write([RunChanged(run_id, "failed", self.clock(), reason)])
        except StoreRefused:
            log.exception("could not record run %s failed either", run_id)
            return False
        return True

    def _decide_many(self, work: Sequence[tuple[str, Callable[[_Decision], None]]]) -> None:
        now = self.clock()
        decisions: dict[str, _Decision] = {}
        with self.ledger.locked_many(sorted({run_id for run_id, _ in work})) as snapshots:
            for run_id, decide in work:
                decision = decisions.get(run_id)
                if decision is None:
                    snapshot = snapshots.get(run_id)
                    if snapshot is None:
                        log.warning("event for unknown run %s ignored", run_id)
                        continue
                    decision = decisions[run_id] = _Decision(snapshot, now)
                decide(decision)
            done = list(decisions.values())
            self.ledger.write([c for d in done for c in d.changes])
            self.ledger.delete_timers([t for d in done for t in d.dropped])
            self.ledger.add_timers([t for d in done for t in d.timers])
            stored = self.ledger.add_outbox([m for d in done for m in d.messages])
        facts = [fact for d in done for fact in d.facts]
        if facts:
            self.observe(facts)
        self._publish(stored)
        revokes = [r for d in done for r in d.revokes]
        if revokes:
            self.publisher.revoke(revokes)

    def _publish(self, messages: Sequence[OutboxMessage]) -> None:
        if messages:
            self.publisher.publish(messages)
            self.ledger.delete_outbox([message.id for message in messages])

    def _on_event(self, decision: _Decision, *, event: wire.RunEvent) -> None:
        match event:
            case wire.StartRun():
                self._start(decision)
            case wire.RetryRun():
                self._resume(decision)
            case wire.CancelRun():
                self._advance(decision, m.Cancel(bounded_text(event.reason, 2000)))
            case wire.AttemptBegan():
                self._began(decision, event)
            case wire.AttemptReported():
                self._reported(decision, event)
            case wire.AttemptWorkerDied():
                self._worker_died(decision, event)
            case wire.AttemptDeadLettered():
                self._dead_lettered(decision, event)

    def _start(self, decision: _Decision) -> None:
        if decision.snapshot.state.status == "pending":
            refusal = self._pins_retired(decision.snapshot.spec)
            if refusal:
                self._advance(decision, m.Halt(refusal))
                return
            self._new_deadline(decision)
            decision.snapshot = replace(decision.snapshot, started_at=decision.now)
        self._advance(decision, m.Start())

    def _pins_retired(self, spec: PipelineSpec) -> str:
        """Why a run may not start: the retired versions it pins, with their reasons. Read at
        most every ``RETIRED_READ_S``: a retirement reaches new runs within that."""
        now = time.monotonic()
        if now - self._retired_read_at >= RETIRED_READ_S:
            self._retired = self.ledger.retired_versions()
            self._retired_read_at = now
        if not self._retired:
            return ""
        reasons = {
            f"{s.module}@{s.version} ({self._retired[(s.module, s.version)] or 'no reason given'})"
            for s in spec.steps
            if (s.module, s.version) in self._retired
        }
        if not reasons:
            return ""
        return f"pins retired module version(s): {', '.join(sorted(reasons))}"

    def _resume(self, decision: _Decision) -> None:
        """``rainbow retry``: run a finished, unsuccessful run again from its failed steps."""
        if decision.snapshot.state.status not in m.RESUMABLE:
            return
        if self._pins_retired(decision.snapshot.spec):
            log.warning("run %s pins a retired version: not resumed", decision.snapshot.run_id)
            return
        decision.dropped.extend(t.id for t in decision.snapshot.pending_timers("deadline"))
        self._new_deadline(decision)
        self._advance(decision, m.Resume())

    def _new_deadline(self, decision: _Decision) -> None:
        deadline = decision.now + timedelta(seconds=decision.snapshot.spec.timeout)
        decision.timers.append(Timer(decision.snapshot.run_id, "deadline", deadline))
        decision.snapshot = replace(decision.snapshot, deadline_at=deadline)

    def _began(self, decision: _Decision, event: wire.AttemptBegan) -> None:
        step, attempt = event.step, event.attempt
        if not _is_current(decision.snapshot, step, attempt):
            _note_redelivery(decision, step, attempt, event.delivery)
            return
        spec = decision.snapshot.spec.step(step)
        decision.changes.append(
            AttemptStarted(
                decision.snapshot.run_id,
                step,
                attempt,
                spec.module,
                spec.version,
                decision.now,
                worker=storable_name(event.worker, 255),
                commit=storable_name(event.commit, 64),
                artifact=storable_name(event.artifact, 80),
                delivery=event.delivery,
            )
        )
        # A redelivered attempt starts again: its watchdog starts again too.
        decision.dropped.extend(_watchdogs_of(decision, step, attempt))
        expires = decision.now + timedelta(
            seconds=spec.timeout * HARD_LIMIT_FACTOR + self.watchdog_grace
        )
        decision.timers.append(
            Timer(decision.snapshot.run_id, "watchdog", expires, step=step, attempt=attempt)
        )

    def _reported(self, decision: _Decision, event: wire.AttemptReported) -> None:
        step, attempt = event.result["step"], event.result["attempt"]
        if not _is_current(decision.snapshot, step, attempt):
            # A task that ran again after its attempt ended: its first outcome stands.
            _note_redelivery(decision, step, attempt, event.delivery)
            return
        module = decision.snapshot.spec.step(step).module
        result = checked_result(event.result, module, max_output_bytes=self.max_output_bytes)
        # The worker that ran the attempt told its end to its own observer.
        self._finish_attempt(
            decision,
            step,
            attempt,
            result["status"],
            duration_s=result["duration_s"],
            metrics=[MetricValue(**mv) for mv in result["metrics"]],
            timings=result["timings"],
            error=result["error"],
            started_at=_moment(event.started_at),
            worker=storable_name(event.worker, 255),
            commit=storable_name(event.commit, 64),
            artifact=storable_name(event.artifact, 80),
            delivery=event.delivery,
            told=True,
        )
        if self._past_deadline(decision, _moment(result.get("finished_at"))):
            # The worker cuts a step at the run's deadline too; that is the run timing out.
            self._advance(decision, m.DeadlineExceeded())
            return
        self._advance(decision, effects.machine_event(result))

    def _past_deadline(self, decision: _Decision, at: datetime | None = None) -> bool:
        """Whether the run's deadline had passed ``at`` (when the worker finished; a result that
        waited out a conductor restart in the queue was still on time)."""
        deadline = decision.snapshot.deadline_at
        return deadline is not None and (at or decision.now) >= deadline

    def _dead_lettered(self, decision: _Decision, event: wire.AttemptDeadLettered) -> None:
        step, attempt = event.step, event.attempt
        if not _is_current(decision.snapshot, step, attempt):
            return
        reason = bounded_text(event.reason, 2000)
        signal = self._last_signal(decision.snapshot.run_id, step)
        if signal is not None:
            reason = f"{reason} (signal {signal})"
        self._finish_attempt(
            decision,
            step,
            attempt,
            "worker_lost",
            duration_s=0.0,
            error={"type": "WorkerLost", "message": reason, "traceback": None},
            exit_signal=signal,
        )
        # The broker already redelivered it up to its delivery limit: a poison message.
        self._advance(decision, m.Failed(step, attempt, "worker_lost", reason, retryable=False))

    def _worker_died(self, decision: _Decision, event: wire.AttemptWorkerDied) -> None:
        """A child died running this attempt; the broker delivers it again (no state change)."""
        if not _is_current(decision.snapshot, event.step, event.attempt):
            return
        message = f"worker lost (signal {event.signal}); the broker delivers it again"
        self._finish_attempt(
            decision,
            event.step,
            event.attempt,
            "worker_lost",
            duration_s=0.0,
            error={"type": "WorkerLost", "message": message, "traceback": None},
            exit_signal=event.signal,
        )

    def _last_signal(self, run_id: str, step: str) -> int | None:
        """The signal that killed the last recorded attempt of ``step``, if one did."""
        detail = self.ledger.get_run(run_id)
        for view in detail.steps if detail else ():
            if view.step == step and view.attempts:
                return view.attempts[-1].exit_signal
        return None

    def _fire(self, decision: _Decision, *, timer: Timer) -> None:
        if timer.id not in {t.id for t in decision.snapshot.timers}:
            return  # another conductor fired it, or a resume replaced it, first
        decision.dropped.append(timer.id)
        if timer.kind == "retry":
            self._advance(decision, m.RetryDue(timer.step, timer.attempt))
        elif timer.kind == "deadline":
            self._advance(decision, m.DeadlineExceeded())
        elif _is_current(decision.snapshot, timer.step, timer.attempt):
            message = "no result came back in time: the worker or its host was lost"
            self._finish_attempt(
                decision,
                timer.step,
                timer.attempt,
                "timed_out",
                duration_s=0.0,
                error={"type": "StepTimeout", "message": message, "traceback": None},
            )
            self._advance(decision, m.Failed(timer.step, timer.attempt, "timeout", message))

    def _finish_attempt(
        self,
        decision: _Decision,
        step: str,
        attempt: int,
        status: AttemptStatus,
        *,
        duration_s: float,
        metrics: Sequence[MetricValue] = (),
        timings: Mapping[str, float] | None = None,
        error: Mapping[str, Any] | None = None,
        exit_signal: int | None = None,
        started_at: datetime | None = None,
        worker: str = "",
        commit: str = "",
        artifact: str = "",
        delivery: int = 1,
        told: bool = False,
    ) -> None:
        """Record an attempt's end; unless ``told`` (by the worker that ran it), tell it too."""
        run_id = decision.snapshot.run_id
        spec = decision.snapshot.spec.step(step)
        decision.dropped.extend(_watchdogs_of(decision, step, attempt))
        if not _has_record(decision, step, attempt):
            # A short attempt sends no "started" event (or its result overtook it): record both.
            decision.changes.append(
                AttemptStarted(
                    run_id,
                    step,
                    attempt,
                    spec.module,
                    spec.version,
                    started_at or decision.now,
                    worker=worker,
                    commit=commit,
                    artifact=artifact,
                    delivery=delivery,
                )
            )
        else:
            _note_redelivery(decision, step, attempt, delivery)
        record = effects.attempt_end(
            run_id,
            step,
            attempt,
            status,
            decision.now,
            duration_s=duration_s,
            metrics=metrics,
            timings=timings,
            error=error,
            exit_signal=exit_signal,
        )
        decision.changes.append(record)
        if not told:
            # Ended here without a result: how long it ran is not known.
            decision.facts.append(effects.ended(decision.snapshot.spec, record, measured=False))

    # The state machine -----------------------------------------------------------------------

    def _advance(self, decision: _Decision, event: m.Event) -> None:
        snapshot = decision.snapshot
        before = snapshot.state
        state, commands = m.advance(self.plans.of(snapshot.run_id, snapshot.spec), before, event)
        decision.snapshot = snapshot.with_state(state)
        now = decision.now
        run = effects.Run(
            snapshot.run_id,
            snapshot.spec,
            snapshot.inputs,
            snapshot.started_at,
            (snapshot.deadline_at or now + timedelta(seconds=snapshot.spec.timeout)).timestamp(),
        )
        done = effects.translate(run, before, state, commands, now, queued_at=now.timestamp())
        decision.changes.extend(done.changes)
        decision.facts.extend(done.facts)
        for task in done.tasks:
            queue = queue_name(task["module"], task["version"])
            decision.messages.append(OutboxMessage(queue, wire.encode_task(task), now))
        for retry in done.retries:
            due = now + timedelta(seconds=retry.delay)
            decision.timers.append(
                Timer(snapshot.run_id, "retry", due, step=retry.step, attempt=retry.attempt)
            )
        for abort in done.aborts:
            decision.revokes.append(attempt_id(snapshot.run_id, abort.step, abort.attempt))
            if _has_record(decision, abort.step, abort.attempt):
                decision.changes.append(
                    effects.aborted(snapshot.run_id, abort, now, 0.0, state.reason)
                )

    def _record_instance(self, event: wire.InstanceSeen) -> None:
        self.ledger.record_instance(
            Instance(
                module=event.module,
                version=event.version,
                worker=event.worker,
                seen_at=self.clock(),
                commit=event.commit,
                interface=event.interface,
            )
        )


def _moment(epoch_s: object) -> datetime | None:
    """A time sent as epoch seconds by a worker, if it sent one."""
    if isinstance(epoch_s, int | float) and not isinstance(epoch_s, bool):
        try:
            return datetime.fromtimestamp(epoch_s, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _store_away(exc: Exception) -> bool:
    """Whether the store itself failed (the conductor must stop), not one run's decision."""
    return isinstance(exc, PlatformError) and not isinstance(exc, StoreRefused)


def _note_redelivery(decision: _Decision, step: str, attempt: int, delivery: int) -> None:
    if delivery > 1 and _has_record(decision, step, attempt):
        run_id = decision.snapshot.run_id
        decision.changes.append(AttemptRedelivered(run_id, step, attempt, delivery))


def _has_record(decision: _Decision, step: str, attempt: int) -> bool:
    """Whether the attempt is stored, or is being recorded by this decision."""
    return (step, attempt) in decision.snapshot.recorded_attempts or any(
        isinstance(c, AttemptStarted) and (c.step, c.attempt) == (step, attempt)
        for c in decision.changes
    )


def _watchdogs_of(decision: _Decision, step: str, attempt: int) -> list[int]:
    return [t.id for t in decision.snapshot.pending_timers("watchdog", step, attempt)]


def _is_current(snapshot: Snapshot, step: str, attempt: int) -> bool:
    return m.is_current(snapshot.state, step, attempt)
