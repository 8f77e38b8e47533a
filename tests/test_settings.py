"""Settings from the environment: typed, with a clear error for each bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from rainbow import settings
from rainbow.errors import UserError


def test_defaults_need_no_environment(tmp_path: Path) -> None:
    read = settings.from_env({}, cwd=tmp_path)
    assert read.database_url == f"sqlite:///{tmp_path / '.rainbow' / 'rainbow.sqlite3'}"
    assert (read.engine, read.required_approvals, read.debug) == ("local", 2, False)
    assert read.allowed_hosts == ("localhost", "127.0.0.1", "[::1]")


def test_control_plane_settings_are_read(tmp_path: Path) -> None:
    read = settings.from_env(
        {
            "RAINBOW_ENGINE": "celery",
            "RAINBOW_REQUIRED_APPROVALS": "3",
            "RAINBOW_DEBUG": "1",
            "RAINBOW_ALLOWED_HOSTS": "rainbow.example, localhost",
            "RAINBOW_MODULES": "a.b, c.py",
        },
        cwd=tmp_path,
    )
    assert (read.engine, read.required_approvals, read.debug) == ("celery", 3, True)
    assert read.allowed_hosts == ("rainbow.example", "localhost")
    assert read.modules == ("a.b", "c.py")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RAINBOW_REQUIRED_APPROVALS", "0", "would switch the approval gate off"),
        ("RAINBOW_REQUIRED_APPROVALS", "two", "is not a whole number"),
        ("RAINBOW_DEBUG", "maybe", "is not a yes/no value"),
        ("RAINBOW_ENGINE", "spark", "is not one of local, celery"),
        ("RAINBOW_RETRY_BASE_DELAY", "soon", "is not a number"),
        ("RAINBOW_MAX_OUTPUT_BYTES", "0", "is not a positive number of bytes"),
        ("RAINBOW_MAX_OUTPUT_BYTES", "1MB", "is not a whole number"),
        ("RAINBOW_LOCAL_LEASE", "0.5", "would close runs as abandoned while they run"),
        ("RAINBOW_MAX_REQUEST_BYTES", "1000", "is not above RAINBOW_MAX_SPEC_BYTES"),
        ("RAINBOW_INPUT_ROOTS", "/srv/units,local:///srv", "is a URL"),
    ],
)
def test_a_bad_value_names_the_variable(tmp_path: Path, name: str, value: str, says: str) -> None:
    with pytest.raises(UserError) as refused:
        settings.from_env({name: value}, cwd=tmp_path)
    assert name in refused.value.message and says in refused.value.message


def test_the_output_limit_defaults_to_a_mebibyte_and_can_be_set(tmp_path: Path) -> None:
    """RAINBOW_MAX_OUTPUT_BYTES caps a module's JSON outputs: 1 MiB unless it says otherwise."""
    assert settings.from_env({}, cwd=tmp_path).max_output_bytes == 1024 * 1024
    read = settings.from_env({"RAINBOW_MAX_OUTPUT_BYTES": "5000"}, cwd=tmp_path)
    assert read.max_output_bytes == 5000
