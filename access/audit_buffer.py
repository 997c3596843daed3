"""Audit rows written in batches, off the request path, on PostgreSQL.

A request hands its audit rows to `record` and answers at once. A flusher thread in the process
writes what is waiting in one COPY when `AUDIT_BATCH_ROWS` rows wait or the oldest has
waited `AUDIT_FLUSH_MS`; `flush` does it at once (before audit records are read, and at process
exit). One COPY for many requests costs PostgreSQL a fraction of one per request, and the
request thread no longer waits for it.

What that trades: rows not yet flushed are lost if the process is killed outright (SIGKILL, OOM)
within `AUDIT_FLUSH_MS` of the requests, never half-written; and another process's newest rows
become readable up to `AUDIT_FLUSH_MS` later. When the database cannot take them, rows stay queued
and the next flush retries; past `_MAX_WAITING` rows a request writes its own rows before it
answers, so a database outage slows requests instead of losing their records. Rows are fitted to
their columns before they are queued (`fit`); should the database still refuse a batch for what
a row holds, the batch is written row by row and only the refused row is dropped, with an error
logged.
"""

import atexit
import functools
import logging
import os
import threading
import time
from datetime import datetime
from typing import Any

from django.db import DataError, IntegrityError, connection, transaction

from access.conf import access_settings
from fhirstore.bundles.pgcopy import copy_text

logger = logging.getLogger("access.audit")

_MAX_WAITING = 20_000


class _Queue:
    """The rows waiting in this process and the thread that writes them."""

    def __init__(self) -> None:
        self.rows: list[bytes] = []  # COPY text lines
        self.oldest = 0.0
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        # Held while a batch is written, so that a `flush` returns only once every row queued
        # before it is in the table, even a batch the flusher thread took a moment earlier.
        self.writing = threading.Lock()
        self.pid = os.getpid()
        self.thread: threading.Thread | None = None
        self.stopping = False


_queue = _Queue()


def _limits() -> tuple[int, float]:
    access = access_settings()
    return access["AUDIT_BATCH_ROWS"], access["AUDIT_FLUSH_MS"] / 1000


def record(rows: list[tuple[Any, ...]]) -> None:
    """Queue `rows` (values in `columns()` order, as `fit` gives them) for the next batch.

    Each row is queued as its line of COPY text, made here by the request that owns it: writing
    a batch is then one write of bytes. Made by the flusher, the lines of a batch held the
    process's interpreter lock for 2-3 ms at a time, and every request in the process waited;
    a request's own line costs it a few microseconds (bench/RESULTS.md, "Eighth session")."""
    lines = [_copy_line(row) for row in rows]
    queue = _current_queue()
    batch_rows, _ = _limits()
    with queue.lock:
        first = not queue.rows
        if first:
            queue.oldest = time.monotonic()
        queue.rows.extend(lines)
        waiting = len(queue.rows)
        if first or waiting >= batch_rows:  # start the clock, or the batch is full
            queue.wake.notify()
    if waiting > _MAX_WAITING:
        flush()


def flush() -> int:
    """Write every row waiting in this process now; return how many were written."""
    queue = _current_queue()
    with queue.writing:
        with queue.lock:
            rows, queue.rows = queue.rows, []
        if not rows:
            return 0
        try:
            _insert(rows)
        except (DataError, IntegrityError):
            return _insert_each(rows, queue)
        except Exception:
            with queue.lock:
                queue.rows[:0] = rows
            raise
        return len(rows)


def _insert_each(rows: list[bytes], queue: _Queue) -> int:
    """Write `rows` one by one after their batch was refused for what one of them holds, so that
    one bad row cannot hold back every record after it: a row the database refuses on its own is
    dropped and logged (its kind of error only). Rows not yet tried when the database cannot be
    reached wait for the next try."""
    written = 0
    for index, row in enumerate(rows):
        try:
            _insert([row])
        except (DataError, IntegrityError) as error:
            logger.error("audit row refused by the database, dropped: %s", type(error).__name__)
            continue
        except Exception:
            with queue.lock:
                queue.rows[:0] = rows[index:]
            raise
        written += 1
    return written


