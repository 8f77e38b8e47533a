"""Where the control plane sends what people submit: the celery engine, or a local one.

With ``RAINBOW_ENGINE=celery`` runs go to the conductor like ``rainbow run --engine celery``.
With the embedded default (``local``) the runs are recorded pending and unowned, and a
:class:`LocalRunner` thread in the web server claims them (an atomic update of their owner, so
several server processes never run one twice) and runs them on local process pools: a pinned
version the registry has a build of runs from that build's own environment (as a worker of it
would), any other from the module code named by ``RAINBOW_MODULES``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from django.db import transaction

from rainbow.control.models import Attempt, Run
from rainbow.control.persistence.store import DjangoStore
from rainbow.control.services.builds import StoreRegistry
from rainbow.control.services.refusals import Conflict
from rainbow.deploy.pinned import released_builds
from rainbow.engine.interrupted import close_abandoned_runs, this_process
from rainbow.engine.local import LocalEngine, LocalOptions, lease_end
from rainbow.engine.machine import FINISHED_RUN
from rainbow.engine.records import RunChanged, RunCreated
from rainbow.engine.submission import new_runs
from rainbow.engine.workunits import WorkUnit
from rainbow.errors import UserError
from rainbow.observe import metrics
from rainbow.sdk.catalog import AnyModule
from rainbow.spec.models import PipelineSpec

log = logging.getLogger("rainbow.control")

MAX_REQUEUES = 3
"""How often a run goes back to the queue because the local engine failed before it started."""
MAX_PAUSE_S = 30.0


class Executor(Protocol):
    engine: str

    def submit(
        self,
        spec: PipelineSpec,
        units: Sequence[WorkUnit],
        *,
        environment: str,
        submitted_by: str,
    ) -> list[str]: ...

    def cancel(self, run_id: str, reason: str) -> None: ...

    def retry(self, run_id: str) -> None: ...


class CeleryExecutor:
    engine = "celery"

    def __init__(self, broker_url: str) -> None:
        from rainbow.engine.celery.app import make_app

        self.app = make_app(broker_url)
        self.store = DjangoStore()

    def submit(
        self,
        spec: PipelineSpec,
        units: Sequence[WorkUnit],
        *,
        environment: str,
        submitted_by: str,
    ) -> list[str]:
        from rainbow.engine.celery.client import submit

        return submit(
            self.app,
            self.store,
            spec,
            units,
            environment=environment,
            submitted_by=submitted_by,
        )

    def cancel(self, run_id: str, reason: str) -> None:
        from rainbow.engine.celery.client import ask_cancel

        ask_cancel(self.app, run_id, reason)

    def retry(self, run_id: str) -> None:
        from rainbow.engine.celery.client import ask_retry

        ask_retry(self.app, run_id)


class LocalExecutor:
    engine = "local"

    def __init__(self) -> None:
        self.store = DjangoStore()

    def submit(
        self,
        spec: PipelineSpec,
        units: Sequence[WorkUnit],
        *,
        environment: str,
        submitted_by: str,
    ) -> list[str]:
        records = new_runs(
            spec, units, engine="local", environment=environment, submitted_by=submitted_by
        )
        self.store.write(records)
        return [record.run_id for record in records]

    def cancel(self, run_id: str, reason: str) -> None:
        """Only a run no local runner has taken yet can be cancelled: a local pool has no way
        to stop one step of a batch it runs."""
        with transaction.atomic():
            taken = Run.objects.filter(run_id=run_id, owner="", status="pending").update(
                owner=this_process()
            )
            if not taken:
                raise Conflict(
                    f"run {run_id} already runs on the control plane's local engine and cannot "
                    "be cancelled there",
                    hint="use RAINBOW_ENGINE=celery for runs that can be cancelled mid-way",
                )
            self.store.write([RunChanged(run_id, "cancelled", datetime.now(UTC), reason)])

    def retry(self, run_id: str) -> None:
        raise Conflict(
            f"run {run_id} ran on the local engine: only distributed runs resume",
            hint="submit the work unit again, or use RAINBOW_ENGINE=celery",
        )


class LocalRunner:
    """Claims pending local runs and runs them, one pipeline version at a time."""

    def __init__(
        self,
        modules: Mapping[str, AnyModule],
        options: LocalOptions,
        *,
        builds_cache: Path,
        poll_s: float = 0.5,
    ) -> None:
        """``builds_cache`` holds the released builds' artifacts and environments."""
        self.modules = modules
        self.options = options
        self.builds_cache = builds_cache
        self.poll_s = poll_s
        self.store = DjangoStore()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rainbow-local-runner", daemon=True)
        self._last_close = float("-inf")
        self.owner = this_process()
        self._requeues: Counter[str] = Counter()
        self._pause_s = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        from django.db import close_old_connections

        while not self._stop.is_set():
            try:
                ran = self.run_pending()
            except Exception:  # one bad batch must not stop the runner
                log.exception("the local runner failed; trying again")
                ran = 0
            finally:
                close_old_connections()
            if self._pause_s:
                self._stop.wait(self._pause_s)
            elif not ran:
                self._stop.wait(self.poll_s)

    def run_pending(self, limit: int = 100) -> int:
        """Claim and run a batch of pending runs of one pipeline version; how many ran."""
        if time.monotonic() - self._last_close >= self.options.lease_s / 3:
            # Runs whose server died end (failed, saying so), so their promotions end too.
            self._last_close = time.monotonic()
            close_abandoned_runs(self.store, datetime.now(UTC))
        waiting = Run.objects.filter(engine="local", owner="", status="pending")
        first = waiting.order_by("created_at").values_list("spec_hash", flat=True).first()
        if first is None:
            return 0
        me = self.owner
        ids = list(waiting.filter(spec_hash=first).values_list("run_id", flat=True)[:limit])
        lease = lease_end(self.options)
        Run.objects.filter(run_id__in=ids, owner="").update(owner=me, lease_until=lease)
        mine = list(Run.objects.filter(run_id__in=ids, owner=me, status="pending"))
        if not mine:
            return 0
        spec = PipelineSpec.model_validate(mine[0].spec)
        records = [_record_of(run, spec) for run in mine]
        pins = {(s.module, s.version) for s in spec.steps}
        try:
            released = released_builds(StoreRegistry(), pins, self.builds_cache)
        except UserError as exc:
            self._fail(records, f"{exc} ({exc.hint})" if exc.hint else str(exc))
            return len(records)
        except Exception as exc:  # the registry or the artifact store away: try again later
            log.exception("could not prepare the builds of %s", spec.name)
            self._after_failure([r.run_id for r in records], exc)
            return len(records)
        # Installing a build can take minutes: the claim must outlast it.
        self.store.renew_leases(me, lease_end(self.options))
        missing = sorted(f"{m}@{v}" for m, v in pins - released.keys() if m not in self.modules)
        if missing:
            self._fail(
                records,
                f"no released build of {', '.join(missing)} and no code for it in "
                "RAINBOW_MODULES: release the module (rainbow release), add its code to "
                "RAINBOW_MODULES, or use RAINBOW_ENGINE=celery with workers",
            )
            return len(records)
        try:
            engine = LocalEngine(
                self.store, self.modules, self.options, observe=metrics.observe, released=released
            )
            engine.run_recorded(spec, records)
            self._pause_s = 0.0
        except Exception as exc:
            log.exception("local runs of %s failed to run", spec.name)
            self._after_failure([r.run_id for r in records], exc)
        return len(records)

    def _fail(self, records: Sequence[RunCreated], reason: str) -> None:
        now = datetime.now(UTC)
        self.store.write([RunChanged(r.run_id, "failed", now, reason) for r in records])

    def _after_failure(self, run_ids: Sequence[str], exc: Exception) -> None:
        """Runs none of whose attempts started go back to the queue for the next runner; the
        others had work lost with the engine and fail, since local runs cannot resume."""
        began = set(
            Attempt.objects.filter(step_run__run_id__in=run_ids).values_list(
                "step_run__run_id", flat=True
            )
        )
        unfinished = Run.objects.filter(run_id__in=run_ids, owner=self.owner).exclude(
            status__in=FINISHED_RUN
        )
        now, reason = datetime.now(UTC), f"the control plane's local engine failed: {exc}"
        unstarted = list(unfinished.exclude(run_id__in=began).values_list("run_id", flat=True))
        for run_id in unstarted:
            self._requeues[run_id] += 1
        given_up = [r for r in unstarted if self._requeues[r] >= MAX_REQUEUES]
        again = [r for r in unstarted if r not in given_up]
        Run.objects.filter(run_id__in=again).update(owner="", status="pending", lease_until=None)
        lost = [*unfinished.filter(run_id__in=began).values_list("run_id", flat=True), *given_up]
        if given_up:
            reason = f"{reason} (it failed {MAX_REQUEUES} times before this run could start)"
        self.store.write([RunChanged(run_id, "failed", now, reason) for run_id in lost])
        for run_id in given_up:
            del self._requeues[run_id]
        # The same failure is likely to come back at once: give what causes it time to pass.
        self._pause_s = min(2 * self._pause_s or self.poll_s, MAX_PAUSE_S)


def _record_of(run: Run, spec: PipelineSpec) -> RunCreated:
    return RunCreated(
        run_id=run.run_id,
        pipeline=run.pipeline,
        spec_hash=run.spec_hash,
        spec=run.spec,
        inputs=run.inputs,
        unit=run.unit,
        engine=run.engine,
        created_at=run.created_at,
        step_ids=[s.id for s in spec.steps],
        owner=run.owner,
        environment=run.environment,
        submitted_by=run.submitted_by,
    )


_executor: Executor | None = None


def current_executor() -> Executor:
    """The executor this process submits to, made from the settings on first use."""
    global _executor  # noqa: PLW0603  (one per process, like Django's own connections)
    if _executor is None:
        from rainbow import settings as rb_settings

        settings = rb_settings.from_env()
        if settings.web.engine == "celery":
            _executor = CeleryExecutor(settings.broker.url)
        else:
            _executor = LocalExecutor()
    return _executor


def use_executor(executor: Executor | None) -> None:
    """Submit to ``executor`` from now on (the web server at start, tests); None resets."""
    global _executor  # noqa: PLW0603
    _executor = executor
