"""Settings from the environment: typed, grouped by who uses them, with a clear error for each
bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from rainbow import settings
from rainbow.errors import UserError


def test_defaults_need_no_environment(tmp_path: Path) -> None:
    """Without any RAINBOW_* variable every group has its documented default."""
    read = settings.from_env({}, cwd=tmp_path)
    home = tmp_path / ".rainbow"
    assert read.store == settings.StoreSettings(home, f"sqlite:///{home / 'rainbow.sqlite3'}")
    assert read.store.logs_dir == home / "logs"
    assert read.broker.url == "amqp://guest:guest@127.0.0.1:5672//"
    assert read.execution.assets_url == str(home / "assets")
    assert (read.web.engine, read.web.required_approvals, read.web.debug) == ("local", 2, False)
    assert read.web.allowed_hosts == ("localhost", "127.0.0.1", "[::1]")
    assert read.web.input_roots == (str(home), str(home / "assets"))
    assert read.spec == settings.SpecSettings(max_steps=2_000, max_bytes=2 * 1024 * 1024)
    assert read.client == settings.ClientSettings(url=None, token=None)


def test_each_variable_lands_in_its_group(tmp_path: Path) -> None:
    """Each RAINBOW_* variable is read into the group of the part of Rainbow that uses it."""
    read = settings.from_env(
        {
            "RAINBOW_HOME": str(tmp_path / "home"),
            "RAINBOW_DATABASE_URL": "postgresql://root@127.0.0.1/test",
            "RAINBOW_BROKER_URL": "amqp://rabbit//",
            "RAINBOW_ASSETS_URL": "s3://bucket/assets",
            "RAINBOW_RETRY_BASE_DELAY": "0.5",
            "RAINBOW_LOCAL_LEASE": "5",
            "RAINBOW_MAX_SPEC_STEPS": "10",
            "RAINBOW_URL": "https://rainbow.example",
            "RAINBOW_TOKEN": "rb_secret",
        },
        cwd=tmp_path,
    )
    assert read.store.home == tmp_path / "home"
    assert read.store.database_url == "postgresql://root@127.0.0.1/test"
    assert read.broker.url == "amqp://rabbit//"
    assert read.execution == settings.ExecutionSettings(
        assets_url="s3://bucket/assets", retry_base_delay=0.5, local_lease_s=5.0
    )
    assert read.spec.max_steps == 10
    assert read.client == settings.ClientSettings("https://rainbow.example", "rb_secret")


def test_control_plane_settings_are_read(tmp_path: Path) -> None:
    """The control plane's variables are read into the web group."""
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
    assert (read.web.engine, read.web.required_approvals, read.web.debug) == ("celery", 3, True)
    assert read.web.allowed_hosts == ("rainbow.example", "localhost")
    assert read.web.modules == ("a.b", "c.py")


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
    """A value that does not parse is a UserError naming the variable and what is wrong."""
    with pytest.raises(UserError) as refused:
        settings.from_env({name: value}, cwd=tmp_path)
    assert name in refused.value.message and says in refused.value.message


def test_the_output_limit_defaults_to_a_mebibyte_and_can_be_set(tmp_path: Path) -> None:
    """RAINBOW_MAX_OUTPUT_BYTES caps a module's JSON outputs: 1 MiB unless it says otherwise."""
    assert settings.from_env({}, cwd=tmp_path).execution.max_output_bytes == 1024 * 1024
    read = settings.from_env({"RAINBOW_MAX_OUTPUT_BYTES": "5000"}, cwd=tmp_path)
    assert read.execution.max_output_bytes == 5000
