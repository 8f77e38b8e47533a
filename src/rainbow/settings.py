"""Rainbow's settings: typed, frozen, and read from the environment in this one place.

| variable | default |
| --- | --- |
| ``RAINBOW_HOME`` | ``.rainbow`` in the working directory: the SQLite store, assets, logs |
| ``RAINBOW_DATABASE_URL`` | ``sqlite:///<RAINBOW_HOME>/rainbow.sqlite3``; or ``postgresql://...`` |
| ``RAINBOW_ASSETS_URL`` | ``<RAINBOW_HOME>/assets``; any fsspec URL |
| ``RAINBOW_BROKER_URL`` | ``amqp://guest:guest@127.0.0.1:5672//`` |
| ``RAINBOW_URL`` | unset: the CLI talks to the store directly |
| ``RAINBOW_RETRY_BASE_DELAY`` | ``1.0`` seconds, doubled per attempt (with jitter), capped at 60 |
| ``RAINBOW_TOKEN`` | unset: the API token the CLI sends to ``RAINBOW_URL`` |
| ``RAINBOW_SECRET_KEY`` | unset: ``rainbow web`` generates one into ``<RAINBOW_HOME>/secret-key`` |
| ``RAINBOW_DEBUG`` | ``0``; ``1`` only in development (Django's debug pages) |
| ``RAINBOW_ALLOWED_HOSTS`` | ``localhost,127.0.0.1,[::1]``: host names the control plane answers |
| ``RAINBOW_TRUSTED_ORIGINS`` | unset: ``https://…`` origins of a TLS proxy in front |
| ``RAINBOW_INPUT_ROOTS`` | ``<RAINBOW_HOME>`` and local assets: where submitted paths may point |
| | (never Rainbow's own: its store, secret key, logs, static files, work folders) |
| ``RAINBOW_INPUT_PROTOCOLS`` | ``s3,s3a,gs,gcs,az,abfs``: the fsspec protocols that submitted |
| | URLs may read through (replaces the list; e.g. add ``https``, ``simplecache``) |
| ``RAINBOW_REQUIRED_APPROVALS`` | ``2``: approvals a system-default pipeline version needs |
| ``RAINBOW_LOGS_URL`` | unset: a URL template with ``{run_id}`` linking a run to its logs |
| ``RAINBOW_ENGINE`` | ``local``: where the control plane runs what is submitted (or ``celery``) |
| ``RAINBOW_MODULES`` | unset: module code (import paths or files, comma-separated) for the |
| | control plane's local engine |
| ``RAINBOW_MAX_SPEC_STEPS`` | ``2000``: the most steps a pipeline spec may have |
| ``RAINBOW_MAX_SPEC_BYTES`` | ``2097152`` (2 MiB): the largest spec, as compact JSON |
| ``RAINBOW_MAX_OUTPUT_BYTES`` | ``1048576`` (1 MiB): the most JSON a module's outputs may be |
| ``RAINBOW_LOCAL_LEASE`` | ``30`` seconds: a local run whose process has not renewed its hold |
| | on it for this long is closed as abandoned by the next Rainbow process |
| ``RAINBOW_LOGIN_FAILURE_LIMIT`` | ``10``: wrong passwords for one username from one address |
| | before the admin's login locks that pair out |
| ``RAINBOW_LOGIN_COOLOFF`` | ``900`` seconds: how long a lockout lasts after the last failure |
| ``RAINBOW_MAX_REQUEST_BYTES`` | ``10485760`` (10 MiB): the largest request body the control |
| | plane reads (a bigger one to the API is a 413) |
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
DEFAULT_LOGIN_FAILURE_LIMIT = 10
DEFAULT_LOGIN_COOLOFF_S = 15 * 60
DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""Room for the largest spec the registry accepts, or a batch of work units; files travel as
assets, never in a request body."""


