"""Baselines: the figures of an evaluation on main, which later evaluations compare with.

One row per update, never overwritten: the newest row of a (target, corpus) on main is the
baseline, and the rows before it are the metric trend over main builds.
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


class Baseline(models.Model):
    target: models.CharField[str, str] = models.CharField(
        max_length=220, help_text="The pipeline's name, or module:NAME."
    )
    corpus_name: models.CharField[str, str] = models.CharField(max_length=200)
    corpus_version: models.CharField[str, str] = models.CharField(max_length=64)
    corpus_hash: models.CharField[str, str] = models.CharField(max_length=71)
    branch: models.CharField[str, str] = models.CharField(max_length=200)
    commit: models.CharField[str, str] = models.CharField(max_length=64, blank=True)
    spec_hash: models.CharField[str, str] = models.CharField(max_length=71, blank=True)
    made_at: models.DateTimeField[datetime, datetime] = models.DateTimeField()
    figures: models.JSONField[dict[str, Any], dict[str, Any]] = models.JSONField()
    recorded_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    recorded_by: models.ForeignKey[MaybeUser, MaybeUser] = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    actor_name: models.CharField[str, str] = models.CharField(
        max_length=150, help_text="Kept when the user is deleted."
    )

    class Meta:
        db_table = "rainbow_baseline"
        ordering = ("-recorded_at", "-id")
        indexes = (
            models.Index(
                fields=["target", "corpus_hash", "branch", "-recorded_at"],
                name="rainbow_baseline_latest",
            ),
        )

    def __str__(self) -> str:
        return f"{self.target} on {self.corpus_name}@{self.corpus_version} @ {self.commit[:12]}"
