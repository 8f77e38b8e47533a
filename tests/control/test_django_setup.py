"""Setting Django up from RAINBOW_DATABASE_URL: once per process, with clear errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from rainbow.control.django_setup import configure
from rainbow.errors import PlatformError, UserError
from tests.conftest import POSTGRES_URL

SRC = Path(__file__).parents[2] / "src"


def run_python(code: str, cwd: Path) -> str:
    """Run ``code`` in a fresh interpreter (Django configures once per process); return stdout."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "url",
    [
        "mysql://me@db.example.com/rainbow",
        "redis://127.0.0.1:6379/0",
        "rainbow.sqlite3",
        "",
        "postgresql://root@127.0.0.1:99999/test",
    ],
)
def test_a_url_that_is_not_sqlite_or_postgresql_is_a_user_error(url: str) -> None:
    """A URL Rainbow cannot store runs in raises UserError naming the variable, with a hint."""
    with pytest.raises(UserError) as caught:
        configure(url)

    assert "RAINBOW_DATABASE_URL" in caught.value.message
    assert caught.value.hint is not None
    assert "sqlite:///" in caught.value.hint


def test_messages_never_show_the_database_password() -> None:
    """The password in a database URL is masked in error messages."""
    with pytest.raises(UserError) as caught:
        configure("mysql://me:s3cret@db.example.com/rainbow")

    assert "s3cret" not in str(caught.value)
    assert "me:***@db.example.com" in str(caught.value)


def test_configuring_again_with_the_same_urls_does_nothing(django_databases: object) -> None:
    """A second configure() with the URLs Django already uses is a no-op."""
    from django.conf import settings

    default, *_ = urls = dict(settings.RAINBOW_DATABASE_URLS)
    configure(urls.pop(default), extra_databases=urls)


def test_configuring_again_with_another_url_is_a_platform_error(django_databases: object) -> None:
    """A running process cannot switch databases: configure() with another URL says so."""
    with pytest.raises(PlatformError, match="cannot switch to default=sqlite:///elsewhere"):
        configure("sqlite:///elsewhere.sqlite3")


def test_the_sqlite_database_runs_in_wal_mode(sqlite_database: str) -> None:
    """SQLite databases use write-ahead logging so readers do not block the engine's writes."""
    from django.db import connections

    with connections[sqlite_database].cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone() == ("wal",)


def test_the_models_match_the_migrations(django_databases: object) -> None:
    """Every model change has its migration: makemigrations --check finds nothing to do."""
    from django.core.management import call_command

    call_command("makemigrations", "rainbow", check=True, dry_run=True, verbosity=0)


@pytest.mark.slow
def test_importing_the_control_package_does_not_import_django(tmp_path: Path) -> None:
    """Importing rainbow.control and its setup module leaves Django unimported."""
    output = run_python(
        """
        import sys
        import rainbow.control, rainbow.control.django_setup, rainbow.control.batch
        print("django" in sys.modules)
        """,
        tmp_path,
    )

    assert output == "False\n"


@pytest.mark.slow
def test_open_store_creates_and_migrates_a_fresh_sqlite_database(tmp_path: Path) -> None:
    """open_store() on a new SQLite path makes its folder, migrates it and returns a store."""
    database = tmp_path / "deep" / "folder" / "rainbow.sqlite3"
    output = run_python(
        f"""
        from rainbow.control.django_setup import is_migrated, open_store
        store = open_store("sqlite:///{database}")
        print(is_migrated(), store.list_runs())
        """,
        tmp_path,
    )

    assert output == "True []\n"
    assert database.exists()


@pytest.mark.slow
def test_an_unreachable_postgresql_is_a_user_error_naming_the_variable(tmp_path: Path) -> None:
    """Opening a store on a PostgreSQL nobody listens on raises UserError, not a traceback."""
    output = run_python(
        """
        from rainbow.control.django_setup import open_store
        from rainbow.errors import UserError
        try:
            open_store("postgresql://root:s3cret@127.0.0.1:1/test")
        except UserError as error:
            print(error.message)
            print(error.hint)
        """,
        tmp_path,
    )

    message, hint, _ = output.split("\n")
    assert message.startswith(
        "RB-E051: RAINBOW_DATABASE_URL='postgresql://root:***@127.0.0.1:1/test'"
    )
    assert "cannot connect" in message
    assert "s3cret" not in output
    assert "PostgreSQL runs there" in hint


def _open_at_once(url: str, processes: int, cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    """Start ``processes`` interpreters that all open a store on ``url`` at the same moment."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from rainbow.control.django_setup import is_migrated, open_store
        time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
        store = open_store({url!r})
        print(is_migrated(), store.list_runs())
        """
    )
    start = f"{time.time() + 3:.3f}"
    env = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", code, start],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    return [
        subprocess.CompletedProcess(o.args, o.wait(timeout=120), *o.communicate()) for o in openers
    ]


@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_sqlite_database_all_open_it(
    tmp_path: Path,
) -> None:
    """Several processes migrating one new SQLite file take turns: none sees a half-made schema."""
    opened = _open_at_once(f"sqlite:///{tmp_path / 'rainbow.sqlite3'}", 6, tmp_path)

    assert [(o.returncode, o.stdout, o.stderr) for o in opened] == [(0, "True []\n", "")] * 6


@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_postgresql_schema_all_open_it(
    tmp_path: Path, require_service: Callable[[str, str, int], None]
) -> None:
    """Several processes migrating one new PostgreSQL schema take turns, like on SQLite."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    schema = f"rainbow_race_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(POSTGRES_URL, autocommit=True)
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        opened = _open_at_once(f"{POSTGRES_URL}?options=-c%20search_path%3D{schema}", 6, tmp_path)
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()

    assert [(o.returncode, o.stdout, o.stderr) for o in opened] == [(0, "True []\n", "")] * 6
