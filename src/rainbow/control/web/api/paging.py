"""Pages of lists the API answers."""

# No ``from __future__ import annotations`` here: django-ninja reads the annotations at runtime.
from ninja import Field, Schema
from ninja.pagination import LimitOffsetPagination


class Pages(LimitOffsetPagination):
    """Limit and offset, both bounded: an offset past what a database integer holds would be a
    500; deeper pages than this are a filter's job."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=500)
        offset: int = Field(0, ge=0, le=1_000_000)
