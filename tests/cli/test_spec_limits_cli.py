"""`rainbow compile` and `rainbow validate` refuse what the control plane would, as user errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.webserver import run_rainbow

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent.parent / "engine" / "modules_for_tests.py"


def rainbow(cwd: Path, *args: str, expect: int, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RAINBOW_HOME": str(cwd / ".rainbow"), **env}
    environment.pop("RAINBOW_DATABASE_URL", None)
    return run_rainbow(environment, *args, expect=expect, cwd=cwd)


def test_compile_and_validate_apply_the_spec_limits(tmp_path: Path) -> None:
    """Over RAINBOW_MAX_SPEC_STEPS, compiling names the pipeline's file and validating the
    spec's path, both RB-E005 with exit 2."""
    spec = tmp_path / "spec.json"
    rainbow(tmp_path, "compile", f"{FIXTURES}:diamond", "-o", str(spec), expect=0)
    compiled = rainbow(
        tmp_path, "compile", f"{FIXTURES}:diamond", expect=2, RAINBOW_MAX_SPEC_STEPS="5"
    )
    assert "RB-E005" in compiled.stderr and "6 steps; at most 5" in compiled.stderr
    assert "modules_for_tests.py" in compiled.stderr
    validated = rainbow(tmp_path, "validate", str(spec), expect=2, RAINBOW_MAX_SPEC_BYTES="100")
    assert "RB-E005" in validated.stderr and "at most 100 are allowed" in validated.stderr


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"[" * 100_000 + b"]" * 100_000, "RB-E006"), (b'{"name": "\xff"}', "RB-E001")],
    ids=["nested", "not-utf8"],
)
def test_validate_reports_a_file_no_parser_reads(tmp_path: Path, content: bytes, code: str) -> None:
    """A spec file nested 100,000 deep or not UTF-8 is a diagnostic (exit 2), not a crash."""
    spec = tmp_path / "spec.json"
    spec.write_bytes(content)
    assert code in rainbow(tmp_path, "validate", str(spec), expect=2).stderr
