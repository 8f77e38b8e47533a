"""Rainbow's settings: typed, frozen, and read from the ``RAINBOW_*`` environment variables in
this one place, once per process (the CLI's root callback; ``rainbow web`` hands them on).

:class:`Settings` is grouped by who uses it, and each part of Rainbow is given only the group
it needs: :class:`StoreSettings` (every command that records or reads runs),
:class:`BrokerSettings` (the celery engine), :class:`ExecutionSettings` (both engines and their
workers), :class:`SpecSettings` (whoever compiles, validates or registers a spec),
:class:`WebSettings` (the control plane) and :class:`ClientSettings` (the CLI talking to a
control plane). Each field names its variable and default; README.md's settings table lists
them for users.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rainbow.errors import UserError

DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_RETRY_BASE_DELAY_S = 1.0
DEFAULT_MAX_SPEC_STEPS = 2_000
"""Far more than a hand-written pipeline needs; a registration checks this many in well under a
second, and every run stores a step row per step."""
DEFAULT_MAX_SPEC_BYTES = 2 * 1024 * 1024
"""Every run stores a copy of its spec, which the conductor reads back for each batch of the
run's events; well under the request body limit, so the largest spec still fits a request."""
DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
"""Outputs travel inline through the broker and the store (several copies each): big data
belongs in an asset."""
DEFAULT_LOCAL_LEASE_S = 30.0
"""A local run whose process stopped renewing its lease this long ago is closed as abandoned."""
DEFAULT_REQUIRED_APPROVALS = 2
DEFAULT_LOGIN_FAILURE_LIMIT = 10
DEFAULT_LOGIN_COOLOFF_S = 15 * 60
DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
DEFAULT_MAIN_BRANCH = "main"
DEFAULT_REGISTRY_POLL_S = 5.0
"""Room for the largest spec the registry accepts, or a batch of work units; files travel as
assets, never in a request body."""
DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "[::1]")
DEFAULT_INPUT_PROTOCOLS = ("s3", "s3a", "gs", "gcs", "az", "abfs")
"""Object stores, where the store's credentials limit what a URL reaches. Web URLs are not among
them: fetched from the server, ``https://`` reaches its internal addresses too."""
ENGINES = ("local", "celery")
_PROTOCOL = re.compile(r"[A-Za-z][A-Za-z0-9_+.-]*")


@dataclass(frozen=True)
class StoreSettings:
    """Where Rainbow keeps what it records: for every command that writes or reads runs."""

    home: Path
    """``RAINBOW_HOME`` (``.rainbow`` in the working directory): the SQLite store, assets, logs,
    work folders and the control plane's secret key."""
    database_url: str
    """``RAINBOW_DATABASE_URL`` (``sqlite:///<RAINBOW_HOME>/rainbow.sqlite3``), or
    ``postgresql://...``."""

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def work_root(self) -> Path:
        """Where attempts get their work folders."""
        return self.home / "work"

    @property
    def corpora(self) -> Path:
        """Where corpora given by URL are fetched and checked into, by content hash."""
        return self.home / "corpora"

    @property
    def evaluations(self) -> Path:
        """Where ``rainbow evaluate`` writes its results unless told ``--report DIR``."""
        return self.home / "evaluations"


@dataclass(frozen=True)
class BrokerSettings:
    """RabbitMQ, for the celery engine: workers, the conductor, ``rainbow run --engine celery``,
    ``retry``, ``cancel``, and a control plane whose engine is celery."""

    url: str = DEFAULT_BROKER_URL
    """``RAINBOW_BROKER_URL``."""


@dataclass(frozen=True)
class ExecutionSettings:
    """How attempts run, for both engines and the workers: the same limits wherever a step runs."""

    assets_url: str
    """``RAINBOW_ASSETS_URL`` (``<RAINBOW_HOME>/assets``): where output assets go; any fsspec URL.
    A local folder is made absolute, since each module runs in its own working directory."""
    retry_base_delay: float = DEFAULT_RETRY_BASE_DELAY_S
    """``RAINBOW_RETRY_BASE_DELAY``: seconds before the first retry, doubled per attempt (with
    jitter), capped at 60."""
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    """``RAINBOW_MAX_OUTPUT_BYTES``: the most JSON a module's outputs may be."""
    local_lease_s: float = DEFAULT_LOCAL_LEASE_S
    """``RAINBOW_LOCAL_LEASE`` (at least 1): a local run whose process has not renewed its hold on
    it for this long is closed as abandoned by the next Rainbow process."""


