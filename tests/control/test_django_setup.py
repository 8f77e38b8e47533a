"""Setting Django up from RAINBOW_DATABASE_URL: once per process, with clear errors."""

from __future__ import annotations

import fcntl
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from rainbow.control.django_setup import MIGRATION_LOCK_KEY, configure
from rainbow.errors import PlatformError, UserError
from tests.conftest import schema_url

SRC = Path(__file__).parents[2] / "src"
PYTHON_ENV = {"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}
"""A fresh interpreter's environment: Rainbow's sources and no RAINBOW_* settings."""


def run_python(code: str, cwd: Path) -> str:
    """Run ``code`` in a fresh interpreter (Django configures once per process); return stdout."""
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=PYTHON_ENV,
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
        import rainbow.control, rainbow.control.django_setup, rainbow.control.persistence.batch
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
            print(error)
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


def _opener(url: str, cwd: Path, start_at: float = 0.0) -> subprocess.Popen[str]:
    """A fresh interpreter that connects to ``url`` (then prints "connected"), waits until
    ``start_at`` and opens the store (then prints whether it is migrated and its runs)."""
    code = f"""
        import sys, time
        from rainbow.control.django_setup import configure, connect, is_migrated, open_store
        configure({url!r})
        connect()
        print("connected", flush=True)
        time.sleep(max(0.0, {start_at} - time.time()))
        store = open_store({url!r})
        print(is_migrated(), store.list_runs())
        """
    return subprocess.Popen(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=PYTHON_ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(opener: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = opener.communicate(timeout=120)
    finally:
        opener.kill()
    return opener.returncode, out, err


def _waits_for_the_lock(opener: subprocess.Popen[str], tables: Callable[[], list[str]]) -> None:
    """The opener, connected, creates no table while the lock is held by someone else."""
    assert opener.stdout is not None
    assert opener.stdout.readline() == "connected\n", _finish(opener)
    time.sleep(3)  # without the lock, migrating starts within a fraction of this
    assert opener.poll() is None
    assert tables() == []


@pytest.mark.slow
def test_opening_a_fresh_sqlite_database_waits_while_another_process_migrates(
    tmp_path: Path,
) -> None:
    """Migrating takes the lock file beside the SQLite file; an opener waits until it is free."""
    database = tmp_path / "rainbow.sqlite3"

    def tables() -> list[str]:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as reader:
            return [row[0] for row in reader.execute("SELECT name FROM sqlite_master")]

    with (tmp_path / "rainbow.sqlite3.migrate-lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        opener = _opener(f"sqlite:///{database}", tmp_path)
        _waits_for_the_lock(opener, tables)

    assert _finish(opener) == (0, "True []\n", "")


@pytest.mark.slow
def test_opening_a_fresh_postgresql_schema_waits_while_another_process_migrates(
    tmp_path: Path, postgres_database: str, empty_postgres_schema: str
) -> None:
    """On PostgreSQL the lock is an advisory lock keyed by the schema: an opener waits for it."""
    from django.db import connections

    key = (MIGRATION_LOCK_KEY, empty_postgres_schema)
    with connections[postgres_database].cursor() as cursor:

        def tables() -> list[str]:
            cursor.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", [empty_postgres_schema]
            )
            return [row[0] for row in cursor.fetchall()]

        cursor.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", key)
        try:
            opener = _opener(schema_url(empty_postgres_schema), tmp_path)
            _waits_for_the_lock(opener, tables)
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)

    assert _finish(opener) == (0, "True []\n", "")


@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_sqlite_database_all_open_it(
    tmp_path: Path,
) -> None:
    """Six processes opening one new SQLite file at the same moment all open it, migrated."""
    url = f"sqlite:///{tmp_path / 'rainbow.sqlite3'}"
    start_at = time.time() + 4
    openers = [_opener(url, tmp_path, start_at) for _ in range(6)]

    assert [_finish(o) for o in openers] == [(0, "connected\nTrue []\n", "")] * 6
