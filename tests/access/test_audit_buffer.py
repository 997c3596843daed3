"""On PostgreSQL, outside a transaction, audit rows are written in batches off the request path.

These tests run with real commits (`transaction=True`), as a web worker does: nothing is written
before the batch is due, everything is written when it is (by size, by age, before audit records
are read, at stop), and a failed write keeps the rows for the next try.
"""

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from access import audit_buffer
from access.access_log import access_log_for_patient
from access.models import AuditRecord

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _flusher_stopped_after():
    yield
    audit_buffer.stop()


def _limits(settings, *, rows, ms):
    settings.ACCESS = {**settings.ACCESS, "AUDIT_BATCH_ROWS": rows, "AUDIT_FLUSH_MS": ms}


def _read_denied(client, n=1, patient="p-1"):
    for _ in range(n):
        client.get(f"/fhir/Patient/{patient}", headers={"Authorization": "Bearer nope"})


def _eventually(count, seconds=5.0):
    deadline = time.monotonic() + seconds
    while AuditRecord.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return AuditRecord.objects.count()


def test_rows_wait_for_their_batch_then_all_are_written(client, settings):
    _limits(settings, rows=1000, ms=2000)

    _read_denied(client, 3)

    assert AuditRecord.objects.count() == 0
    assert _eventually(3, seconds=10) == 3
    assert set(AuditRecord.objects.values_list("status", flat=True)) == {401}


def test_a_full_batch_is_written_without_waiting_for_its_age(client, settings):
    _limits(settings, rows=4, ms=600_000)

    _read_denied(client, 4)

    assert _eventually(4) == 4


def test_reading_the_log_writes_what_waits_first(client, settings):
    _limits(settings, rows=1000, ms=600_000)
    _read_denied(client, 2, patient="p-7")

    entries = access_log_for_patient(patient_id="p-7")

    assert len(entries) == 2


def test_a_flush_returns_once_the_batch_being_written_is_in(client, settings, monkeypatch):
    """The flusher thread may have taken the waiting rows a moment before: `flush` (before the
    log is read) must still return only when they are written."""
    _limits(settings, rows=1, ms=600_000)
    taken, release = threading.Event(), threading.Event()
    insert = audit_buffer._insert

    def slow_insert(rows):
        if threading.current_thread().name == "audit-flusher":
            taken.set()
            release.wait(10)
        insert(rows)

    monkeypatch.setattr(audit_buffer, "_insert", slow_insert)
    _read_denied(client)
    assert taken.wait(10)  # the flusher holds the row, not yet written
    threading.Timer(0.3, release.set).start()

    audit_buffer.flush()

    assert AuditRecord.objects.count() == 1


def test_a_failed_write_keeps_the_rows_for_the_next_try(client, settings):
    _limits(settings, rows=1000, ms=600_000)
    _read_denied(client, 2)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE access_auditrecord RENAME TO access_auditrecord_away")
    try:
        with pytest.raises(Exception, match="access_auditrecord"):
            audit_buffer.flush()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE access_auditrecord_away RENAME TO access_auditrecord")

    assert audit_buffer.flush() == 2
    assert AuditRecord.objects.count() == 2


def test_a_process_that_exits_writes_what_waits():
    database = connection.settings_dict["NAME"]
    script = (
        "import django;"
        "django.setup();"
        "from django.conf import settings;"
        f"settings.DATABASES['default']['NAME'] = {database!r};"
        "from django.test import Client;"
        "Client().get('/fhir/Patient/p-2', headers={'Authorization': 'Bearer nope'})"
    )
    env = {**os.environ, "AUDIT_FLUSH_MS": "600000", "AUDIT_BATCH_ROWS": "1000"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings_test")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr[-2000:]
    assert list(AuditRecord.objects.values_list("patient_id", "status")) == [("p-2", 401)]


def test_what_a_client_chose_is_fitted_to_the_columns_and_blocks_no_batch(client, settings):
    """A patient id longer than its column and a NUL in the query: before, the database refused
    the row, and with it every batch after, for as long as the process lived."""
    _limits(settings, rows=1000, ms=600_000)
    long_id = "p" * 100
    client.get(f"/fhir/Observation?patient={long_id}&status=a%00b", HTTP_AUTHORIZATION="Bearer x")
    _read_denied(client, patient="p-3")

    assert audit_buffer.flush() == 2
    first, second = AuditRecord.objects.order_by("id")
    assert first.patient_id == long_id[:64]
    assert "a\ufffdb" in first.query
    assert second.patient_id == "p-3"


def test_a_row_the_database_refuses_is_dropped_and_the_others_written(settings, caplog):
    _limits(settings, rows=1000, ms=600_000)
    good = _row(status=200)
    refused = _row(status=70_000)  # beyond the smallint column
    audit_buffer.record([good, refused, _row(status=404)])

    assert audit_buffer.flush() == 2

    assert sorted(AuditRecord.objects.values_list("status", flat=True)) == [200, 404]
    assert audit_buffer.flush() == 0  # nothing left waiting to fail again
    assert "audit row refused by the database, dropped" in caplog.text


def _row(*, status):
    values = dict.fromkeys(audit_buffer.columns(), "")
    values.update(
        request_id=uuid.uuid4(),
        recorded=datetime.now(UTC),
        action="R",
        interaction="read",
        outcome="0",
        status=status,
        method="GET",
        path="/fhir/Patient/p-1",
    )
    return audit_buffer.fit(tuple(values[name] for name in audit_buffer.columns()))


def test_tabs_newlines_and_backslashes_in_a_query_are_kept_and_make_no_extra_row(client, settings):
    _limits(settings, rows=1000, ms=600_000)
    forged = "a\tb\\c\r\n00000000-0000-0000-0000-000000000000\tforged"

    client.get("/fhir/Observation", {"status": forged}, HTTP_AUTHORIZATION="Bearer x")

    assert audit_buffer.flush() == 1
    assert AuditRecord.objects.get().query == f"status={forged}"