DEFAULT_INPUT_PROTOCOLS = ("s3", "s3a", "gs", "gcs", "az", "abfs")
"""Object stores, where the store's credentials limit what a URL reaches. Web URLs are not among
them: fetched from the server, ``https://`` reaches its internal addresses too."""
_PROTOCOL = re.compile(r"[A-Za-z][A-Za-z0-9_+.-]*")


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    assets_url: str
    broker_url: str
    control_url: str | None
    retry_base_delay: float
    api_token: str | None = None
    secret_key: str | None = None
    debug: bool = False
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")
    trusted_origins: tuple[str, ...] = ()
    input_roots: tuple[str, ...] = ()
    input_protocols: tuple[str, ...] = DEFAULT_INPUT_PROTOCOLS
    required_approvals: int = 2
    logs_url: str | None = None
    engine: str = "local"
    modules: tuple[str, ...] = ()
    max_spec_steps: int = DEFAULT_MAX_SPEC_STEPS
    max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    login_failure_limit: int = DEFAULT_LOGIN_FAILURE_LIMIT
    login_cooloff_s: int = DEFAULT_LOGIN_COOLOFF_S
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    local_lease_s: float = DEFAULT_LOCAL_LEASE_S

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"


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
        home=home,
        database_url=env.get("RAINBOW_DATABASE_URL") or f"sqlite:///{home / 'rainbow.sqlite3'}",
        assets_url=assets_url,
        broker_url=env.get("RAINBOW_BROKER_URL") or "amqp://guest:guest@127.0.0.1:5672//",
        control_url=env.get("RAINBOW_URL") or None,
        retry_base_delay=_float(env, "RAINBOW_RETRY_BASE_DELAY", 1.0),
        api_token=env.get("RAINBOW_TOKEN") or None,
        secret_key=env.get("RAINBOW_SECRET_KEY") or None,
        debug=_flag(env, "RAINBOW_DEBUG"),
        allowed_hosts=_words(env, "RAINBOW_ALLOWED_HOSTS") or Settings.allowed_hosts,
        trusted_origins=_words(env, "RAINBOW_TRUSTED_ORIGINS") or (),
        input_roots=_roots(env, "RAINBOW_INPUT_ROOTS", base, (str(home), *local_assets)),
        input_protocols=_protocols(env, "RAINBOW_INPUT_PROTOCOLS"),
        required_approvals=_at_least_one(env, "RAINBOW_REQUIRED_APPROVALS", 2),
        logs_url=env.get("RAINBOW_LOGS_URL") or None,
        engine=_choice(env, "RAINBOW_ENGINE", ("local", "celery")),
        modules=_words(env, "RAINBOW_MODULES") or (),
        max_spec_steps=_positive(env, "RAINBOW_MAX_SPEC_STEPS", DEFAULT_MAX_SPEC_STEPS, "steps"),
        max_spec_bytes=_positive(env, "RAINBOW_MAX_SPEC_BYTES", DEFAULT_MAX_SPEC_BYTES, "bytes"),
        max_output_bytes=_positive(
            env, "RAINBOW_MAX_OUTPUT_BYTES", DEFAULT_MAX_OUTPUT_BYTES, "bytes"
        ),
        login_failure_limit=_positive(
            env, "RAINBOW_LOGIN_FAILURE_LIMIT", DEFAULT_LOGIN_FAILURE_LIMIT, "failed logins"
        ),
        login_cooloff_s=_positive(env, "RAINBOW_LOGIN_COOLOFF", DEFAULT_LOGIN_COOLOFF_S, "seconds"),
        max_request_bytes=_positive(
            env, "RAINBOW_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, "bytes"
        ),
        local_lease_s=_lease(env, "RAINBOW_LOCAL_LEASE", DEFAULT_LOCAL_LEASE_S),
    )
    if read.max_request_bytes <= read.max_spec_bytes:
        raise UserError(
            f"RAINBOW_MAX_REQUEST_BYTES={read.max_request_bytes} is not above "
            f"RAINBOW_MAX_SPEC_BYTES={read.max_spec_bytes}: the largest spec the registry "
            "accepts could not be sent to it",
            hint="raise RAINBOW_MAX_REQUEST_BYTES, or lower RAINBOW_MAX_SPEC_BYTES",
        )
    return read
