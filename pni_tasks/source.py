"""The PostgreSQL side of a run: one read-only session whose queries all see one snapshot.

A run opens a single :class:`Source`. Its connection is in a ``REPEATABLE READ, READ ONLY``
transaction with the time zone set to UTC, so every query of the run (the lessons, their
passages and their questions, the topic aggregates) sees the database as it was at the first
query, and ``timestamptz`` values arrive as UTC datetimes.

Plugins read through :meth:`Source.stream`, which runs a ``psycopg2.sql`` query through its own
server-side (named) cursor and yields plain dict rows, ``batch_size`` rows per round trip.
Several streams can be open at once and consumed interleaved, which is how the built-in
plugins merge-join a parent table with its children in a bounded number of ordered queries.

Values are exact: ``numeric`` arrives as :class:`~decimal.Decimal` (psycopg2's default),
``json``/``jsonb`` numbers are parsed as ``Decimal`` (``NaN`` and ``Infinity`` too, so the
transformers can refuse them), and ``real``/``double precision`` arrive as ``Decimal`` of their
text form rather than as floats. The adapters are registered on the connection only, never
globally, so they do not change other psycopg2 users in the same process.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras
from psycopg2 import sql

from pni_tasks.config import PgCredentials
from pni_tasks.errors import SourceError

# Type OIDs of PostgreSQL's float types and their arrays (pg_type.oid, stable across versions).
FLOAT_OIDS = (700, 701)
FLOAT_ARRAY_OIDS = (1021, 1022)

_LABEL_LENGTH = 120


def exact_json_loads(text: str | bytes) -> Any:
    """Parse JSON with every number exact: decimals, ``NaN`` and ``Infinity`` become ``Decimal``."""
    if isinstance(text, str):
        return _EXACT_JSON.decode(text)
    return json.loads(text, parse_float=Decimal, parse_constant=Decimal)


# One decoder for every value: json.loads with these options builds a new one per call (inv bench).
_EXACT_JSON = json.JSONDecoder(parse_float=Decimal, parse_constant=Decimal)


def _float_as_decimal(value: str | None, cursor: Any) -> Decimal | None:
    # PostgreSQL prints floats in their shortest exact form (PG 12+), so the text is the number.
    return None if value is None else Decimal(value)


def _register_exact_types(connection: psycopg2.extensions.connection) -> None:
    """Exact numbers for this connection only (the psycopg2 defaults elsewhere stay untouched)."""
    psycopg2.extras.register_default_json(connection, loads=exact_json_loads)
    psycopg2.extras.register_default_jsonb(connection, loads=exact_json_loads)
    float_type = psycopg2.extensions.new_type(FLOAT_OIDS, "PNI_FLOAT_AS_DECIMAL", _float_as_decimal)
    psycopg2.extensions.register_type(float_type, connection)
    for array_oid in FLOAT_ARRAY_OIDS:
        array_type = psycopg2.extensions.new_array_type((array_oid,), f"PNI_FLOAT_ARRAY_{array_oid}", float_type)
        psycopg2.extensions.register_type(array_type, connection)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _split_table_name(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return (schema or None, name)


class Source:
    """A read-only PostgreSQL session for one run (REPEATABLE READ, read only, timezone UTC)
    so every query of a run sees one snapshot."""

    def __init__(self, connection: psycopg2.extensions.connection, *, batch_size: int,
                 description: str = "PostgreSQL", secrets: Sequence[str] = ()):
        self._connection = connection
        self.batch_size = batch_size
        self.description = description
        self._secrets = tuple(secrets)
        self._cursor_numbers = itertools.count(1)

    # ---------------------------------------------------------------------------------------------
    # Opening and closing
    # ---------------------------------------------------------------------------------------------

    @classmethod
    def connect(cls, creds: PgCredentials, *, batch_size: int, connect_timeout: float) -> Source:
        """Open the run's session; any failure is one line naming the server, never the password."""
        secrets = creds.secrets()
        try:
            connection = psycopg2.connect(**creds.connect_kwargs(connect_timeout))
        except psycopg2.Error as exc:
            reason = _scrub(_first_line(exc), secrets)
            raise SourceError(
                f"cannot connect to PostgreSQL {creds.describe()}: {reason}: check the host, port, "
                "database and credentials ([postgres-creds], PG* variables or PNI_PG_DSN) and that the server is up"
            ) from None
        try:
            cls._start_snapshot_session(connection)
        except psycopg2.Error as exc:
            connection.close()
            raise SourceError(
                f"cannot set up the read session on PostgreSQL {creds.describe()}: "
                f"{_scrub(_first_line(exc), secrets)}: check the user's privileges"
            ) from None
        return cls(connection, batch_size=batch_size, description=creds.describe(), secrets=secrets)

    @staticmethod
    def _start_snapshot_session(connection: psycopg2.extensions.connection) -> None:
        # SET runs outside the run's transaction so that the snapshot is taken by the first real query.
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        connection.set_session(
            isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ,
            readonly=True,
            autocommit=False,
        )
        _register_exact_types(connection)

    def close(self) -> None:
        """End the read transaction and the connection (nothing was written, so nothing is lost)."""
        if self._connection.closed:
            return
        try:
            self._connection.rollback()
        except psycopg2.Error:
            pass  # the connection is already broken; closing is all that is left to do
        finally:
            self._connection.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------
    # Reading
    # ---------------------------------------------------------------------------------------------

    def stream(self, query: sql.Composable, params: Sequence | Mapping | None = None, *,
               label: str | None = None) -> Iterator[dict[str, Any]]:
        """Yield the rows of ``query`` as dicts through a server-side cursor, ``batch_size`` at a time.

        Each call has its own uniquely named cursor, so several streams can be consumed
        interleaved. The query runs when the first row is asked for. ``label`` names the query in
        error messages (default: the start of its SQL).
        """
        if not isinstance(query, sql.Composable):
            raise TypeError("Source.stream takes a psycopg2.sql query (compose names with sql.Identifier)")
        cursor_name = f"pni_stream_{next(self._cursor_numbers)}"
        return self._rows(query, params, cursor_name, label)

    def _rows(self, query: sql.Composable, params: Sequence | Mapping | None, cursor_name: str,
              label: str | None) -> Iterator[dict[str, Any]]:
        cursor = None
        try:
            cursor = self._connection.cursor(name=cursor_name)
            cursor.itersize = self.batch_size
            cursor.execute(query, params)
            names: list[str] | None = None
            for row in cursor:
                if names is None:  # a named cursor knows its columns only after the first fetch
                    names = [column.name for column in cursor.description]
                yield dict(zip(names, row, strict=True))
        except psycopg2.Error as exc:
            raise self._read_error(exc, label or self._query_label(query)) from None
        finally:
            if cursor is not None:
                _close_quietly(cursor)

    def columns(self, table: str) -> dict[str, str] | None:
        """Column name -> data type (``information_schema``) of ``table``; ``None`` when it is missing.

        ``table`` may be ``schema.table``; a bare name is looked up in the current schema.
        """
        schema, name = _split_table_name(table)
        schema_test = sql.SQL("table_schema = %(schema)s") if schema else sql.SQL("table_schema = current_schema()")
        query = sql.SQL(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = %(name)s AND {} ORDER BY ordinal_position"
        ).format(schema_test)
        rows = list(self.stream(query, {"schema": schema, "name": name}, label=f"columns of {table}"))
        if not rows:
            return None
        return {row["column_name"]: row["data_type"] for row in rows}

    def row_count(self, table: str) -> int:
        """The number of rows of ``table`` in the run's snapshot."""
        schema, name = _split_table_name(table)
        identifier = sql.Identifier(schema, name) if schema else sql.Identifier(name)
        query = sql.SQL("SELECT count(*) AS n FROM {}").format(identifier)
        (row,) = self.stream(query, label=f"row count of {table}")
        return row["n"]

    # ---------------------------------------------------------------------------------------------
    # Errors
    # ---------------------------------------------------------------------------------------------

    def _query_label(self, query: sql.Composable) -> str:
        try:
            text = query.as_string(self._connection)
        except Exception:  # a broken connection cannot quote: the type of query is enough then
            return "a query"
        text = re.sub(r"\s+", " ", text).strip()
        return text if len(text) <= _LABEL_LENGTH else text[: _LABEL_LENGTH - 3] + "..."

    def _read_error(self, exc: psycopg2.Error, label: str) -> SourceError:
        reason = _scrub(_first_line(exc), self._secrets)
        if self._connection.closed or isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
            return SourceError(
                f"lost the connection to PostgreSQL {self.description} while reading {label}: {reason}: "
                "rerun the command"
            )
        return SourceError(
            f"PostgreSQL {self.description} refused {label}: {reason}: check the source schema (inv validate)"
        )


def _close_quietly(cursor: psycopg2.extensions.cursor) -> None:
    # Closing fails only on a broken connection or an aborted transaction, whose own error
    # has already been raised (or the stream was abandoned, which needs no error at all).
    try:
        cursor.close()
    except psycopg2.Error:
        pass
