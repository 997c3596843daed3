"""Crash safety: SIGKILL the server in the middle of a large transaction, restart it, find no trace.

A transaction Bundle of 2,000 entries is posted to the real server; as soon as the database shows
the transaction writing (PostgreSQL: another backend holds write locks on the resource and index
tables; SQLite: the write lock is held and the WAL grows), master and workers are killed with
SIGKILL: no rollback code runs. After a restart every store table (resources, versions,
compartments, every search index table) must hold exactly what it held before, no index row may
point at a missing resource, and the server must serve reads and writes, transactions included.
https://hl7.org/fhir/R4/http.html#trules
"""

import os
import sqlite3
import threading
import time
import uuid
from typing import Any

import pytest
import requests
from django.apps import apps
from django.db import models

from fhirstore.models import Resource
from tests.e2e.live import Database, Server, ServerPool

pytestmark = pytest.mark.e2e

ENTRIES = 2000
FHIR_JSON = "application/fhir+json"


def _store_tables() -> list[str]:
    return sorted(m._meta.db_table for m in apps.get_app_config("fhirstore").get_models())


def _resource_links() -> list[tuple[str, str]]:
    """(table, column) of every foreign key to the current-resource table."""
    return [
        (model._meta.db_table, field.column)
        for model in apps.get_app_config("fhirstore").get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.ForeignKey) and field.related_model is Resource
    ]


def _bundle(marker: str, size: int = ENTRIES) -> dict[str, Any]:
    """A Patient and `size` - 1 Observations about them, indexed on every common search type."""
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    entries = [
        {
            "fullUrl": patient_url,
            "resource": {
                "resourceType": "Patient",
                "name": [{"family": f"Crash-{marker}", "given": ["Kim"]}],
                "identifier": [{"system": "urn:e2e:crash", "value": marker}],
                "birthDate": "1970-01-01",
            },
            "request": {"method": "POST", "url": "Patient"},
        }
    ]
    for index in range(1, size):
        observation = {
            "resourceType": "Observation",
            "status": "final",
            "identifier": [{"system": "urn:e2e:crash", "value": f"{marker}-{index}"}],
            "code": {
                "coding": [
                    {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}
                ]
            },
            "subject": {"reference": patient_url},
            "effectiveDateTime": f"2024-01-{index % 28 + 1:02d}T08:00:00Z",
            "valueQuantity": {
                "value": 50 + index % 50,
                "unit": "/min",
                "system": "http://unitsofmeasure.org",
                "code": "/min",
            },
        }
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": observation,
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _orphans(database: Database) -> dict[str, int]:
    """Rows pointing at a resource that does not exist, and current rows without their version."""
    checks = {
        f"{table}.{column}": (
            f'SELECT COUNT(*) FROM "{table}" '
            f'WHERE "{column}" NOT IN (SELECT id FROM fhirstore_resource)'
        )
        for table, column in _resource_links()
    }
    checks["current without version"] = (
        "SELECT COUNT(*) FROM fhirstore_resource r WHERE NOT EXISTS (SELECT 1 FROM "
        "fhirstore_resourceversion v WHERE v.resource_id = r.id AND v.version = r.version)"
    )
    with database.connect() as connection:
        cursor = connection.cursor()
        found = {}
        for name, sql in checks.items():
            cursor.execute(sql)
            found[name] = int(cursor.fetchone()[0])
        return found


# --- seeing the transaction in flight ------------------------------------------------------------


def _postgres_writing(database: Database) -> bool:
    """Another backend holds write locks on the resource table and a search index table: it has
    inserted resources and is indexing them, uncommitted (locks last until the transaction ends)."""
    with database.connect() as connection:
        row = connection.execute(
            "SELECT COUNT(DISTINCT c.relname) FROM pg_locks l "
            "JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.pid <> pg_backend_pid() AND l.mode = 'RowExclusiveLock' AND l.granted "
            "AND c.relname IN ('fhirstore_resource', 'fhirstore_searchtoken')"
        ).fetchone()
        return bool(row[0] == 2)


def _sqlite_writing(database: Database, wal_before: int) -> bool:
    """The write lock is held and the WAL has grown: uncommitted pages are being written."""
    path = database.url.removeprefix("sqlite:///")
    wal = f"{path}-wal"
    if (os.path.getsize(wal) if os.path.exists(wal) else 0) <= wal_before:
        return False
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        connection.close()


def _wal_size(database: Database) -> int:
    wal = f"{database.url.removeprefix('sqlite:///')}-wal"
    return os.path.getsize(wal) if os.path.exists(wal) else 0


def _wait_until_writing(
    database: Database, sender: threading.Thread, timeout: float = 60.0
) -> float:
    """Seconds until the transaction was seen writing; fails if the request ended first."""
    started = time.monotonic()
    wal_before = _wal_size(database) if database.vendor == "sqlite" else 0
    while time.monotonic() - started < timeout:
        assert sender.is_alive(), (
            "the bundle finished before it could be interrupted; make it larger"
        )
        if database.vendor == "postgresql" and _postgres_writing(database):
            return time.monotonic() - started
        if database.vendor == "sqlite" and _sqlite_writing(database, wal_before):
            return time.monotonic() - started
        time.sleep(0.005)
    raise AssertionError("the transaction was never seen writing")


# --- the test ------------------------------------------------------------------------------------


def _post_in_background(
    server: Server, bundle: dict[str, Any]
) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["status"] = requests.post(
                server.base_url,
                json=bundle,
                timeout=120,
                headers={**server.auth, "Content-Type": FHIR_JSON},
            ).status_code
        except requests.RequestException as error:
            outcome["error"] = error

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender, outcome


def _difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {table: after[table] - before[table] for table in before}


def test_sigkill_during_a_large_transaction_leaves_no_partial_write(server_pool: ServerPool):
    server = server_pool.start(workers=2)
    auth = {**server.auth, "Content-Type": FHIR_JSON}
    seeded = requests.post(
        f"{server.base_url}/Patient", json={"resourceType": "Patient"}, headers=auth, timeout=30
    )
    assert seeded.status_code == 201
    tables = _store_tables()
    before = server.database.counts(tables)
    bundle = _bundle(uuid.uuid4().hex[:8])

    sender, outcome = _post_in_background(server, bundle)
    _wait_until_writing(server.database, sender)
    server.kill()
    sender.join(timeout=30)
    after_crash = server.database.counts(tables)
    server.start()

    assert "status" not in outcome, f"the bundle completed before the kill: {outcome}"
    assert _difference(after_crash, before) == dict.fromkeys(tables, 0)
    orphans = _orphans(server.database)
    assert orphans == dict.fromkeys(orphans, 0)
    read = requests.get(seeded.headers["Location"], headers=auth, timeout=30)
    assert read.status_code == 200
    assert read.content == seeded.content
    written = requests.post(
        f"{server.base_url}/Patient", json={"resourceType": "Patient"}, headers=auth, timeout=30
    )
    assert written.status_code == 201
    before_reload = server.database.counts(tables)
    reloaded = requests.post(server.base_url, json=_bundle("again", 20), headers=auth, timeout=60)
    assert reloaded.status_code == 200, reloaded.text[:2000]
    full = _difference(server.database.counts(tables), before_reload)
    assert full[Resource._meta.db_table] >= 20  # plus a Provenance, if the server records one
    per_entry = [t for t in tables if t.endswith(("token", "date", "reference", "quantity"))]
    assert all(full[t] >= 19 for t in per_entry), sorted(full.items())
