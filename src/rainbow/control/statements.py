"""Bulk INSERT and UPDATE as one prepared statement run once per row, and id lookups.

Django's ``bulk_create`` compiles every value of every row into one big statement and
``bulk_update`` builds a CASE expression per field and row: for the engine's batches that costs
more than the database work itself. These helpers take table, column names and value
conversion from the model, so the SQL stays as portable as the ORM's (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, JSONField, Model


def insert_each(using: str, model: type[Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert one row per mapping of field names to values; all mappings hold the same fields."""
    if not rows:
        return
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = _fields(model, rows[0].keys())
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values})"
    with connection.cursor() as cursor:
        cursor.executemany(sql, _params(connection, fields, rows))


def update_each(
    using: str,
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    templates: Mapping[str, str] | None = None,
) -> int:
    """Update one row per mapping of field names to values; return how many rows matched.

    Each mapping holds the same fields: ``key`` picks the row, the others are set. ``templates``
    gives the SQL of a field's new value where it is not simply the mapping's value (``%s``);
    ``{column}`` in a template stands for the stored value, as in ``COALESCE(%s, {column})``.
    """
    if not rows:
        return 0
    connection = connections[using]
    quote = connection.ops.quote_name
    fields = _fields(model, [name for name in rows[0] if name != key] + [key])
    assignments = ", ".join(
        f"{quote(field.column)} = "
        + (templates or {}).get(field.name, "%s").format(column=quote(field.column))
        for field in fields[:-1]
    )
    table = quote(model._meta.db_table)
    sql = f"UPDATE {table} SET {assignments} WHERE {quote(fields[-1].column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, _params(connection, fields, rows))
        return int(cursor.rowcount)


def select_in(
    using: str, model: type[Model], fields: Sequence[str], where_in: Mapping[str, Collection[Any]]
) -> list[tuple[Any, ...]]:
    """``fields`` of the rows whose every ``where_in`` field holds one of the given values.

    Values come back as the database returns them, unconverted: fit for ids and NULL checks.
    """
    if not all(where_in.values()):
        return []
    connection = connections[using]
    quote = connection.ops.quote_name
    selected = ", ".join(quote(field.column) for field in _fields(model, fields))
    conditions = []
    params: list[Any] = []
    for field, values in zip(_fields(model, where_in), where_in.values(), strict=True):
        conditions.append(f"{quote(field.column)} IN ({', '.join(['%s'] * len(values))})")
        params.extend(values)
    table = quote(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {selected} FROM {table} WHERE {' AND '.join(conditions)}", params)
        return cursor.fetchall()


# Values of these types reach the driver unchanged, and dates and JSON go straight to the
# backend's adapter: Django's generic per-value conversion would cost more than the database.
_PASSED_THROUGH = frozenset(
    {"CharField", "TextField", "IntegerField", "PositiveIntegerField", "FloatField", "BigAutoField"}
)


def _fields(model: type[Model], names: Iterable[str]) -> list[Field[Any, Any]]:
    return [model._meta.get_field(name) for name in names]  # type: ignore[misc]


def _params(
    connection: BaseDatabaseWrapper,
    fields: Sequence[Field[Any, Any]],
    rows: Sequence[Mapping[str, Any]],
) -> list[list[Any]]:
    columns = [(field.name, _converter(connection, field)) for field in fields]
    return [
        [
            row[name] if convert is None or row[name] is None else convert(row[name])
            for name, convert in columns
        ]
        for row in rows
    ]


def _converter(
    connection: BaseDatabaseWrapper, field: Field[Any, Any]
) -> Callable[[Any], Any] | None:
    stored_as = getattr(field, "target_field", field)  # a foreign key is stored as its target
    kind = stored_as.get_internal_type()
    if kind in _PASSED_THROUGH:
        return None
    if kind == "DateTimeField":
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, JSONField):
        return partial(connection.ops.adapt_json_value, encoder=field.encoder)
    return partial(field.get_db_prep_save, connection=connection)
