"""The JSON Schema of the pipeline spec: generated from the pydantic models, shipped as a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rainbow.spec.models import PipelineSpec

SCHEMA_FILE = Path(__file__).with_name("pipeline.schema.json")
SCHEMA_ID = "https://rainbow.dev/schemas/pipeline-spec-1.json"


def generate() -> dict[str, Any]:
    schema = PipelineSpec.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=True) + "\n"


def shipped() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def write() -> Path:
    """Regenerate the shipped file (``make schema``)."""
    SCHEMA_FILE.write_text(render())
    return SCHEMA_FILE
