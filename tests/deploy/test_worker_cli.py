"""`rainbow worker` says what is wrong before it serves anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import FIXTURES, rainbow

pytestmark = pytest.mark.slow


def test_a_pin_is_name_at_version(tmp_path: Path) -> None:
    done = rainbow(tmp_path, "worker", "greet@", expect=2)
    assert "'greet@' is not NAME@VERSION" in done.stderr


def test_a_pin_and_another_version_disagree(tmp_path: Path) -> None:
    done = rainbow(tmp_path, "worker", "greet@1.0", "--version", "2.0", expect=2)
    assert "greet@1.0 is version 1.0, but --version says 2.0" in done.stderr


def test_local_code_needs_a_version(tmp_path: Path) -> None:
    done = rainbow(tmp_path, "worker", f"{FIXTURES}:add", expect=2)
    assert "serving local code needs --version" in done.stderr


def test_a_version_not_released_is_refused_with_what_to_do(tmp_path: Path) -> None:
    done = rainbow(tmp_path, "worker", "greet@1.0", expect=2)
    assert "error RB-E080: greet@1.0 is not released" in done.stderr
    assert "rainbow release" in done.stderr and "--version latest" in done.stderr
