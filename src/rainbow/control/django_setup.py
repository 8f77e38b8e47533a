"""Set Django up for the control plane from a database URL: once per process, never at import.

Django's settings are process-global and can be configured only once, so :func:`configure` is
idempotent for the same URLs and refuses different ones. Django itself is imported inside the
functions: importing this module stays cheap for CLI commands that never touch the database.

A typical caller (the CLI, an executor) needs one line::

    store = open_store(settings.store.database_url)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rainbow.errors import PlatformError, UserError
from rainbow.private import private_file, private_folder, tighten
from rainbow.settings import (
    DEFAULT_INPUT_PROTOCOLS,
    DEFAULT_LOGIN_COOLOFF_S,
    DEFAULT_LOGIN_FAILURE_LIMIT,
    DEFAULT_MAIN_BRANCH,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_SPEC_BYTES,
    DEFAULT_MAX_SPEC_STEPS,
    DEFAULT_REQUIRED_APPROVALS,
    redact,
)

if TYPE_CHECKING:
    from rainbow.control.persistence.ledger import DjangoLedger
    from rainbow.control.persistence.store import DjangoStore

URL_VARIABLE = "RAINBOW_DATABASE_URL"
# The same apps in every process, so that every process migrates (and sees) the same tables; the
# web parts cost nothing until a request comes.
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # The API docs page then uses the Swagger UI files shipped with django-ninja, not a CDN.
    "ninja",
    # The admin's login throttle counts failures in the database, shared by every web process.
    "axes",
    "rainbow.control.apps.RainbowControlConfig",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "rainbow.control.web.middleware.NoStoreForApi",
    "rainbow.control.web.middleware.LimitApiBodies",
    "rainbow.control.web.middleware.RefuseNulCharacters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout found during a login into the answer.
    "axes.middleware.AxesMiddleware",
]
# Every page (the admin, its charts, the API docs with django-ninja's bundled Swagger UI) loads
# its scripts and styles from this server, none inline; Swagger UI draws icons from data: URLs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
HSTS_SECONDS = 365 * 24 * 3600
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]


@dataclass(frozen=True)
class WebOptions:
    """What only the control plane's web server needs (the engine never signs or serves)."""

    secret_key: str
    debug: bool = False
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
    trusted_origins: tuple[str, ...] = ()
    """Origins of a TLS-terminating proxy in front; HTTPS ones make the cookies secure."""
    static_root: Path | None = None
    logs_url: str | None = None
    required_approvals: int = DEFAULT_REQUIRED_APPROVALS
    input_roots: tuple[str, ...] = ()
    """Folders a path submitted as an asset input may point into (see ``containment``)."""
    input_protocols: tuple[str, ...] = DEFAULT_INPUT_PROTOCOLS
    """The fsspec protocols a URL submitted as an asset input may read through."""
    home: Path | None = None
    """``RAINBOW_HOME``, whose own files are never inputs."""
    assets_url: str | None = None
    """The asset store: what runs wrote there is always a fit input."""
    login_failure_limit: int = DEFAULT_LOGIN_FAILURE_LIMIT
    """Wrong passwords for one username from one address before that pair is locked out."""
    login_cooloff_s: int = DEFAULT_LOGIN_COOLOFF_S
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_spec_steps: int = DEFAULT_MAX_SPEC_STEPS
    max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES
    main_branch: str = DEFAULT_MAIN_BRANCH
    """The branch whose evaluations may record baselines."""


_URL_HINT = (
    f"set {URL_VARIABLE} to sqlite:///PATH/TO/rainbow.sqlite3 or "
    "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (with %XX for special characters)"
)
_SQLITE = "django.db.backends.sqlite3"
_POSTGRESQL = "django.db.backends.postgresql"
_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    # WAL lets readers (``rainbow runs``) work while an engine writes; IMMEDIATE takes the write
    # lock when a transaction begins, so concurrent writers wait out the busy timeout instead of
    # failing with "database is locked" halfway through a batch.
    _SQLITE: {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    },
    # Without a timeout, connecting to a firewalled host hangs instead of failing.
    _POSTGRESQL: {"connect_timeout": 10, "server_side_binding": True},
}


