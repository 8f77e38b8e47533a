"""Bulk INSERT and UPDATE of a batch's rows, and id lookups.

Django's ``bulk_create`` compiles every value of every row into one big statement and
``bulk_update`` builds a CASE expression per field and row: for the engine's batches that costs
more than the database work itself. On PostgreSQL a batch is one statement over binary arrays
(``unnest``); on SQLite one prepared statement run once per row. These helpers take table,
column names and value conversion from the model, so the SQL stays as portable as the ORM's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, cast

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, JSONField, Model


def insert_each(using: str, model: type[Model], rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert one row per mapping of field names to values; all mappings hold the same fields."""
    if not rows:
        return
    connection = connections[using]
    fields = _fields(model, rows[0].keys())
    params = _params(connection, fields, rows)
    into = _insert_into(connection, model, fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"{into} SELECT * FROM {_unnest(connection, fields)}", _columns(params))
        else:
            cursor.executemany(f"{into} {_values(fields)}", params)


def insert_each_returning_ids(
    using: str, model: type[Model], rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """``insert_each``, returning the new rows' ids in order.

    One row per statement, as ``executemany`` with RETURNING: the order of the ids a single
    ``INSERT … SELECT`` returns is not guaranteed to be the order of its rows.
    """
    if not rows:
        return []
    connection = connections[using]
    fields = _fields(model, rows[0].keys())
    sql = f"{_insert_into(connection, model, fields)} {_values(fields)}"
    params = _params(connection, fields, rows)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            ids = []
            for row in params:
                cursor.execute(sql, row)
                ids.append(int(cursor.lastrowid))
            return ids
        raw = cursor.cursor  # psycopg's own: only it returns each row's RETURNING
        key = connection.ops.quote_name(cast(str, model._meta.pk.column))
        with connection.wrap_database_errors:
            raw.executemany(f"{sql} RETURNING {key}", params, returning=True)
            ids = [int(raw.fetchone()[0])]
            while raw.nextset():
                ids.append(int(raw.fetchone()[0]))
        return ids


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
    fields = _fields(model, [name for name in rows[0] if name != key] + [key])
    table = _table(connection, model)
    params = _params(connection, fields, rows)
    if connection.vendor == "postgresql":
        # One statement for the whole batch: a row per statement cost the conductor more
        # client time than everything else it does for a step.
        names = [f"c{i}" for i in range(len(fields))]
        new = [f"given.{name}" for name in names]
        assignments = ", ".join(
            f"{_quoted(connection, field)} = "
            + (templates or {})
            .get(field.name, "%s")
            .replace("%s", value)
            .format(column=f"{table}.{_quoted(connection, field)}")
            for field, value in zip(fields[:-1], new, strict=False)
        )
        given = f"{_unnest(connection, fields)} AS given({', '.join(names)})"
        sql = (
            f"UPDATE {table} SET {assignments} FROM {given} "
            f"WHERE {table}.{_quoted(connection, fields[-1])} = {new[-1]}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, _columns(params))
            return int(cursor.rowcount)
    assignments = ", ".join(
        f"{_quoted(connection, field)} = "
        + (templates or {}).get(field.name, "%s").format(column=_quoted(connection, field))
        for field in fields[:-1]
    )
    where = f"{_quoted(connection, fields[-1])} = %s"
    sql = f"UPDATE {table} SET {assignments} WHERE {where}"
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
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
    selected = ", ".join(_quoted(connection, field) for field in _fields(model, fields))
    conditions = []
    params: list[Any] = []
    for field, values in zip(_fields(model, where_in), where_in.values(), strict=True):
        placeholders = ", ".join(["%s"] * len(values))
        conditions.append(f"{_quoted(connection, field)} IN ({placeholders})")
        params.extend(values)
    sql = f"SELECT {selected} FROM {_table(connection, model)} WHERE {' AND '.join(conditions)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# Values of these types reach the driver unchanged, and dates and JSON go straight to the
# backend's adapter: Django's generic per-value conversion would cost more than the database.
_PASSED_THROUGH = frozenset(
    {"CharField", "TextField", "IntegerField", "PositiveIntegerField", "BigAutoField"}
)


def _insert_into(
    connection: BaseDatabaseWrapper, model: type[Model], fields: Sequence[Field[Any, Any]]
) -> str:
    columns = ", ".join(_quoted(connection, field) for field in fields)
    return f"INSERT INTO {_table(connection, model)} ({columns})"


def _values(fields: Sequence[Field[Any, Any]]) -> str:
    return f"VALUES ({', '.join(['%s'] * len(fields))})"


def _unnest(connection: BaseDatabaseWrapper, fields: Sequence[Field[Any, Any]]) -> str:
    """PostgreSQL's rows from one array per column, sent in binary: psycopg escapes each element
    of a text array with a regular expression, which would cost as much as the statements."""
    arrays = ", ".join(f"%b::{_array_element(connection, field)}[]" for field in fields)
    return f"unnest({arrays})"


def _array_element(connection: BaseDatabaseWrapper, field: Field[Any, Any]) -> str:
    # An explicit cast to varchar(n) cuts a longer string short; text leaves the column's own
    # length check to refuse it.
    stored = str(field.db_type(connection))
    return "text" if stored.startswith("varchar") else stored


def _columns(params: Sequence[Sequence[Any]]) -> list[list[Any]]:
    return [list(column) for column in zip(*params, strict=True)]


def _table(connection: BaseDatabaseWrapper, model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _quoted(connection: BaseDatabaseWrapper, field: Field[Any, Any]) -> str:
    # Every field of these models has a column; the stubs allow None for virtual fields.
    return connection.ops.quote_name(cast(str, field.column))


def _fields(model: type[Model], names: Iterable[str]) -> list[Field[Any, Any]]:
    # Names are the model's own fields, never reverse relations.
    return [cast("Field[Any, Any]", model._meta.get_field(name)) for name in names]


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
    if kind == "FloatField":
        # A PostgreSQL array holds one type: a column of 1 and 2.5 must be all floats.
        return float
    if kind == "DateTimeField":
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, JSONField):
        return partial(connection.ops.adapt_json_value, encoder=field.encoder)
    return partial(field.get_db_prep_save, connection=connection)