def _current_queue() -> _Queue:
    """This process's queue, with its flusher running (a forked worker starts its own)."""
    global _queue
    if _queue.pid != os.getpid():
        _queue = _Queue()
    if _queue.thread is None:
        with _queue.lock:
            if _queue.thread is None:
                _queue.thread = threading.Thread(
                    target=_run, args=(_queue,), name="audit-flusher", daemon=True
                )
                _queue.thread.start()
    return _queue


def _run(queue: _Queue) -> None:
    """Flusher loop: sleep until rows wait, let a batch gather, write it; on `stop`, write what
    is left and close this thread's database connection."""
    try:
        while _batch_due(queue):
            # As a request starts: a connection PostgreSQL has dropped (a restart) or one past
            # its age is closed before the batch's transaction opens a new one, rather than
            # found out by the batch failing.
            connection.close_if_unusable_or_obsolete()
            connection.close_if_health_check_failed()
            _flush_or_log()
        _flush_or_log()
    finally:
        connection.close()


def _batch_due(queue: _Queue) -> bool:
    """Wait until a batch is due; False when the flusher is asked to stop."""
    batch_rows, delay = _limits()
    with queue.lock:
        while not queue.rows and not queue.stopping:
            queue.wake.wait()
        due = queue.oldest + delay - time.monotonic()
        if due > 0 and len(queue.rows) < batch_rows and not queue.stopping:
            queue.wake.wait(due)
        return not queue.stopping


def _flush_or_log() -> None:
    try:
        flush()
    except Exception as error:
        # Rows stay queued for the next round; say what failed, never what was in them.
        logger.error("audit batch not written, will retry: %s", type(error).__name__)
        connection.close()
        time.sleep(_limits()[1])


def stop() -> None:
    """Write what waits and stop this process's flusher (at exit; tests that drop the database)."""
    queue = _queue
    if queue.pid != os.getpid() or queue.thread is None:
        return
    with queue.lock:
        queue.stopping = True
        queue.wake.notify()
    queue.thread.join(timeout=10)
    with queue.lock:
        queue.thread = None
        queue.stopping = False


def _insert(lines: list[bytes]) -> None:
    """COPY `lines` in a transaction whose commit need not wait for its WAL flush.

    COPY rather than a multi-row INSERT: building and parsing an INSERT of a few thousand
    parameters held the process's GIL for milliseconds, which every request in it waited out."""
    from access.models import AuditRecord

    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # inside a caller's transaction this would change that commit too
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        copy_text(AuditRecord, _COLUMNS, b"".join(lines))


# COPY's text format: tab between columns, a newline after each row, and these escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(row: tuple[Any, ...]) -> bytes:
    """`row` as one line of COPY text (every column has a value; none is NULL)."""
    fields = [_copy_field(value) for value in row]
    line = "\t".join(fields)
    # Most rows hold nothing to escape: one look at the whole line, not four at each field.
    if line.count("\t") != len(fields) - 1 or "\\" in line or "\n" in line or "\r" in line:
        line = "\t".join(field.translate(_COPY_ESCAPES) for field in fields)
    return (line + "\n").encode()


def _copy_field(value: Any) -> str:
    if type(value) is str:
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # the request id (UUID) and the status (int)


def columns() -> tuple[str, ...]:
    """The audit record columns a queued row holds, in order."""
    return _COLUMNS


def fit(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """`row` as its columns can hold it: text cut to the column's length and any NUL shown as
    U+FFFD (PostgreSQL's text cannot hold one). A request's path, query and the patient ids it
    names are the client's to choose, and a row the database refuses fails its whole batch."""
    fitted = []
    for value, limit in zip(row, _lengths(), strict=True):
        if type(value) is str:
            if "\x00" in value:
                value = value.replace("\x00", "\ufffd")
            if limit is not None and len(value) > limit:
                value = value[:limit]
        fitted.append(value)
    return tuple(fitted)


@functools.cache
def _lengths() -> tuple[int | None, ...]:
    from access.models import AuditRecord

    return tuple(
        getattr(AuditRecord._meta.get_field(name), "max_length", None) for name in _COLUMNS
    )


_COLUMNS = (
    "request_id",
    "patient_id",
    "recorded",
    "action",
    "interaction",
    "outcome",
    "status",
    "method",
    "path",
    "query",
    "actor",
    "actor_name",
    "client_id",
    "client_name",
    "on_behalf_of",
    "purpose",
    "address",
    "entity",
)


atexit.register(stop)
