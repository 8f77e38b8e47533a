"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.webserver import plane, postgres_plane  # noqa: F401  (fixtures for every package)

# What module projects get with `-p rainbow.testing.plugin` (their template's pytest options).
pytest_plugins = ["rainbow.testing.plugin"]

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_URL = f"postgresql://root@{POSTGRES_HOST}:{POSTGRES_PORT}/test"


def service_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _require_service(name: str, host: str, port: int) -> None:
    if not service_reachable(host, port):
        _service_missing(f"{name} is not reachable at {host}:{port}")


def _service_missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and under CI=true a missing service is a failure", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def require_service() -> Callable[[str, str, int], None]:
    """``require_service("RabbitMQ", "127.0.0.1", 5672)`` skips the test if the service is down.

    Under ``CI=true`` a missing service fails the test instead (DESIGN.md, Conventions).
    """
    return _require_service


# Django ---------------------------------------------------------------------------------------

TEST_SECRET_KEY = "test-only-" + uuid.uuid4().hex


@pytest.fixture(scope="session")
def django_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[frozenset[str]]:
    """Configure Django once for the session, with every database the tests can reach.

    Django can be configured only once per process, so rather than a subprocess per database (which
    would report failures through a second pytest run), one configuration holds each database as
    an alias: ``default`` is a SQLite file in a temporary folder, and ``postgres`` (when
    PostgreSQL answers) a schema of its own in the ``test`` database, dropped at the end, so
    concurrent test sessions never see each other's rows. Both are migrated. Tests reach them
    through the ``sqlite_database`` and ``postgres_database`` fixtures, which empty them after each
    test. Yields the aliases configured.
    """
    from django.db import connections

    from rainbow.control.django_setup import WebOptions, configure, ensure_migrated

    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('django') / 'rainbow.sqlite3'}"
    schema = f"rainbow_test_{uuid.uuid4().hex[:12]}"
    extra = {}
    if service_reachable(POSTGRES_HOST, POSTGRES_PORT):
        extra["postgres"] = schema_url(schema)
    web = WebOptions(
        secret_key=TEST_SECRET_KEY,
        allowed_hosts=("testserver", "localhost", "127.0.0.1"),
        logs_url="https://grafana.example/explore?run={run_id}",
        required_approvals=2,
        input_roots=(str(tmp_path_factory.getbasetemp()),),
    )
    configure(sqlite_url, extra_databases=extra, web=web)
    from django.test import override_settings

    # Real password hashing costs a quarter second per user: tests need no protection.
    override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]).enable()
    if extra:
        with connections["postgres"].cursor() as cursor:
            cursor.execute(f"CREATE SCHEMA {schema}")
    for alias in ("default", *extra):
        ensure_migrated(alias)
    yield frozenset(("default", *extra))
    if extra:
        with connections["postgres"].cursor() as cursor:
            cursor.execute(f"DROP SCHEMA {schema} CASCADE")
    connections.close_all()


def schema_url(schema: str) -> str:
    """The URL of ``schema`` in the test PostgreSQL database."""
    return f"{POSTGRES_URL}?options=-c%20search_path%3D{schema}"


@pytest.fixture
def empty_postgres_schema(postgres_database: str) -> Iterator[str]:
    """A new schema with no tables, dropped after the test: for a database never migrated."""
    from django.db import connections

    schema = f"rainbow_empty_{uuid.uuid4().hex[:12]}"
    with connections[postgres_database].cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
    yield schema
    with connections[postgres_database].cursor() as cursor:
        cursor.execute(f"DROP SCHEMA {schema} CASCADE")


def _emptied_after_test(alias: str) -> Iterator[str]:
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connections, transaction

    yield alias
    connection = connections[alias]
    # Every table but the ones migrations fill (content types, permissions, the role groups).
    kept = {"django_migrations", "django_content_type", "auth_permission", "auth_group"}
    kept.add("auth_group_permissions")
    tables = [
        model._meta.db_table
        for config in apps.get_app_configs()
        for model in config.get_models(include_auto_created=True)
        if model._meta.db_table not in kept
    ]
    statements = connection.ops.sql_flush(no_style(), tables, allow_cascade=True)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.fixture
def sqlite_database(django_databases: frozenset[str]) -> Iterator[str]:
    """The Django alias of the session's SQLite database, emptied after the test."""
    yield from _emptied_after_test("default")


@pytest.fixture
def postgres_database(django_databases: frozenset[str]) -> Iterator[str]:
    """The Django alias of the session's PostgreSQL schema, emptied after the test.

    Skips the test when PostgreSQL was down as the session started, or fails it under ``CI=true``.
    """
    if "postgres" not in django_databases:
        _service_missing(f"PostgreSQL was not reachable at {POSTGRES_HOST}:{POSTGRES_PORT}")
    yield from _emptied_after_test("postgres")
