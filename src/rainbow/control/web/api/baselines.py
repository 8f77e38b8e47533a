"""``/api/baselines``: the figures evaluations on main record, and later evaluations read."""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from rainbow.control.services import baselines
from rainbow.control.web import schemas as s
from rainbow.control.web.api.auth import user_of
from rainbow.evaluate.figures import Figures

router = Router(tags=["baselines"])


class BaselineQuery(Schema):
    target: Annotated[str, Field(min_length=1, max_length=220)]
    branch: Annotated[str, Field(min_length=1, max_length=200)] = "main"
    corpus_hash: Annotated[str, Field(max_length=71)] = ""
    limit: Annotated[int, Field(ge=1, le=baselines.MAX_HISTORY)] = 1


@router.post("", response={201: dict[str, Any], **s.PROBLEMS})
def record_baseline(request: HttpRequest, payload: Figures) -> Status:
    """Record an evaluation's figures as the newest baseline (from the main branch only)."""
    main = settings.RAINBOW_MAIN_BRANCH
    row = baselines.record(payload, main_branch=main, by=user_of(request))
    return Status(201, {"id": row.pk, "recorded_at": row.recorded_at.isoformat()})


@router.get("", response={200: list[dict[str, Any]], **s.PROBLEMS})
def list_baselines(request: HttpRequest, query: Query[BaselineQuery]) -> list[dict[str, Any]]:
    """A target's baselines on a branch, newest first: ``limit=1`` is the one to compare with,
    more are its trend."""
    found = baselines.history(
        query.target, branch=query.branch, corpus_hash=query.corpus_hash, limit=query.limit
    )
    return [figures.model_dump(mode="json") for figures in found]