def configure(
    database_url: str,
    *,
    extra_databases: Mapping[str, str] | None = None,
    web: WebOptions | None = None,
) -> None:
    """Configure Django with ``database_url`` as its ``default`` database and set it up.

    ``extra_databases`` adds more aliases (alias -> URL), e.g. for tests that run the store on
    SQLite and PostgreSQL in one process. Calling this again with the same URLs does nothing;
    with other URLs it raises PlatformError, since a running process cannot switch databases.
    """
    urls = {"default": database_url, **(extra_databases or {})}
    databases = {alias: database_settings(url) for alias, url in urls.items()}

    import django
    from django.conf import settings

    if settings.configured:
        configured_urls = getattr(settings, "RAINBOW_DATABASE_URLS", None)
        if configured_urls == urls:
            return
        raise PlatformError(
            f"Django is already configured for {_describe(configured_urls)} in this process, "
            f"and cannot switch to {_describe(urls)}"
        )
    for url, database in zip(urls.values(), databases.values(), strict=True):
        _create_sqlite_file(url, database)
    settings.configure(
        INSTALLED_APPS=INSTALLED_APPS,
        DATABASES=databases,
        USE_TZ=True,
        TIME_ZONE="UTC",
        # Rainbow's observe layer owns logging; Django must not reconfigure it.
        LOGGING_CONFIG=None,
        RAINBOW_DATABASE_URLS=urls,
        **_web_settings(web),
    )
    django.setup()


def _web_settings(web: WebOptions | None) -> dict[str, Any]:
    common: dict[str, Any] = {
        "MIDDLEWARE": MIDDLEWARE,
        "ROOT_URLCONF": "rainbow.control.web.urls",
        "TEMPLATES": TEMPLATES,
        "AUTH_PASSWORD_VALIDATORS": PASSWORD_VALIDATORS,
        "STATIC_URL": "/static/",
        "LOGIN_URL": "/admin/login/",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_SAMESITE": "Lax",
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "CONTENT_SECURITY_POLICY": CONTENT_SECURITY_POLICY,
        "NINJA_PAGINATION_MAX_LIMIT": 500,
        # Its start-up banner would land in every process's log, the conductor's too.
        "AXES_VERBOSE": False,
    }
    if web is None:
        return common
    return {
        **common,
        "SECRET_KEY": web.secret_key,
        "DEBUG": web.debug,
        "ALLOWED_HOSTS": list(web.allowed_hosts),
        **_behind_tls(web.trusted_origins),
        "STATIC_ROOT": str(web.static_root) if web.static_root else None,
        "RAINBOW_LOGS_URL": web.logs_url,
        "RAINBOW_REQUIRED_APPROVALS": web.required_approvals,
        "RAINBOW_MAIN_BRANCH": web.main_branch,
        "RAINBOW_INPUT_ROOTS": web.input_roots,
        "RAINBOW_MAX_SPEC_STEPS": web.max_spec_steps,
        "RAINBOW_MAX_SPEC_BYTES": web.max_spec_bytes,
        "RAINBOW_INPUT_PROTOCOLS": web.input_protocols,
        "RAINBOW_HOME": web.home,
        "RAINBOW_ASSETS_URL": web.assets_url,
        "DATA_UPLOAD_MAX_MEMORY_SIZE": web.max_request_bytes,
        **_login_throttle(web),
    }


def _login_throttle(web: WebOptions) -> dict[str, Any]:
    wait = _duration(web.login_cooloff_s)
    return {
        "AUTHENTICATION_BACKENDS": [
            "rainbow.control.web.login_throttle.LoginThrottle",
            "django.contrib.auth.backends.ModelBackend",
        ],
        "AXES_FAILURE_LIMIT": web.login_failure_limit,
        "AXES_COOLOFF_TIME": timedelta(seconds=web.login_cooloff_s),
        # Per username and address: someone guessing at one account neither locks its owner out
        # elsewhere nor, by mistyping, everybody else behind the same address.
        "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
        "AXES_RESET_ON_SUCCESS": True,
        "AXES_COOLOFF_MESSAGE": (
            f"Too many failed logins for this username from your address: logging in is locked "
            f"for {wait} after the last failure. Wait, or ask an admin to unlock it with "
            "`rainbow manage axes_reset_username USERNAME`."
        ),
    }


