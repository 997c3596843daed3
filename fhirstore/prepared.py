"""Cursors for the store's hottest fixed statements, parsed and planned once per connection.

Django binds parameters on the client and leaves psycopg's prepared statements off, so
PostgreSQL parses and plans every statement it receives. For a read by id that costs more
than the read itself: 180 µs of server CPU per statement bound on the client, against 66 µs
prepared (bench/RESULTS.md, "prepared statements"). `prepared_cursor()` gives a Django cursor
(`connection.execute_wrappers` still see it) whose statements psycopg prepares on first use and
keeps per connection; while queries are logged (DEBUG, tests counting queries) it is a plain one,
as the log cannot show a prepared statement's text. Only statements whose text repeats go through
it (a read by id, the token check, the page query of each pinned search shape, the rounds of
a sorted token search, one patient's `$everything`): each distinct text takes a slot of
psycopg's per-connection cache of prepared statements (the last 100 are kept).

Every statement run through it must be safe in a generic plan, one made without its values: it
reads a bounded number of rows whatever they are (tests check the plans with
`plan_cache_mode = force_generic_plan`). Connections use generic plans from the first run
(`use_generic_plans`): PostgreSQL's own choice kept planning a sorted search for a code nothing
carries on every run, as the plan made for no rows looked cheaper than the generic one, and
planning cost more than running it. Statements Django runs are bound on the client, never
prepared, and are planned each time as before.

Transaction-mode connection poolers older than PgBouncer 1.21 cannot carry prepared
statements; `DATABASE_PREPARED_STATEMENTS=0` turns them off.
"""

import itertools
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import pq


def _enabled(db: BaseDatabaseWrapper) -> bool:
    return db.vendor == "postgresql" and getattr(settings, "DATABASE_PREPARED_STATEMENTS", True)


# Django's own cursors bind on the client and are never prepared; this threshold keeps any other
# server-binding cursor from preparing statements it was not asked to.
_ONLY_WHEN_ASKED = 2**31 - 1


class _PreparingCursor(psycopg.Cursor):
    """psycopg's server-binding cursor, asked to prepare every statement it runs."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        kwargs["prepare"] = True
        return super().execute(query, params, **kwargs)


def use_generic_plans(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`connection_created` receiver: prepared statements on this connection run their generic
    plan from the first execution."""
    if _enabled(connection):
        with connection.cursor() as cursor:
            cursor.execute("SET plan_cache_mode = force_generic_plan")


@contextmanager
def prepared_cursor() -> Iterator[Any]:
    """A cursor of the default connection; on PostgreSQL its statements are prepared."""
    db = connections[DEFAULT_DB_ALIAS]  # one lookup: each `connection.x` costs a context-local one
    if not _enabled(db) or db.queries_logged:  # the query log wants the statement text
        with db.cursor() as cursor:
            yield cursor
        return
    db.close_if_health_check_failed()
    db.ensure_connection()
    raw_connection = db.connection
    if raw_connection.prepare_threshold is None:  # Django's "never"
        raw_connection.prepare_threshold = _ONLY_WHEN_ASKED
    raw: Any = _PreparingCursor(raw_connection)
    db.validate_thread_sharing()
    with db.make_cursor(raw) as cursor:
        yield cursor


def first_row(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of `sql` (placeholders `%s`), for the hottest single-row reads.

    On PostgreSQL outside a transaction it runs as a prepared statement straight through libpq,
    its values coming back as text (None for NULL): psycopg's cursor costs a read by id about
    100 µs of CPU more than the call itself (bench/RESULTS.md). Elsewhere (SQLite, inside a
    transaction, queries logged, prepared statements off) it runs through an ordinary cursor and
    the values come typed by the driver; callers accept both."""
    db = connections[DEFAULT_DB_ALIAS]
    if not _enabled(db) or db.queries_logged or db.in_atomic_block:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return tuple(cursor.fetchone() or ()) or None
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = db.connection
    values = [_text(value) for value in params]
    result = raw.pgconn.exec_prepared(_statement(raw, sql), values)
    if _gone(result):
        # Dropped behind our back: psycopg sends DEALLOCATE ALL after a rollback when it holds
        # prepared statements of its own (a pooler's DISCARD ALL does the same). Outside a
        # transaction the failed call changed nothing: prepare again and run it once more.
        _statements(raw).pop(sql, None)
        result = raw.pgconn.exec_prepared(_statement(raw, sql), values)
    if result.status != pq.ExecStatus.TUPLES_OK:
        _statements(raw).pop(sql, None)
        db.errors_occurred = True
        message = (result.error_message or raw.pgconn.error_message).decode(errors="replace")
        raise DatabaseError(message.strip() or "the prepared statement failed")
    if not result.ntuples:
        return None
    return tuple(_value(result.get_value(0, column)) for column in range(result.nfields))


_prepared: "weakref.WeakKeyDictionary[Any, dict[str, bytes]]" = weakref.WeakKeyDictionary()
_names = itertools.count()
_UNDEFINED_STATEMENT = b"26000"  # SQLSTATE invalid_sql_statement_name


def _gone(result: Any) -> bool:
    """Whether `result` failed because the prepared statement no longer exists."""
    if result.status != pq.ExecStatus.FATAL_ERROR:
        return False
    return bool(result.error_field(pq.DiagnosticField.SQLSTATE) == _UNDEFINED_STATEMENT)


def _statements(raw: Any) -> dict[str, bytes]:
    return _prepared.setdefault(raw, {})


def _statement(raw: Any, sql: str) -> bytes:
    """The name `sql` is prepared under on connection `raw`, preparing it on first use."""
    statements = _statements(raw)
    name = statements.get(sql)
    if name is None:
        name = f"fhirstore_{next(_names)}".encode()
        result = raw.pgconn.prepare(name, _numbered(sql).encode())
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise DatabaseError(result.error_message.decode(errors="replace").strip())
        statements[sql] = name
    return name


def _numbered(sql: str) -> str:
    """`%s` placeholders as PostgreSQL's `$1, $2, ...`."""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        raise ValueError("first_row takes only %s placeholders")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)) + parts[-1]


def _text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, str | int):
        return str(value).encode()
    if isinstance(value, datetime):
        return value.isoformat().encode()
    raise TypeError(f"first_row cannot send a {type(value).__name__}")


def _value(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()
