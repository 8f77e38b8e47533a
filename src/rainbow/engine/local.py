"""The embedded executor: runs work units through a spec on this machine, with no server.

One loop drives every run: it feeds pool events and timers to the pure state machine, carries out
the commands (dispatch, retry later, abort, finish) and records every change in the store in
batches, one transaction per batch, so recording every attempt costs little per step.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rainbow.engine import effects
from rainbow.engine import machine as m
from rainbow.engine.cache import AssetHasher, Unhashable, code_identity, step_key
from rainbow.engine.intake import checked_result
from rainbow.engine.interrupted import close_abandoned_runs, this_process
from rainbow.engine.pool import Finished, Lost, PoolEvent, Started, WorkerPool, key_of
from rainbow.engine.pools import Place, Pools
from rainbow.engine.records import (
    AttemptFinished,
    AttemptStarted,
    AttemptStatus,
    CachedStep,
    Change,
    MetricValue,
    RunChanged,
    RunCreated,
    StepCached,
)
from rainbow.engine.store import Store
from rainbow.engine.submission import new_runs
from rainbow.engine.workunits import WorkUnit
from rainbow.errors import StoreRefused
from rainbow.observe.facts import Fact, Observer, ignore
from rainbow.sdk.catalog import AnyModule
from rainbow.sdk.messages import MetricInfo, Result, Task
from rainbow.settings import DEFAULT_LOCAL_LEASE_S, DEFAULT_MAX_OUTPUT_BYTES
from rainbow.spec.models import PipelineSpec, StepSpec
from rainbow.storable import bounded_text
from rainbow.vcs import code_state

log = logging.getLogger("rainbow.local")

FLUSH_INTERVAL_S = 0.1


@dataclass(frozen=True)
class LocalOptions:
    workers: int = max(1, os.cpu_count() or 1)
    assets_url: str = ".rainbow/assets"
    work_root: Path = Path(".rainbow/work")
    log_file: Path = Path(".rainbow/logs/rainbow.log")
    retry: m.RetryPolicy = field(default_factory=m.RetryPolicy)
    depth: int = 2
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    lease_s: float = DEFAULT_LOCAL_LEASE_S
    """How long this process's hold on its runs lasts unless renewed (a third of it apart)."""
    cache: bool = True
    """Reuse the outputs of a step already run with the same code and inputs (the step cache)."""


@dataclass(frozen=True)
class ReleasedCode:
    """A released module version's build, ready to run: its own environment's interpreter."""

    python: str
    commit: str
    artifact: str
    """The build's manifest hash (``sha256:…``), recorded on every attempt it runs."""
    cache: bool = True
    """False for a module that opted out of the step cache (its interface's ``cache``)."""


@dataclass(frozen=True)
class StepOutcome:
    id: str
    status: str
    attempts: int


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    unit: str
    status: str
    reason: str | None
    outputs: dict[str, Any]
    steps: list[StepOutcome]
    duration_s: float


@dataclass
class _Run:
    run_id: str
    seq: int
    unit: WorkUnit
    plan: m.Plan
    state: m.RunState
    started: float = 0.0
    """When the run was admitted (monotonic), for its outcome's duration."""
    started_at: datetime | None = None
    deadline: float = 0.0
    finished: float | None = None


@dataclass(order=True)
class _Timer:
    due: float
    seq: int
    run_id: str = field(compare=False)
    event: m.Event = field(compare=False)


