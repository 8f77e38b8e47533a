"""Canonical JSON and content hashes: the same spec always serialises to the same bytes."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rainbow.spec.models import PipelineSpec


def spec_to_dict(spec: PipelineSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_defaults=False)


def compute_hash(data: dict[str, Any]) -> str:
    """sha256 of the compact canonical JSON of a spec dict, ignoring its own ``spec_hash``."""
    body = {k: v for k, v in data.items() if k != "spec_hash"}
    compact = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(compact.encode()).hexdigest()


def with_hash(spec: PipelineSpec) -> PipelineSpec:
    return spec.model_copy(update={"spec_hash": compute_hash(spec_to_dict(spec))})


def dumps(spec: PipelineSpec) -> str:
    """The canonical text form written by ``rainbow compile``: sorted keys, 2-space indent."""
    return dumps_data(spec_to_dict(spec))


def dumps_data(data: dict[str, Any]) -> str:
    """The canonical text of a spec already in its dict form (as the registry stores it)."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