@dataclass(frozen=True)
class SpecSettings:
    """How large a spec may be: ``rainbow compile`` and ``validate`` apply the limits the
    control plane's registry applies, so what compiles here registers there."""

    max_steps: int = DEFAULT_MAX_SPEC_STEPS
    """``RAINBOW_MAX_SPEC_STEPS``."""
    max_bytes: int = DEFAULT_MAX_SPEC_BYTES
    """``RAINBOW_MAX_SPEC_BYTES``: the largest spec, as compact JSON."""


@dataclass(frozen=True)
class WebSettings:
    """What the control plane (``rainbow web``, ``rainbow manage``) applies: who may reach it,
    what it accepts, and where it runs what is submitted."""

    input_roots: tuple[str, ...]
    """``RAINBOW_INPUT_ROOTS`` (``<RAINBOW_HOME>`` and a local asset folder): where submitted
    paths may point (never Rainbow's own files: its store, secret key, logs, static files, work
    folders)."""
    secret_key: str | None = None
    """``RAINBOW_SECRET_KEY``; unset, ``rainbow web`` generates one into
    ``<RAINBOW_HOME>/secret-key``."""
    debug: bool = False
    """``RAINBOW_DEBUG``: ``1`` only in development (Django's debug pages)."""
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    """``RAINBOW_ALLOWED_HOSTS``: host names the control plane answers."""
    trusted_origins: tuple[str, ...] = ()
    """``RAINBOW_TRUSTED_ORIGINS``: ``https://…`` origins of a TLS proxy in front."""
    input_protocols: tuple[str, ...] = DEFAULT_INPUT_PROTOCOLS
    """``RAINBOW_INPUT_PROTOCOLS``: the fsspec protocols submitted URLs may read through
    (replaces the list; e.g. add ``https``, ``simplecache``)."""
    required_approvals: int = DEFAULT_REQUIRED_APPROVALS
    """``RAINBOW_REQUIRED_APPROVALS`` (at least 1): approvals a system-default pipeline version
    needs."""
    logs_url: str | None = None
    """``RAINBOW_LOGS_URL``: a URL template with ``{run_id}`` linking a run to its logs."""
    engine: str = ENGINES[0]
    """``RAINBOW_ENGINE``: where the control plane runs what is submitted, local or celery."""
    modules: tuple[str, ...] = ()
    """``RAINBOW_MODULES``: module code (import paths or files, comma-separated) for the control
    plane's local engine."""
    login_failure_limit: int = DEFAULT_LOGIN_FAILURE_LIMIT
    """``RAINBOW_LOGIN_FAILURE_LIMIT``: wrong passwords for one username from one address before
    the admin's login locks that pair out."""
    login_cooloff_s: int = DEFAULT_LOGIN_COOLOFF_S
    """``RAINBOW_LOGIN_COOLOFF``: seconds a lockout lasts after the last failure."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """``RAINBOW_MAX_REQUEST_BYTES``: the largest request body the control plane reads (a bigger
    one to the API is a 413); above ``RAINBOW_MAX_SPEC_BYTES``."""


@dataclass(frozen=True)
class ClientSettings:
    """How the CLI reaches a control plane; without a URL it uses the store directly."""

    url: str | None = None
    """``RAINBOW_URL``: the control plane the CLI talks to."""
    token: str | None = None
    """``RAINBOW_TOKEN``: the API token the CLI sends to ``RAINBOW_URL``."""


@dataclass(frozen=True)
class ReleaseSettings:
    """Where released builds live and how versioned workers keep up with the registry: what
    ``rainbow release`` and ``rainbow worker NAME@VERSION`` use."""

    artifacts_url: str
    """``RAINBOW_ARTIFACTS_URL`` (``<RAINBOW_HOME>/artifacts``): where ``rainbow release``
    stores artifacts; any fsspec URL."""
    cache: Path
    """``<RAINBOW_HOME>/builds``: artifacts fetched and environments made, by content hash."""
    main_branch: str = DEFAULT_MAIN_BRANCH
    """``RAINBOW_MAIN_BRANCH``: the branch whose HEAD is ``NAME@latest``."""
    poll_s: float = DEFAULT_REGISTRY_POLL_S
    """``RAINBOW_REGISTRY_POLL``: how often a versioned worker asks whether its version moved
    or was retired."""


@dataclass(frozen=True)
class Settings:
    """Everything Rainbow reads from the environment, one group per kind of user."""

    store: StoreSettings
    broker: BrokerSettings
    execution: ExecutionSettings
    spec: SpecSettings
    web: WebSettings
    client: ClientSettings
    release: ReleaseSettings


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise UserError(
            f"{name}={raw!r} is not a number", hint=f"set {name} to seconds, e.g. {default}"
        ) from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(
            f"{name}={raw!r} is not a whole number", hint=f"set {name} to e.g. {default}"
        ) from None


def _at_least(name: str, value: float, minimum: float, default: float, why: str) -> Any:
    if value < minimum:
        raise UserError(
            f"{name}={value} {why}",
            hint=f"set {name} to {minimum:g} or more (the default is {default:g})",
        )
    return value


def _lease(env: Mapping[str, str], name: str, default: float) -> float:
    value = _float(env, name, default)
    return float(_at_least(name, value, 1, default, "would close runs as abandoned while they run"))


def _at_least_one(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    return int(_at_least(name, value, 1, default, "would switch the approval gate off"))


def _positive(env: Mapping[str, str], name: str, default: int, unit: str) -> int:
    value = _int(env, name, default)
    return int(_at_least(name, value, 1, default, f"is not a positive number of {unit}"))


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "0").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise UserError(f"{name}={raw!r} is not a yes/no value", hint=f"set {name} to 1 or 0")


def _words(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    return tuple(word.strip() for word in raw.split(",") if word.strip())


def _protocols(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    protocols = _words(env, name) or DEFAULT_INPUT_PROTOCOLS
    for protocol in protocols:
        if protocol in ("file", "local"):
            raise UserError(
                f"{name} lists {protocol}: local files are governed by RAINBOW_INPUT_ROOTS",
                hint=f"remove {protocol} from {name} and list the folders in RAINBOW_INPUT_ROOTS",
            )
        if not _PROTOCOL.fullmatch(protocol):
            raise UserError(
                f"{name} lists {protocol!r}, which is not a protocol name",
                hint=f"list names without '://', e.g. {','.join(DEFAULT_INPUT_PROTOCOLS[:3])}",
            )
    return protocols


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = env.get(name) or choices[0]
    if raw not in choices:
        raise UserError(f"{name}={raw!r} is not one of {', '.join(choices)}")
    return raw


def redact(url: str) -> str:
    """The URL without its password, fit for messages and logs."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return "(an unparseable URL)"
    return url if password is None else url.replace(f":{password}@", ":***@", 1)


