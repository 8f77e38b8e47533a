"""The conductor's ledger on the Django ORM: the run store plus timers, outbox and instances.

Import after :func:`rainbow.control.django_setup.configure` (``open_ledger`` does both).

``locked_many`` is one transaction holding the runs' row locks (``SELECT … FOR UPDATE``, taken in
id order), so two conductors never decide about the same run at once, nor deadlock; stranded outbox
messages are taken with ``SKIP LOCKED``, so two conductors never both republish one. On SQLite
every write transaction locks the whole database: the same guarantees, one conductor's throughput.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Count
from pydantic import ValidationError

from rainbow.control import models
from rainbow.control.persistence import audit
from rainbow.control.persistence.statements import insert_each, insert_each_returning_ids
from rainbow.control.persistence.store import DjangoStore, store_errors
from rainbow.engine.ledger import (
    Instance,
    OutboxMessage,
    Snapshot,
    Timer,
    known_spec,
    parsed_spec,
)
from rainbow.engine.machine import RunState, StepState
from rainbow.spec.models import ModuleInterface, PipelineSpec

log = logging.getLogger("rainbow.conductor")
T = TypeVar("T")


def _store_errors(method: Callable[..., T]) -> Callable[..., T]:
    """The conductor tells a store that is away (it waits for it) from one that refuses."""

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> T:
        with store_errors():
            return method(*args, **kwargs)

    return guarded


class DjangoLedger(DjangoStore):
    def reconnect(self) -> None:
        from django.db import connections

        # A connection the server dropped stays broken until closed; the next query reopens.
        connections[self._using].close()

    @contextmanager
    def locked_many(self, run_ids: Sequence[str]) -> Iterator[dict[str, Snapshot]]:
        # Away, the conductor waits for the store with its events unacked.
        with (
            store_errors("the run store refused a decision"),
            self._locked(sorted(run_ids)) as snapshots,
        ):
            yield snapshots

    def _specs_of(self, runs: Sequence[tuple[Any, ...]]) -> dict[str, PipelineSpec]:
        """Each run's spec, read from the store only for a pipeline version new to this process."""
        specs: dict[str, PipelineSpec] = {}
        for run_id, spec_hash, *_ in runs:
            if spec_hash in specs:
                continue
            known = known_spec(spec_hash)
            if known is None:
                rows = models.Run.objects.using(self._using).filter(run_id=run_id)
                known = parsed_spec(spec_hash, rows.values_list("spec", flat=True).get())
            specs[spec_hash] = known
        return specs

    @contextmanager
    def _locked(self, ids: list[str]) -> Iterator[dict[str, Snapshot]]:
        # Rows as tuples, not model instances: building those cost more than the queries.
        using = self._using
        with transaction.atomic(using=using):
            runs = list(
                models.Run.objects.using(using)
                .select_for_update()
                .filter(run_id__in=ids)
                .order_by("run_id")
                .values_list("run_id", "spec_hash", "inputs", "status", "reason", "started_at")
            )
            specs = self._specs_of(runs)
            steps: dict[str, dict[str, StepState]] = defaultdict(dict)
            step_rows = (
                models.StepRun.objects.using(using)
                .filter(run_id__in=ids)
                .order_by("run_id", "position")
                .values_list("run_id", "step", "status", "attempts", "outputs", "first_attempt")
            )
            for run_id, step, status, attempts, outputs, first_attempt in step_rows:
                steps[run_id][step] = StepState(status, attempts, outputs, first_attempt)
            recorded: dict[str, set[tuple[str, int]]] = defaultdict(set)
            attempt_rows = models.Attempt.objects.using(using).filter(step_run__run_id__in=ids)
            for run_id, step, number in attempt_rows.values_list(
                "step_run__run_id", "step_run__step", "attempt"
            ):
                recorded[run_id].add((step, number))
            timer_rows = (
                models.Timer.objects.using(using)
                .filter(run_id__in=ids)
                .values_list("run_id", "kind", "due_at", "step", "attempt", "pk")
            )
            deadlines: dict[str, datetime] = {}
            timers: dict[str, list[Timer]] = defaultdict(list)
            for run_id, kind, due_at, step, attempt, pk in timer_rows:
                timers[run_id].append(Timer(run_id, kind, due_at, step, attempt, pk))
                if kind == "deadline":
                    deadlines[run_id] = min(due_at, deadlines.get(run_id, due_at))
            yield {
                run_id: Snapshot(
                    run_id=run_id,
                    spec=specs[spec_hash],
                    inputs=inputs,
                    state=RunState(status, steps[run_id], reason),
                    started_at=started_at,
                    recorded_attempts=frozenset(recorded[run_id]),
                    deadline_at=deadlines.get(run_id),
                    timers=tuple(timers[run_id]),
                )
                for run_id, spec_hash, inputs, status, reason, started_at in runs
            }

    def add_timers(self, timers: Sequence[Timer]) -> None:
        rows = [
            {
                "run": t.run_id,
                "kind": t.kind,
                "step": t.step,
                "attempt": t.attempt,
                "due_at": t.due_at,
            }
            for t in timers
        ]
        insert_each(self._using, models.Timer, rows)

    def delete_timers(self, ids: Sequence[int]) -> None:
        if ids:
            models.Timer.objects.using(self._using).filter(pk__in=list(ids)).delete()

    @_store_errors
    def due_timers(self, now: datetime, *, limit: int = 100) -> list[Timer]:
        due = models.Timer.objects.using(self._using).filter(due_at__lte=now).order_by("due_at")
        return [
            Timer(t.run_id, t.kind, t.due_at, step=t.step, attempt=t.attempt, id=t.pk)  # type: ignore[arg-type]
            for t in due[:limit]
        ]

    def add_outbox(self, messages: Sequence[OutboxMessage]) -> list[OutboxMessage]:
        rows = [
            {"queue": m.queue, "body": dict(m.body), "created_at": m.created_at} for m in messages
        ]
        ids = insert_each_returning_ids(self._using, models.OutboxMessage, rows)
        return [replace(m, id=id_) for m, id_ in zip(messages, ids, strict=True)]

    @_store_errors
    def republish_stranded(
        self,
        older_than: datetime,
        publish: Callable[[Sequence[OutboxMessage]], None],
        *,
        limit: int = 100,
    ) -> int:
        with transaction.atomic(using=self._using):
            rows = list(
                models.OutboxMessage.objects.using(self._using)
                .select_for_update(skip_locked=True)
                .filter(created_at__lte=older_than)
                .order_by("pk")[:limit]
            )
            if rows:
                publish([OutboxMessage(r.queue, r.body, r.created_at, r.pk) for r in rows])
                self.delete_outbox([r.pk for r in rows])
        return len(rows)

    @_store_errors
    def delete_outbox(self, ids: Sequence[int]) -> None:
        models.OutboxMessage.objects.using(self._using).filter(pk__in=ids).delete()

    @_store_errors
    def unstarted_runs(self, older_than: datetime, *, limit: int = 100) -> list[str]:
        pending = models.Run.objects.using(self._using).filter(
            status="pending", created_at__lte=older_than
        )
        return list(pending.order_by("created_at").values_list("run_id", flat=True)[:limit])

    @_store_errors
    def record_instance(self, instance: Instance) -> None:
        models.Instance.objects.using(self._using).update_or_create(
            module=instance.module,
            version=instance.version,
            worker=instance.worker,
            defaults={
                "commit": instance.commit,
                "interface": dict(instance.interface),
                "seen_at": instance.seen_at,
            },
        )
        self._register(instance)

    def _register(self, instance: Instance) -> None:
        """A worker's announcement registers its module version when the registry lacks it,
        and keeps ``latest``'s interface current: the registry knows everything that runs."""
        try:
            interface = ModuleInterface.model_validate(instance.interface).model_dump(mode="json")
        except ValidationError:
            log.warning("%s announced an unreadable interface", instance.worker)
            return
        versions = models.ModuleVersion.objects.using(self._using)
        module, _ = models.Module.objects.using(self._using).get_or_create(name=instance.module)
        row = versions.filter(module=module, version=instance.version).first()
        target = f"{instance.module}@{instance.version}"
        if row is None:
            versions.create(
                module=module,
                version=instance.version,
                interface=interface,
                commit=instance.commit,
            )
            audit.record(None, "module.announce", target, using=self._using, worker=instance.worker)
        elif row.interface != interface or row.commit != instance.commit:
            if instance.version != "latest":
                log.warning(
                    "%s serves %s with another interface or commit than the registered one",
                    instance.worker,
                    target,
                )
                return
            row.interface, row.commit = interface, instance.commit
            row.save(update_fields=["interface", "commit"])
            audit.record(None, "module.update", target, using=self._using, commit=instance.commit)

    @_store_errors
    def retired_versions(self) -> dict[tuple[str, str], str]:
        rows = models.ModuleVersion.objects.using(self._using).filter(
            status=models.ModuleVersion.Status.RETIRED
        )
        return {
            (name, version): reason
            for name, version, reason in rows.values_list(
                "module__name", "version", "status_reason"
            )
        }

    @_store_errors
    def instances(self) -> list[Instance]:
        return [
            Instance(i.module, i.version, i.worker, i.seen_at, i.commit, i.interface)
            for i in models.Instance.objects.using(self._using).order_by("module", "version")
        ]

    @_store_errors
    def prune_instances(self, older_than: datetime) -> int:
        stale = models.Instance.objects.using(self._using).filter(seen_at__lt=older_than)
        return int(stale.delete()[0])

    @_store_errors
    def running_attempts(self) -> dict[tuple[str, str], int]:
        rows = (
            models.Attempt.objects.using(self._using)
            .filter(status="running")
            .values_list("module", "version")
            .annotate(count=Count("id"))
        )
        return {(module, version): count for module, version, count in rows}
