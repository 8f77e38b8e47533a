"""The CLI reads its settings once, as it starts: one error for a bad value, before any work,
and the same values for the whole command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.webserver import PASSWORD, run_rainbow

pytestmark = pytest.mark.slow

MODULE = """
from pathlib import Path
from typing import TypedDict

import rainbow as rb

{at_import}


class Out(TypedDict):
    y: int


@rb.module(name="shifty")
def shifty(ctx: rb.Context, x: int = 0) -> Out:
    return {{"y": x}}
"""


def rainbow(
    cwd: Path, *args: str, expect: int = 0, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RAINBOW_HOME": str(cwd / ".rainbow")}
    for name in ("RAINBOW_DATABASE_URL", "RAINBOW_URL", "RAINBOW_TOKEN"):
        environment.pop(name, None)
    environment |= env
    return run_rainbow(environment, *args, expect=expect, stdin=stdin, cwd=cwd)


def test_a_bad_setting_is_one_error_before_the_command_imports_anything(tmp_path: Path) -> None:
    """A bad RAINBOW_* value, even one the command never uses, is reported once with exit 2
    before any of the user's code is imported."""
    (tmp_path / "shifty.py").write_text(MODULE.format(at_import='Path("imported").touch()'))
    failed = rainbow(
        tmp_path,
        "module",
        "register",
        "shifty.py",
        "--version",
        "1.0",
        expect=2,
        RAINBOW_LOGIN_COOLOFF="soon",
    )
    assert failed.stderr.count("RAINBOW_LOGIN_COOLOFF='soon' is not a whole number") == 1
    assert not (tmp_path / "imported").exists()


def test_help_needs_no_settings(tmp_path: Path) -> None:
    """`rainbow COMMAND --help` shows the help whatever the environment holds."""
    shown = rainbow(tmp_path, "run", "--help", RAINBOW_DEBUG="maybe")
    assert "Run work units through a pipeline" in shown.stdout


def test_code_a_command_imports_cannot_change_its_settings(tmp_path: Path) -> None:
    """A module file that sets RAINBOW_URL when imported does not turn `rainbow module
    register` into a call to a control plane halfway through: the settings were read first."""
    planted = 'import os\nos.environ["RAINBOW_URL"] = "http://127.0.0.1:9"\n'
    planted += 'os.environ["RAINBOW_TOKEN"] = "rbt_planted"'
    (tmp_path / "shifty.py").write_text(MODULE.format(at_import=planted))
    rainbow(tmp_path, "createuser", "alice", "--password-stdin", stdin=f"{PASSWORD}\n")
    registered = rainbow(
        tmp_path, "module", "register", "shifty.py", "--version", "1.0", "--user", "alice"
    )
    assert "registered shifty@1.0" in registered.stdout
