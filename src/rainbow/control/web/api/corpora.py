"""``/api/corpora``: corpus versions, registered by their content hash."""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from rainbow.control.services import corpora
from rainbow.control.web import schemas as s
from rainbow.control.web.api.auth import user_of
from rainbow.control.web.api.paging import Pages
from rainbow.evaluate.corpus.registration import Registration

router = Router(tags=["corpora"])


@router.post("", response={200: s.CorpusRegistered, 201: s.CorpusRegistered, **s.PROBLEMS})
def register_corpus(request: HttpRequest, payload: Registration) -> Status:
    """Register a corpus version: the manifest's metadata, its content hash and unit count, and
    its units when they fit (then checked against the hash), as `rainbow corpus register`
    sends them."""
    done = corpora.register(payload, by=user_of(request))
    answer = s.CorpusRegistered(outcome=done.outcome, version=s.CorpusVersionOut.of(done.row))
    return Status(201 if done.outcome == "created" else 200, answer)


class CorpusPages(Pages):
    """Pages of corpus versions, each row answered as :meth:`CorpusVersionOut.of` makes it."""

    def paginate_queryset(
        self, queryset: Any, pagination: Any, request: HttpRequest, **params: Any
    ) -> Any:
        page = super().paginate_queryset(queryset, pagination, request, **params)
        page["items"] = [s.CorpusVersionOut.of(row) for row in page["items"]]
        return page


@router.get("", response=list[s.CorpusVersionOut])
@paginate(CorpusPages)
def list_corpora(request: HttpRequest, use: Literal["research", "production"] | None = None) -> Any:
    return corpora.versions(use=use)


@router.get("/{name}", response={200: s.CorpusOut, **s.PROBLEMS})
def get_corpus(request: HttpRequest, name: s.NamePath) -> s.CorpusOut:
    versions = corpora.corpus(name)
    return s.CorpusOut(name=name, versions=[s.CorpusVersionOut.of(row) for row in versions])
