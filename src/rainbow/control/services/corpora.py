"""Corpus versions in the registry, each registered once by its content hash.

- The same units under the same name and version again change nothing ("unchanged").
- A name and version never change what they hold, nor the licence and use they were registered
  with: other content or terms under them is refused (bump the version).
- One content is one version: the same units under a second name or version are refused.

Researchers register; every registration is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.db import IntegrityError, transaction
from django.db.models import Q

from rainbow.control.models import CorpusVersion
from rainbow.control.persistence import audit
from rainbow.control.services.refusals import Conflict, Invalid, NotFound
from rainbow.control.services.roles import RESEARCHER, require
from rainbow.evaluate.corpus.registration import MAX_RECORDED_UNITS_BYTES, Registration
from rainbow.storable import json_size

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.db.models import QuerySet

BUMP_HINT = (
    "a corpus version never changes: give the changed corpus a new version (rainbow corpus init "
    "DIR --force --version NEW …) and register that"
)


@dataclass(frozen=True)
class Registered:
    row: CorpusVersion
    outcome: Literal["created", "unchanged"]


def register(
    registration: Registration,
    *,
    by: AbstractBaseUser | None,
    actor_name: str = "",
    using: str = "default",
) -> Registered:
    """Record a corpus version by the rules above; ``by`` None is direct store use, audited as
    ``actor_name``."""
    if by is not None:
        require(by, RESEARCHER, "register corpora")
    problems = registration.problems()
    if problems:
        raise Invalid(
            f"the registration of corpus {registration.corpus.name}@"
            f"{registration.corpus.version} does not hold together",
            hint=problems[0].hint,
            code=problems[0].code,
            diagnostics=problems,
        )
    try:
        return _register(registration, by, actor_name, using)
    except IntegrityError:  # registered by someone else a moment ago: judge against theirs
        return _register(registration, by, actor_name, using)


def _register(
    registration: Registration, by: AbstractBaseUser | None, actor_name: str, using: str
) -> Registered:
    info = registration.corpus
    rows = CorpusVersion.objects.using(using)
    with transaction.atomic(using=using):
        found = list(
            rows.select_for_update().filter(
                Q(name=info.name, version=info.version) | Q(content_hash=registration.content_hash)
            )
        )
        if found:
            # The name and version's own row says best what changed, when there is one.
            row = next(
                (r for r in found if (r.name, r.version) == (info.name, info.version)), found[0]
            )
            _judge(row, registration)
            return Registered(row, "unchanged")
        name = (getattr(by, "username", "") or actor_name or "system")[:150]
        row = rows.create(
            name=info.name,
            version=info.version,
            content_hash=registration.content_hash,
            licence=info.licence,
            use=info.use,
            description=info.description,
            provenance=registration.provenance.model_dump(mode="json"),
            unit_count=registration.unit_count,
            manifest=_recorded_manifest(registration),
            registered_by=by if by is not None and by.pk else None,
            registered_by_name=name,
        )
        entry = audit.record(
            by,
            "corpus.register",
            str(row),
            using=using,
            content_hash=row.content_hash,
            licence=row.licence,
            use=row.use,
            units=row.unit_count,
        )
        if by is None and actor_name:
            entry.actor_name = actor_name[:150]
            entry.save(update_fields=["actor_name"])
    return Registered(row, "created")


def _judge(row: CorpusVersion, registration: Registration) -> None:
    """Refuse a registration that would change what ``row`` is; return for the same one."""
    info = registration.corpus
    asked = f"{info.name}@{info.version}"
    if (row.name, row.version) != (info.name, info.version):
        raise Conflict(
            f"these units are registered already as {row} (content {row.content_hash}); one "
            f"content is one corpus version, so they cannot also be {asked}",
            code="RB-E097",
            hint=f"use {row}, or change the units if {asked} is meant to be another corpus",
        )
    if row.content_hash != registration.content_hash:
        raise Conflict(
            f"{asked} is registered with content {row.content_hash}, not "
            f"{registration.content_hash}: its files changed",
            code="RB-E097",
            hint=BUMP_HINT,
        )
    if (row.licence, row.use) != (info.licence, info.use):
        raise Conflict(
            f"{asked} is registered with licence {row.licence} for {row.use} use, not "
            f"{info.licence} for {info.use} use",
            code="RB-E097",
            hint=BUMP_HINT,
        )


def _recorded_manifest(registration: Registration) -> dict[str, object]:
    """The manifest as the row keeps it: the units too when they are small enough to read back
    with the row (the request body bounds them, this bounds the rows)."""
    kept = registration.model_dump(mode="json", include={"format", "corpus", "provenance"})
    units = registration.model_dump(mode="json", include={"units"})["units"]
    if units is not None and json_size(units, compact=True) <= MAX_RECORDED_UNITS_BYTES:
        kept["units"] = units
    return kept


def versions(
    *, name: str | None = None, use: str | None = None, using: str = "default"
) -> QuerySet[CorpusVersion]:
    """Registered corpus versions by name, newest first, without their manifests (which may be
    megabytes): a query, so that a page of them is a page of rows."""
    rows = CorpusVersion.objects.using(using).defer("manifest").order_by("name", "-registered_at")
    if name is not None:
        rows = rows.filter(name=name)
    return rows.filter(use=use) if use is not None else rows


def corpus(name: str, *, using: str = "default") -> list[CorpusVersion]:
    """The versions of one corpus, newest first; NotFound when it has none."""
    found = list(versions(name=name, using=using))
    if not found:
        raise NotFound(
            f"no corpus named {name!r} is registered",
            hint="register it: rainbow corpus register DIR_OR_URL",
        )
    return found