def _absolute_if_local(url: str, base: Path) -> str:
    # A relative folder would mean something else in each module's working directory.
    if "://" in url:
        return url
    return str((base / url).absolute())


def _roots(
    env: Mapping[str, str], name: str, base: Path, default: tuple[str, ...]
) -> tuple[str, ...]:
    roots = _words(env, name) or default
    urls = [root for root in roots if "://" in root or "::" in root]
    if urls:
        raise UserError(
            f"{name} lists folders of this machine, and {urls[0]!r} is a URL",
            hint="name the folder itself; remote stores are allowed through "
            "RAINBOW_INPUT_PROTOCOLS",
        )
    return tuple(_absolute_if_local(root, base) for root in roots)


def from_env(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    """Build the settings from environment variables (``os.environ`` by default)."""
    env = os.environ if env is None else env
    base = cwd or Path.cwd()
    home = Path(env.get("RAINBOW_HOME") or base / ".rainbow").absolute()
    assets_url = _absolute_if_local(env.get("RAINBOW_ASSETS_URL") or str(home / "assets"), base)
    local_assets = () if "://" in assets_url else (assets_url,)
    read = Settings(
        store=StoreSettings(
            home=home,
            database_url=env.get("RAINBOW_DATABASE_URL") or f"sqlite:///{home / 'rainbow.sqlite3'}",
        ),
        broker=BrokerSettings(url=env.get("RAINBOW_BROKER_URL") or DEFAULT_BROKER_URL),
        execution=ExecutionSettings(
            assets_url=assets_url,
            retry_base_delay=_float(env, "RAINBOW_RETRY_BASE_DELAY", DEFAULT_RETRY_BASE_DELAY_S),
            max_output_bytes=_positive(
                env, "RAINBOW_MAX_OUTPUT_BYTES", DEFAULT_MAX_OUTPUT_BYTES, "bytes"
            ),
            local_lease_s=_lease(env, "RAINBOW_LOCAL_LEASE", DEFAULT_LOCAL_LEASE_S),
        ),
        spec=SpecSettings(
            max_steps=_positive(env, "RAINBOW_MAX_SPEC_STEPS", DEFAULT_MAX_SPEC_STEPS, "steps"),
            max_bytes=_positive(env, "RAINBOW_MAX_SPEC_BYTES", DEFAULT_MAX_SPEC_BYTES, "bytes"),
        ),
        web=WebSettings(
            input_roots=_roots(env, "RAINBOW_INPUT_ROOTS", base, (str(home), *local_assets)),
            secret_key=env.get("RAINBOW_SECRET_KEY") or None,
            debug=_flag(env, "RAINBOW_DEBUG"),
            allowed_hosts=_words(env, "RAINBOW_ALLOWED_HOSTS") or DEFAULT_ALLOWED_HOSTS,
            trusted_origins=_words(env, "RAINBOW_TRUSTED_ORIGINS") or (),
            input_protocols=_protocols(env, "RAINBOW_INPUT_PROTOCOLS"),
            required_approvals=_at_least_one(
                env, "RAINBOW_REQUIRED_APPROVALS", DEFAULT_REQUIRED_APPROVALS
            ),
            logs_url=env.get("RAINBOW_LOGS_URL") or None,
            engine=_choice(env, "RAINBOW_ENGINE", ENGINES),
            modules=_words(env, "RAINBOW_MODULES") or (),
            login_failure_limit=_positive(
                env, "RAINBOW_LOGIN_FAILURE_LIMIT", DEFAULT_LOGIN_FAILURE_LIMIT, "failed logins"
            ),
            login_cooloff_s=_positive(
                env, "RAINBOW_LOGIN_COOLOFF", DEFAULT_LOGIN_COOLOFF_S, "seconds"
            ),
            max_request_bytes=_positive(
                env, "RAINBOW_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, "bytes"
            ),
        ),
        client=ClientSettings(
            url=env.get("RAINBOW_URL") or None, token=env.get("RAINBOW_TOKEN") or None
        ),
        release=ReleaseSettings(
            artifacts_url=_absolute_if_local(
                env.get("RAINBOW_ARTIFACTS_URL") or str(home / "artifacts"), base
            ),
            cache=home / "builds",
            main_branch=env.get("RAINBOW_MAIN_BRANCH") or DEFAULT_MAIN_BRANCH,
            poll_s=_at_least(
                "RAINBOW_REGISTRY_POLL",
                _float(env, "RAINBOW_REGISTRY_POLL", DEFAULT_REGISTRY_POLL_S),
                0.1,
                DEFAULT_REGISTRY_POLL_S,
                "is below 0.1 seconds",
            ),
        ),
    )
    if read.web.max_request_bytes <= read.spec.max_bytes:
        raise UserError(
            f"RAINBOW_MAX_REQUEST_BYTES={read.web.max_request_bytes} is not above "
            f"RAINBOW_MAX_SPEC_BYTES={read.spec.max_bytes}: the largest spec the registry "
            "accepts could not be sent to it",
            hint="raise RAINBOW_MAX_REQUEST_BYTES, or lower RAINBOW_MAX_SPEC_BYTES",
        )
    return read
