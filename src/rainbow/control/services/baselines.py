"""Baselines: recorded from evaluations on main only, read back by every later evaluation.

An evaluation on any branch compares with main's newest baseline of the same target on the same
corpus (by content hash): "is my branch better than main?". Only an evaluation of main's code
may record one (``rainbow evaluate --update-baseline`` in main's CI), so a branch can never
lower the bar it is measured against. Every update is audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from rainbow.control.models import Baseline
from rainbow.control.persistence import audit
from rainbow.control.persistence.store import store_errors
from rainbow.control.services.refusals import Conflict
from rainbow.control.services.roles import RESEARCHER, require
from rainbow.evaluate.figures import Figures

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

MAX_HISTORY = 200


def record(
    figures: Figures, *, main_branch: str, by: AbstractBaseUser | None, actor_name: str = ""
) -> Baseline:
    """Store ``figures`` as the newest baseline; ``by`` None is direct store use (no control
    plane), audited as ``actor_name``."""
    if by is not None:
        require(by, RESEARCHER, "update baselines")
    if figures.branch != main_branch:
        where = f"branch {figures.branch!r}" if figures.branch else "no branch (a detached head)"
        raise Conflict(
            f"baselines are updated from {main_branch} only; this evaluation ran on {where}",
            code="RB-E101",
            hint=f"run --update-baseline in {main_branch}'s CI; on a branch, compare with "
            f"{main_branch}'s baseline (the default) or save one to a file with --save-baseline",
        )
    with store_errors("the store refused the baseline", "the store failed"), transaction.atomic():
        row = Baseline.objects.create(
            target=figures.target,
            corpus_name=figures.corpus.name,
            corpus_version=figures.corpus.version,
            corpus_hash=figures.corpus.content_hash,
            branch=figures.branch,
            commit=figures.commit,
            spec_hash=figures.spec_hash,
            made_at=figures.made_at,
            figures=figures.model_dump(mode="json"),
            recorded_by=by if by is not None and by.pk else None,
            actor_name=getattr(by, "username", "") or actor_name or "system",
        )
        audit.record(
            by,
            "baseline.update",
            f"{figures.target} on {figures.corpus.name}@{figures.corpus.version}",
            commit=figures.commit,
            corpus_hash=figures.corpus.content_hash,
            metrics=len(figures.metrics),
        )
    return row


def history(target: str, *, branch: str, corpus_hash: str = "", limit: int = 1) -> list[Figures]:
    """The newest baselines of ``target`` on ``branch`` first, on one corpus when
    ``corpus_hash`` is given."""
    rows = Baseline.objects.filter(target=target, branch=branch)
    if corpus_hash:
        rows = rows.filter(corpus_hash=corpus_hash)
    with store_errors("the store refused the question", "the store failed"):
        found = list(rows.order_by("-recorded_at", "-id")[: max(1, min(limit, MAX_HISTORY))])
    return [Figures.model_validate(row.figures) for row in found]
