"""Corpus versions: the canned work units evaluations run on, registered by their content hash.

A version is its content: the same units registered again are the same row, and a name and
version never change what they hold (:mod:`rainbow.control.services.corpora`). Its allowed use
is what release gates read: only ``production`` corpora may judge production pipelines.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    MaybeUser = User | None

USER = settings.AUTH_USER_MODEL


class CorpusVersion(models.Model):
    class Use(models.TextChoices):
        RESEARCH = "research", "research: evaluations only"
        PRODUCTION = "production", "production: may judge production pipelines"

    name: models.CharField[str, str] = models.CharField(max_length=200)
    version: models.CharField[str, str] = models.CharField(max_length=32)
    content_hash: models.CharField[str, str] = models.CharField(
        max_length=80, unique=True, help_text="sha256 over every unit's files and their hashes."
    )
    licence: models.CharField[str, str] = models.CharField(
        max_length=200, help_text="An SPDX expression."
    )
    use: models.CharField[str, str] = models.CharField(max_length=16, choices=Use.choices)
    description: models.TextField[str, str] = models.TextField(blank=True, default="")
    provenance: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField(
        default=dict, help_text="Where the units came from, who made the corpus, and when."
    )
    unit_count: models.PositiveIntegerField[int, int] = models.PositiveIntegerField()
    manifest: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField(
        default=dict,
        help_text="The manifest as registered; its units only when they were small enough "
        "to send (a few MiB).",
    )
    registered_by: models.ForeignKey[MaybeUser, MaybeUser] = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    registered_by_name: models.CharField[str, str] = models.CharField(
        max_length=150, help_text="Kept when the user is deleted."
    )
    registered_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )

    class Meta:
        db_table = "rainbow_corpus_version"
        ordering = ("name", "-registered_at")
        constraints = (
            models.UniqueConstraint(fields=["name", "version"], name="rainbow_corpus_version_once"),
        )

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def short_hash(self) -> str:
        return self.content_hash.removeprefix("sha256:")[:12]