def _duration(seconds: int) -> str:
    amount, unit = (seconds // 60, "minute") if seconds % 60 == 0 else (seconds, "second")
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


def _behind_tls(origins: tuple[str, ...]) -> dict[str, Any]:
    if not any(origin.startswith("https://") for origin in origins):
        return {"CSRF_TRUSTED_ORIGINS": list(origins)}
    return {
        "CSRF_TRUSTED_ORIGINS": list(origins),
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        # The proxy says the request came over HTTPS; only it can reach the server then.
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
        # Sent on HTTPS answers only, so a browser that reached the server over plain HTTP is
        # never told to insist on a TLS the server does not have.
        "SECURE_HSTS_SECONDS": HSTS_SECONDS,
    }


def database_settings(database_url: str) -> dict[str, Any]:
    """Django's settings for one database URL; UserError naming RAINBOW_DATABASE_URL if unusable."""
    import dj_database_url

    try:
        database: dict[str, Any] = dict(dj_database_url.parse(database_url))
    except ValueError:  # an unknown scheme, or a URL that does not parse
        database = {}
    engine = database.get("ENGINE")
    if engine not in _DEFAULT_OPTIONS:
        raise UserError(
            f"{URL_VARIABLE}={redact(database_url)!r} is not a SQLite or PostgreSQL URL",
            hint=_URL_HINT,
            code="RB-E051",
        )
    database["OPTIONS"] = {**_DEFAULT_OPTIONS[engine], **database.get("OPTIONS", {})}
    # The web server keeps a connection per thread across requests (checked before reuse);
    # other processes hold theirs for good anyway.
    database["CONN_MAX_AGE"] = 300
    database["CONN_HEALTH_CHECKS"] = True
    return database


def connect(database: str = "default") -> None:
    """Open the connection now: an unusable URL becomes a UserError, not a Django traceback."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError, connections

    try:
        _ensure_connection(connections[database])
    except ImproperlyConfigured as exc:  # the PostgreSQL driver is missing
        raise UserError(
            f"{URL_VARIABLE}={_url_of(database)!r}: {exc}",
            hint="install the driver: pip install 'psycopg[binary]'",
            code="RB-E051",
        ) from None
    except DatabaseError as exc:
        if connections[database].vendor == "sqlite":
            hint = "check that the SQLite file's folder exists and is writable"
        else:
            hint = "check that PostgreSQL runs there and that user, password and database are right"
        reason = " ".join(str(exc).split())  # drivers' messages span lines
        raise UserError(
            f"{URL_VARIABLE}={_url_of(database)!r}: cannot connect: {reason}",
            hint=f"{hint}, or {_URL_HINT}",
            code="RB-E051",
        ) from None


SQLITE_FIRST_OPEN_S = 20.0
"""How long processes opening one new SQLite file together keep trying (as the busy timeout)."""


def _ensure_connection(connection: Any) -> None:
    """Connect; on SQLite, try again while another process turns a new file to WAL.

    Switching the journal mode needs the file to itself, and SQLite answers a connection that
    meets another one switching with "database is locked" at once, without the busy timeout.
    """
    from django.db import OperationalError

    give_up = time.monotonic() + SQLITE_FIRST_OPEN_S
    while True:
        try:
            connection.ensure_connection()
            return
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            if time.monotonic() > give_up:
                raise
            time.sleep(0.05)


def is_migrated(database: str = "default") -> bool:
    """Whether every migration is applied to ``database``."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[database])
    return not executor.migration_plan(executor.loader.graph.leaf_nodes())


def migrate(database: str = "default") -> None:
    """Apply the pending migrations to ``database``, quietly.

    Processes migrating one database at once take turns: the first migrates while the others
    wait, then find nothing left to do.
    """
    from django.core.management import call_command
    from django.db import DatabaseError

    with _migration_lock(database):
        if is_migrated(database):
            return
        try:
            call_command("migrate", database=database, interactive=False, verbosity=0)
        except DatabaseError as exc:
            raise PlatformError(f"could not migrate {_url_of(database)!r}: {exc}") from exc


def ensure_migrated(database: str = "default") -> None:
    """Connect to ``database`` and migrate it unless it is up to date."""
    connect(database)
    if not is_migrated(database):
        migrate(database)


MIGRATION_LOCK_KEY = 0x52424D47  # "RBMG"
"""The first key of the PostgreSQL advisory lock held while migrating (``pg_locks.classid``); the
second is the schema's hash, so that schemas migrate independently."""


@contextmanager
def _migration_lock(database: str) -> Iterator[None]:
    """Hold a lock, across processes, on migrating ``database``."""
    from django.db import DatabaseError, connections

    connection = connections[database]
    if connection.vendor == "postgresql":
        if connection.in_atomic_block:
            raise PlatformError("migrations cannot run inside a transaction (atomic block)")
        lock = "SELECT pg_advisory_lock(%s, hashtext(current_schema()))"
        unlock = "SELECT pg_advisory_unlock(%s, hashtext(current_schema()))"
        with connection.cursor() as cursor:
            cursor.execute(lock, [MIGRATION_LOCK_KEY])
        try:
            yield
        finally:
            try:
                with connection.cursor() as cursor:
                    cursor.execute(unlock, [MIGRATION_LOCK_KEY])
            except DatabaseError:
                connection.close()  # the lock is the session's: ending the session frees it
        return
    name = str(connection.settings_dict["NAME"])
    if name in ("", ":memory:"):  # nobody else can see this database
        yield
        return
    # A file of its own: SQLite's locks on the database file last a transaction, and Django
    # migrates in several.
    with _file_lock(Path(f"{name}.migrate-lock")):
        yield


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl  # POSIX only, like the rest of the local engine

    try:
        # Read-only is enough for flock. Owner-only like the store it guards: whoever may not
        # open the store has nothing to migrate.
        descriptor = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UserError(
            f"cannot open {path} to take turns migrating the SQLite database: {exc.strerror}",
            hint=f"make the SQLite file's folder writable, or {_URL_HINT}",
            code="RB-E051",
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def open_store(database_url: str) -> DjangoStore:
    """Configure Django, migrate the database if needed and return the store on it."""
    configure(database_url)
    ensure_migrated()
    from rainbow.control.persistence.store import DjangoStore

    return DjangoStore()


def open_ledger(database_url: str) -> DjangoLedger:
    """Like :func:`open_store`, with the conductor's timers, outbox and instances."""
    configure(database_url)
    ensure_migrated()
    from rainbow.control.persistence.ledger import DjangoLedger

    return DjangoLedger()


def _create_sqlite_file(url: str, database: Mapping[str, Any]) -> None:
    """The store holds session keys and password hashes: its folder and the file are made
    owner-only before SQLite opens it, which then gives its -wal and -shm files the same mode."""
    name = str(database.get("NAME") or "")
    if database["ENGINE"] != _SQLITE or name in ("", ":memory:"):
        return
    path = Path(name)
    try:
        private_folder(path.parent)
    except OSError as exc:
        raise UserError(
            f"{URL_VARIABLE}={redact(url)!r}: cannot create the SQLite file's folder: {exc}",
            hint=_URL_HINT,
            code="RB-E051",
        ) from None
    try:
        private_file(path)
    except OSError as exc:
        raise UserError(
            f"{URL_VARIABLE}={redact(url)!r}: cannot open the SQLite file: {exc}",
            hint=f"check that the file and its folder are yours and writable, or {_URL_HINT}",
            code="RB-E051",
        ) from None
    for sidecar in ("-wal", "-shm", ".migrate-lock"):
        tighten(Path(f"{name}{sidecar}"))


def _url_of(database: str) -> str:
    from django.conf import settings

    return redact(settings.RAINBOW_DATABASE_URLS[database])


def _describe(urls: Mapping[str, str] | None) -> str:
    if urls is None:
        return "databases set up outside rainbow.control.django_setup"
    return ", ".join(f"{alias}={redact(url)}" for alias, url in urls.items())
