"""Work units sent to the control plane, checked against the pipeline before anything runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from rainbow.control.services.containment import InputPolicy
from rainbow.control.services.refusals import Forbidden, Invalid
from rainbow.diagnostics import Diagnostic, Location
from rainbow.engine.workunits import WorkUnit, bind_inputs
from rainbow.errors import DiagnosticError
from rainbow.spec.asset import ASSET_KEY, is_asset_json, is_local_url
from rainbow.spec.models import LiteralRef, PipelineSpec

_SQLITE = "django.db.backends.sqlite3"


def bind_units(
    spec: PipelineSpec,
    units: Sequence[Mapping[str, Any]],
    *,
    name: str,
    names: Sequence[str] | None = None,
    what: str = "work unit",
) -> list[WorkUnit]:
    """Units named by ``names`` or ``<name>-<index>``, asset inputs made references; Invalid if
    one misfits, Forbidden if one reads what the control plane may not (``containment``)."""
    policy = input_policy()
    _require_literals_readable(policy, spec)
    bound = []
    for index, unit in enumerate(units):
        subject = f"{what} {names[index]!r} (units[{index}])" if names else f"{what} {index}"
        # Checked before bind_inputs looks for the files, so no answer tells whether one exists.
        submitted = [
            (key, _anchored(raw), raw)
            for key, port in spec.inputs.items()
            if port.type == "asset" and isinstance(raw := _get(unit, key), str)
        ]
        _require_unit_readable(policy, subject, index, submitted)
        try:
            # Asset inputs are paths or URLs the engine can read; relative ones mean nothing here.
            inputs = bind_inputs(unit, spec, base=Path("/"), file=f"units[{index}]")
        except DiagnosticError as exc:
            raise Invalid(
                f"{what} {index} does not fit pipeline {spec.name}",
                hint="asset inputs are absolute paths or URLs the workers can read",
                diagnostics=exc.diagnostics,
            ) from None
        assets = [
            (key, v[ASSET_KEY], v[ASSET_KEY]) for key, v in inputs.items() if is_asset_json(v)
        ]
        _require_unit_readable(policy, subject, index, assets)
        bound.append(WorkUnit(names[index] if names else f"{name}-{index}", inputs))
    return bound


def input_policy() -> InputPolicy:
    """What the control plane's settings let a run read."""
    return InputPolicy.build(
        roots=settings.RAINBOW_INPUT_ROOTS,
        protocols=settings.RAINBOW_INPUT_PROTOCOLS,
        home=settings.RAINBOW_HOME,
        stores=[db["NAME"] for db in settings.DATABASES.values() if db["ENGINE"] == _SQLITE],
        assets_url=settings.RAINBOW_ASSETS_URL,
    )


def _get(unit: Any, key: str) -> Any:
    return unit.get(key) if isinstance(unit, Mapping) else None


def _require_unit_readable(
    policy: InputPolicy, subject: str, index: int, assets: Sequence[tuple[str, Any, Any]]
) -> None:
    """Each (input, location checked, location as the user gave it) of one unit."""
    for key, location, shown in assets:
        where = f"units[{index}].{key}"
        _require_readable(policy, location, f"{subject} input {key!r} reads {shown}", where)


def _anchored(location: str) -> str:
    """A local path as ``bind_inputs`` will make it, anchored at ``/``; a URL as it is."""
    if not is_local_url(location):
        return location
    return str(Path("/", location.removeprefix("file://")))


def _require_literals_readable(policy: InputPolicy, spec: PipelineSpec) -> None:
    """A spec's own asset values are read like a unit's: a literal or a default naming a server
    file would hand it to the module just the same."""
    for key, port in spec.inputs.items():
        if is_asset_json(port.default):
            location = port.default[ASSET_KEY]
            subject = f"pipeline {spec.name} input {key!r} (its default) reads {location}"
            _require_readable(policy, location, subject, f"$.inputs.{key}.default")
    for number, step in enumerate(spec.steps):
        for key, ref in step.inputs.items():
            if isinstance(ref, LiteralRef) and is_asset_json(ref.value):
                location = ref.value[ASSET_KEY]
                subject = (
                    f"pipeline {spec.name} step {step.id!r} input {key!r} (a literal) reads "
                    f"{location}"
                )
                _require_readable(policy, location, subject, f"$.steps[{number}].inputs.{key}")


def _require_readable(policy: InputPolicy, location: Any, subject: str, where: str) -> None:
    """``subject`` says who reads what ("work unit 0 input 'photo' reads …")."""
    if not isinstance(location, str):
        raise Invalid(
            f"{subject}: an asset's location is a path or URL string",
            hint='an asset is {"$asset": "<path or URL>"}',
        )
    refusal = policy.refusal(location)
    if refusal is None:
        return
    message = f"{subject}: {refusal.reason}"
    raise Forbidden(
        message,
        hint=refusal.hint,
        diagnostics=[Diagnostic("RB-E046", message, Location(json_path=where), refusal.hint)],
    )
