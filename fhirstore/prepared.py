"""Cursors for the store's hottest fixed statements, parsed and planned once per connection.

Django binds parameters on the client and leaves psycopg's prepared statements off, so
PostgreSQL parses and plans every statement it receives. For a read by id that costs more
than the read itself: 180 µs of server CPU per statement bound on the client, against 66 µs
prepared (bench/RESULTS.md, "prepared statements"). `prepared_cursor()` gives a Django cursor
(`connection.execute_wrappers` still see it) whose statements psycopg prepares on first use and
keeps per connection; while queries are logged (DEBUG, tests counting queries) it is a plain one,
as the log cannot show a prepared statement's text. Only statements whose text repeats go through
it (a read by id, the token check, the page query of each search shape): each distinct text takes
a slot of psycopg's per-connection cache of prepared statements (the last 100 are kept).

Transaction-mode connection poolers older than PgBouncer 1.21 cannot carry prepared
statements; `DATABASE_PREPARED_STATEMENTS=0` turns them off.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper


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