class LocalEngine:
    """Run work units through one spec with a local process pool."""

    def __init__(
        self,
        store: Store,
        modules: Mapping[str, AnyModule],
        options: LocalOptions = LocalOptions(),
        *,
        on_finish: Callable[[RunOutcome], None] | None = None,
        observe: Observer = ignore,
        released: Mapping[tuple[str, str], ReleasedCode] | None = None,
    ) -> None:
        """Steps whose (module, version) is in ``released`` run that build, in its own
        environment; the others run the local code in ``modules``."""
        self.store = store
        self.modules = modules
        self.released = dict(released or {})
        self.options = options
        self.on_finish = on_finish
        self.observe = observe
        self.plans = effects.Plans(options.retry)
        self._changes: list[Change] = []
        self._facts: list[Fact] = []
        self._last_flush = 0.0
        self.owner = this_process()
        self._code_states: dict[str, tuple[str, bool]] = {}
        self._hash_asset = AssetHasher()

    def code_of(self, module: str, version: str) -> tuple[str, str]:
        """The commit and the build (empty for local code) each attempt of a step runs."""
        build = self.released.get((module, version))
        if build is not None:
            return build.commit, build.artifact
        return self.commit_of(module), ""

    def commit_of(self, module: str) -> str:
        """The commit of a module's local code, read once: what each of its attempts ran."""
        return self._code_state(module)[0]

    def _code_state(self, module: str) -> tuple[str, bool]:
        if module not in self._code_states:
            found = self.modules.get(module)
            where = Path(found.ref.file or ".") if found is not None else Path(".")
            # The whole checkout: a commit stands for all of it, and the module may import any
            # of it, so an edit anywhere must keep its steps out of the cache.
            state = code_state(where, whole_tree=True) if found is not None else ("", True)
            self._code_states[module] = state
        return self._code_states[module]

    def cache_key(self, task: Task) -> str | None:
        """The step cache's key for ``task``; None when its outputs must not be reused."""
        if not self.options.cache:
            return None
        module = task["module"]
        build = self.released.get((module, task["version"]))
        if build is not None:
            code = build.artifact if build.cache else None
        else:
            commit, dirty = self._code_state(module)
            cacheable = self.modules[module].rainbow_interface.cache
            code = code_identity(commit, "", dirty=dirty) if cacheable else None
        if code is None:
            return None
        try:
            return step_key(module, code, task["inputs"], self._hash_asset)
        except Unhashable as exc:
            log.info("step %s of run %s runs uncached: %s", task["step"], task["run_id"], exc)
            return None

    def run(self, spec: PipelineSpec, units: Sequence[WorkUnit]) -> list[RunOutcome]:
        # What earlier processes left running is closed first (the control plane's runner,
        # the other caller, does it on its own schedule).
        close_abandoned_runs(self.store, _now())
        lease = self.lease_end()
        records = new_runs(spec, units, engine="local", owner=self.owner, lease_until=lease)
        return self._run(spec, records, True)

    def lease_end(self) -> datetime:
        return lease_end(self.options)

    def run_recorded(self, spec: PipelineSpec, records: Sequence[RunCreated]) -> list[RunOutcome]:
        """Run pending runs someone else recorded (the control plane), now owned by this
        process."""
        return self._run(spec, records, False)

    def _run(
        self, spec: PipelineSpec, records: Sequence[RunCreated], unrecorded: bool
    ) -> list[RunOutcome]:
        steps = {s.id: s for s in spec.steps}
        pools = self._pools(spec, wanted=max(1, len(records) * len(spec.steps)))
        try:
            pools.start()
            return _Loop(self, spec, steps, pools).run(records, unrecorded)
        finally:
            pools.close()

    def _pools(self, spec: PipelineSpec, *, wanted: int) -> Pools:
        """One pool for local code, one per released build; the workers shared out among
        them, at least one each."""
        refs: dict[Place, dict[str, dict[str, Any] | None]] = {}
        for step in spec.steps:
            build = self.released.get((step.module, step.version))
            if build is not None:
                refs.setdefault(build.python, {})[step.module] = None
            else:
                refs.setdefault(None, {})[step.module] = self.modules[step.module].ref.to_json()
        size = max(1, min(self.options.workers, wanted) // len(refs))
        env = {
            "assets_url": self.options.assets_url,
            "work_root": str(self.options.work_root),
            "max_output_bytes": str(self.options.max_output_bytes),
        }
        pools = {
            python: WorkerPool(
                size,
                refs=its_refs,
                env=env,
                log_file=str(self.options.log_file),
                depth=self.options.depth,
                python=python,
            )
            for python, its_refs in refs.items()
        }

        def route(task: Task) -> Place:
            build = self.released.get((task["module"], task["version"]))
            return None if build is None else build.python

        return Pools(pools, route)

    def record(self, changes: Iterable[Change], facts: Iterable[Fact] = ()) -> None:
        """Buffer changes for the next flush, and the facts to tell once they are written."""
        self._changes.extend(changes)
        self._facts.extend(facts)

    def forget(self, run_id: str) -> None:
        """Drop what is buffered for a run another process has closed."""
        self._changes = [c for c in self._changes if c.run_id != run_id]

    def flush(self, *, force: bool = False) -> dict[str, str]:
        """Write what was recorded (every 100 ms, or now); returns the runs whose changes the
        store refused, with why: those runs are failed, every other run is recorded."""
        now = time.monotonic()
        if not self._changes or not (force or now - self._last_flush >= FLUSH_INTERVAL_S):
            return {}
        try:
            self.store.write(self._changes)
            refused = {}
        except StoreRefused:
            refused = self._write_run_by_run(self._changes)
        facts, self._changes, self._facts = self._facts, [], []
        self._last_flush = now
        if facts:
            self.observe(facts)
        return refused

    def _write_run_by_run(self, changes: Sequence[Change]) -> dict[str, str]:
        """One run's value the store cannot hold must not cost the batch's other runs."""
        by_run: dict[str, list[Change]] = {}
        for change in changes:
            by_run.setdefault(change.run_id, []).append(change)
        refused = {}
        for run_id, its_changes in by_run.items():
            try:
                self.store.write(its_changes)
            except StoreRefused as exc:
                reason = bounded_text(f"Rainbow could not record this run: {exc}", 2000)
                log.error("run %s failed: %s", run_id, reason)
                refused[run_id] = reason
                self._write_what_is_storable(its_changes)
                try:
                    self.store.write([RunChanged(run_id, "failed", _now(), reason)])
                except StoreRefused:
                    log.exception("could not record run %s as failed either", run_id)
        return refused

    def _write_what_is_storable(self, changes: Sequence[Change]) -> None:
        """Keep as much of a refused run's history as the store takes, change by change."""
        for change in changes:
            try:
                self.store.write([change])
            except StoreRefused as exc:
                log.error("dropped a change the store refused (%s): %.300r", exc, change)


class _Loop:
    """The state of one ``LocalEngine.run`` call."""

    def __init__(
        self,
        engine: LocalEngine,
        spec: PipelineSpec,
        steps: dict[str, StepSpec],
        pool: Pools,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.steps = steps
        self.order = {s.id: i for i, s in enumerate(spec.steps)}
        self.pool = pool
        self.runs: dict[str, _Run] = {}
        self.ready = _Ready(pool)
        self.timers: list[_Timer] = []
        self.counter = itertools.count()
        self.outcomes: dict[str, RunOutcome] = {}
        self.waiting: deque[_Run] = deque()
        self.started_attempts: dict[tuple[str, str, int], float] = {}
        """When each attempt began running (monotonic), for the durations of aborted ones."""
        self.cache_keys: dict[tuple[str, str, int], str] = {}
        """The step cache key of each attempt dispatched uncached, to keep its outputs under."""
        self.last_renewal = time.monotonic()

    def run(self, records: Sequence[RunCreated], unrecorded: bool) -> list[RunOutcome]:
        for seq, record in enumerate(records):
            plan = self.engine.plans.of(record.run_id, self.spec)
            unit = WorkUnit(record.unit, dict(record.inputs))
            self.runs[record.run_id] = _Run(
                record.run_id, seq, unit, plan, m.RunState.initial(plan)
            )
        if unrecorded:
            self.engine.record(records)
            self._flush(force=True)
        self.waiting = deque(self.runs.values())
        try:
            while len(self.outcomes) < len(self.runs):
                self._admit()
                self._dispatch()
                self._renew_lease()  # first: what a run let go had buffered is never written
                self._flush()
                events, requeue = self.pool.poll(self._wait_time())
                for task in requeue:
                    self._enqueue(task)
                for event in events:
                    self._on_pool_event(event)
                self._fire_timers()
        except KeyboardInterrupt:
            self._cancel_unfinished("interrupted (Ctrl-C or SIGTERM)")
            raise
        except BaseException as exc:
            self._cancel_unfinished(
                f"the local engine stopped: {exc}", keep_unstarted=not unrecorded
            )
            raise
        finally:
            self._flush(force=True)
            self.engine.flush(force=True)  # what failing a refused run recorded
        return [self.outcomes[r.run_id] for r in sorted(self.runs.values(), key=lambda r: r.seq)]

    def _admit(self) -> None:
        """Start runs only as workers can take their steps, so a run's deadline counts from
        when it can actually progress, not from when a large corpus was submitted."""
        while self.waiting and len(self.ready) < self.pool.capacity:
            run = self.waiting.popleft()
            if run.run_id in self.outcomes:
                continue  # failed before it could start: the store refused to record it
            run.started, run.started_at = time.monotonic(), _now()
            run.deadline = time.time() + self.spec.timeout
            self._push_timer(run.started + self.spec.timeout, run.run_id, m.DeadlineExceeded())
            self._apply(run, m.Start())

    def _renew_lease(self) -> None:
        now = time.monotonic()
        if now - self.last_renewal < self.engine.options.lease_s / 3:
            return
        self.last_renewal = now
        held = self.engine.store.renew_leases(self.engine.owner, self.engine.lease_end())
        for run in list(self.runs.values()):
            if run.run_id not in self.outcomes and run.run_id not in held:
                self._let_go(run)

    def _let_go(self, run: _Run) -> None:
        """Another process closed this run as abandoned (this one stalled past its lease): stop
        its work and record nothing more, so the store keeps the one true ending."""
        log.warning("run %s was closed by another process while this one stalled", run.run_id)
        running = [(run.run_id, sid, s.attempt) for sid, s in run.state.steps.items()]
        self.ready.drop(lambda task: task["run_id"] == run.run_id)
        self.pool.abort(running)
        self.engine.forget(run.run_id)
        stored = self.engine.store.run_statuses([run.run_id]).get(run.run_id, "failed")
        run.state = replace(run.state, status=stored)  # type: ignore[arg-type]
        self.outcomes[run.run_id] = RunOutcome(
            run_id=run.run_id,
            unit=run.unit.name,
            status=stored,
            reason="closed by another Rainbow process after this one stalled past its lease",
            outputs={},
            steps=[StepOutcome(sid, s.status, s.attempt) for sid, s in run.state.steps.items()],
            duration_s=time.monotonic() - run.started if run.started else 0.0,
        )

    def _flush(self, *, force: bool = False) -> None:
        for run_id, reason in self.engine.flush(force=force).items():
            outcome = self.outcomes.get(run_id)
            if outcome is None:
                self._apply(self.runs[run_id], m.Halt(reason))
            else:  # it ended before its last changes were refused: the store says failed
                self.outcomes[run_id] = replace(outcome, status="failed", reason=reason)

    def _cancel_unfinished(self, reason: str, *, keep_unstarted: bool = False) -> None:
        """End what is unfinished; with ``keep_unstarted``, runs of which no attempt started are
        left for their submitter (the control plane hands them to the next runner)."""
        started = {run_id for run_id, _, _ in self.started_attempts}
        for run in self.runs.values():
            if run.run_id in self.outcomes or (keep_unstarted and run.run_id not in started):
                continue
            # For a submitter that requeues what never started, the rest failed; nobody cancelled.
            self._apply(run, m.Halt(reason) if keep_unstarted else m.Cancel(reason))

    # Carrying out commands -------------------------------------------------------------------

    def _apply(self, run: _Run, event: m.Event) -> None:
        before = run.state
        state, commands = m.advance(run.plan, before, event)
        run.state = state
        now = _now()
        about = effects.Run(run.run_id, self.spec, run.unit.inputs, run.started_at, run.deadline)
        done = effects.translate(about, before, state, commands, now)
        self.engine.record(done.changes, done.facts)
        for task in done.tasks:
            self._enqueue(task)
        for retry in done.retries:
            due = time.monotonic() + retry.delay
            self._push_timer(due, run.run_id, m.RetryDue(retry.step, retry.attempt))
        if done.aborts:
            self._abort(run, done.aborts, now)
        if done.finish is not None:
            self._finish(run, done.finish, done.outputs)

    def _enqueue(self, task: Task) -> None:
        seq = self.runs[task["run_id"]].seq
        self.ready.push((seq, self.order[task["step"]]), task)

    def _dispatch(self) -> None:
        """Submit what the pools have room for; a step the cache has is done at once, and what
        it makes ready is dispatched in the same go."""
        while True:
            hits: list[tuple[Task, CachedStep]] = []
            for task in self.ready.take(self.pool.has_room):
                if self.runs[task["run_id"]].state.status != "running":
                    continue
                key = self.engine.cache_key(task)
                found = self.engine.store.cached_steps([key]).get(key) if key else None
                if found is not None:
                    hits.append((task, found))
                    continue
                if key is not None:
                    self.cache_keys[key_of(task)] = key
                self.pool.submit(task)
            if not hits:
                return
            for task, found in hits:
                self._reuse(task, found)

    def _reuse(self, task: Task, found: CachedStep) -> None:
        """Finish ``task`` with what the step cache kept from run ``found.run_id``."""
        commit, artifact = self.engine.code_of(task["module"], task["version"])
        now = _now()
        self.engine.record(
            [
                AttemptStarted(
                    task["run_id"],
                    task["step"],
                    task["attempt"],
                    task["module"],
                    task["version"],
                    now,
                    commit=commit,
                    artifact=artifact,
                )
            ]
        )
        result: Result = {
            "run_id": task["run_id"],
            "step": task["step"],
            "attempt": task["attempt"],
            "status": "succeeded",
            "outputs": dict(found.outputs),
            "metrics": [_metric_info(metric) for metric in found.metrics],
            "timings": {},
            "duration_s": 0.0,
            "error": None,
        }
        run = self.runs[task["run_id"]]
        record = replace(effects.result_end(run.run_id, result, now), cached_from=found.run_id)
        # Nothing ran: no duration to tell the metrics about.
        self.engine.record([record], [effects.ended(self.spec, record, measured=False)])
        self._apply(run, effects.machine_event(result))

    def _abort(self, run: _Run, aborts: Sequence[m.Abort], now: datetime) -> None:
        run_id = run.run_id
        wanted = {(run_id, a.step, a.attempt) for a in aborts}
        self.ready.drop(lambda task: key_of(task) in wanted)
        self.pool.abort(wanted)
        reason = run.state.reason
        for abort in aborts:
            began = self.started_attempts.get((run_id, abort.step, abort.attempt))
            if began is not None:
                took = time.monotonic() - began
                self.engine.record([effects.aborted(run_id, abort, now, took, reason)])

    def _finish(self, run: _Run, command: m.Finish, outputs: dict[str, Any]) -> None:
        run.finished = time.monotonic()
        # Attempt workdirs are removed as attempts end; this takes the run's empty folders.
        shutil.rmtree(self.engine.options.work_root / run.run_id, ignore_errors=True)
        outcome = RunOutcome(
            run_id=run.run_id,
            unit=run.unit.name,
            status=command.status,
            reason=command.reason,
            outputs=outputs,
            steps=[StepOutcome(sid, s.status, s.attempt) for sid, s in run.state.steps.items()],
            duration_s=run.finished - run.started if run.started else 0.0,
        )
        self.outcomes[run.run_id] = outcome
        if self.engine.on_finish is not None:
            self.engine.on_finish(outcome)

    # Events from the pool and the clock ------------------------------------------------------

    def _on_pool_event(self, event: PoolEvent) -> None:
        if isinstance(event, Started):
            task = event.task
            run = self.runs[task["run_id"]]
            step = run.state.steps[task["step"]]
            if run.state.status != "running" or (step.status, step.attempt) != (
                "running",
                task["attempt"],
            ):
                return  # aborted while it waited behind another task: it never runs
            self.started_attempts[key_of(task)] = time.monotonic()
            commit, artifact = self.engine.code_of(task["module"], task["version"])
            self.engine.record(
                [
                    AttemptStarted(
                        task["run_id"],
                        task["step"],
                        task["attempt"],
                        task["module"],
                        task["version"],
                        _now(),
                        commit=commit,
                        artifact=artifact,
                    )
                ]
            )
            return
        if isinstance(event, Finished):
            self._on_result(event.result)
            return
        task = event.task
        run = self.runs[task["run_id"]]
        if isinstance(event, Lost):
            how = _describe_exit(event.exit_code, event.signal)
            status: AttemptStatus = "worker_lost"
            failure = m.Failed(task["step"], task["attempt"], "worker_lost", f"worker lost ({how})")
            error_type, signal_number = "WorkerLost", event.signal
        else:
            status = "timed_out"
            message = (
                f"killed after {event.after_s:.1f}s: past its timeout of {task['timeout']:g}s "
                "and deaf to it"
            )
            failure = m.Failed(task["step"], task["attempt"], "timeout", message)
            error_type, signal_number = "StepTimeout", signal.SIGKILL.value
        error = {"type": error_type, "message": failure.message}
        self._record_attempt_end(
            effects.attempt_end(
                run.run_id,
                task["step"],
                task["attempt"],
                status,
                _now(),
                duration_s=event.after_s,
                error=error,
                exit_signal=signal_number,
            )
        )
        self._apply(run, failure)

    def _on_result(self, result: Result) -> None:
        module = self.steps[result["step"]].module
        result = checked_result(
            result, module, max_output_bytes=self.engine.options.max_output_bytes
        )
        run = self.runs[result["run_id"]]
        record = effects.result_end(run.run_id, result, _now())
        self._record_attempt_end(record)
        key = self.cache_keys.pop(key_of(result), None)
        if key is not None and result["status"] == "succeeded":
            kept = StepCached(
                key,
                run.run_id,
                result["step"],
                result["attempt"],
                module,
                result["outputs"] or {},
                record.metrics,
            )
            self.engine.record([kept])
        self._apply(run, effects.machine_event(result))

    def _record_attempt_end(self, record: AttemptFinished) -> None:
        """The pool's children tell nothing: this engine tells every attempt's end."""
        self.engine.record([record], [effects.ended(self.spec, record)])

    def _push_timer(self, due: float, run_id: str, event: m.Event) -> None:
        heapq.heappush(self.timers, _Timer(due, next(self.counter), run_id, event))

    def _fire_timers(self) -> None:
        now = time.monotonic()
        while self.timers and self.timers[0].due <= now:
            timer = heapq.heappop(self.timers)
            run = self.runs[timer.run_id]
            if run.state.status == "running":
                self._apply(run, timer.event)

    def _wait_time(self) -> float:
        now = time.monotonic()
        candidates = [FLUSH_INTERVAL_S]
        if self.timers:
            candidates.append(self.timers[0].due - now)
        deadline = self.pool.next_deadline()
        if deadline is not None:
            candidates.append(deadline - now)
        return max(0.0, min(candidates))


class _Ready:
    """Tasks waiting for a worker, a heap per pool (earlier runs first, then step order), so a
    full pool's backlog never holds up the tasks of another."""

    def __init__(self, pools: Pools) -> None:
        self._pools = pools
        self._heaps: dict[Place, list[tuple[tuple[int, int], int, Task]]] = {}
        self._count = itertools.count()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, priority: tuple[int, int], task: Task) -> None:
        heap = self._heaps.setdefault(self._pools.place_of(task), [])
        heapq.heappush(heap, (priority, next(self._count), task))
        self._size += 1

    def take(self, has_room: Callable[[Place], bool]) -> Iterator[Task]:
        """Pop tasks while their pool has room; the caller submits each before the next."""
        for place, heap in self._heaps.items():
            while heap and has_room(place):
                self._size -= 1
                yield heapq.heappop(heap)[2]

    def drop(self, unwanted: Callable[[Task], bool]) -> None:
        for place, heap in list(self._heaps.items()):
            kept = [item for item in heap if not unwanted(item[2])]
            heapq.heapify(kept)
            self._size -= len(heap) - len(kept)
            self._heaps[place] = kept


def _metric_info(metric: MetricValue) -> MetricInfo:
    return MetricInfo(
        name=metric.name,
        value=metric.value,
        better=metric.better,
        kind=metric.kind,
        tolerance_absolute=metric.tolerance_absolute,
        tolerance_relative=metric.tolerance_relative,
    )


def lease_end(options: LocalOptions) -> datetime:
    """When a lease taken or renewed now runs out."""
    return _now() + timedelta(seconds=options.lease_s)


def _describe_exit(code: int | None, sig: int | None) -> str:
    if sig is not None:
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "unknown"
        return f"signal {sig} {name}"
    return f"exit code {code}"


def _now() -> datetime:
    return datetime.now(UTC)
