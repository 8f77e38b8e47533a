"""Turning work units into new runs: the records every engine writes before anything runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from rainbow.engine.records import RunCreated
from rainbow.engine.workunits import WorkUnit
from rainbow.spec.canonical import spec_to_dict
from rainbow.spec.models import PipelineSpec


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


def with_defaults(spec: PipelineSpec, unit: WorkUnit) -> WorkUnit:
    """The unit with the pipeline's defaults filled in for inputs it does not give."""
    defaults = {n: p.default for n, p in spec.inputs.items() if not p.required}
    return WorkUnit(unit.name, {**defaults, **unit.inputs})


def new_runs(
    spec: PipelineSpec,
    units: Sequence[WorkUnit],
    *,
    engine: str,
    owner: str = "",
    lease_until: datetime | None = None,
    environment: str = "",
    submitted_by: str = "",
) -> list[RunCreated]:
    """One pending run per unit; creation times a microsecond apart keep the units' order."""
    created = datetime.now(UTC)
    spec_json = spec_to_dict(spec)
    step_ids = [s.id for s in spec.steps]
    return [
        RunCreated(
            run_id=new_run_id(),
            pipeline=spec.name,
            spec_hash=spec.spec_hash,
            spec=spec_json,
            inputs=with_defaults(spec, unit).inputs,
            unit=unit.name,
            engine=engine,
            created_at=created + timedelta(microseconds=index),
            step_ids=step_ids,
            owner=owner,
            lease_until=lease_until,
            environment=environment,
            submitted_by=submitted_by,
        )
        for index, unit in enumerate(units)
    ]
