"""Bulk ingest of NDJSON: the one fast path `load_fhir` and `$import` share.

A file is read line by line in batches of `BATCH` lines, so memory stays flat whatever its size.
Each batch is parsed and fully validated first, outside any transaction (the costly part, and on
SQLite a write transaction holds the database lock); then its writes go in one transaction: new
resources (no id, or an id not stored yet) through `bulk.create_many`, a few INSERTs for the
whole batch, and resources whose id is already stored as updates that keep the id (PUT
semantics). A line that fails (bad JSON, not a resource, invalid, not permitted) becomes a
`LineError` naming its line, and the others still load (batch semantics); the caller can make the
whole file all or nothing instead by running every batch in one transaction and stopping at the
first error (`atomic`). https://hl7.org/fhir/uv/bulkdata/ (ingest), https://hl7.org/fhir/R4/http.html#update
"""

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.db import transaction

from fhirstore import jsontext, writes
from fhirstore.bundles.bulk import NewResource, create_many, prepare_new
from fhirstore.errors import Conflict, FhirError
from fhirstore.models import Resource
from fhirstore.repository import Repository, check_id, check_type

BATCH = 500


@dataclass(frozen=True)
class LineError:
    """Why one line was not loaded (an OperationOutcome issue's code and diagnostics)."""

    line: int
    code: str
    diagnostics: str

    def outcome(self, source: str) -> dict[str, Any]:
        """The error as an OperationOutcome naming the file and line."""
        return {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": self.code,
                    "diagnostics": f"{source} line {self.line}: {self.diagnostics}",
                }
            ],
        }


@dataclass
class Progress:
    """What an ingest did so far: the last line read, resources written by type, line errors."""

    line: int = 0
    written: Counter[str] = field(default_factory=Counter)
    errors: list[LineError] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.written.values())

    def add(self, batch: "Progress") -> None:
        """Count a batch in (its line is the furthest read)."""
        self.line = batch.line
        self.written.update(batch.written)
        self.errors.extend(batch.errors)


class IngestFailed(FhirError):
    """An all-or-nothing ingest met a bad line: nothing was stored."""


@dataclass
class _Batch:
    new: list[tuple[int, NewResource]] = field(default_factory=list)
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def read_batches(
    stream: IO[bytes], *, skip: int = 0, size: int = BATCH
) -> Iterator[list[tuple[int, bytes]]]:
    """(line number, line) lists of up to `size` non-blank lines, after the first `skip` lines."""
    batch: list[tuple[int, bytes]] = []
    for number, line in enumerate(stream, start=1):
        if number <= skip or not line.strip():
            continue
        batch.append((number, line))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _parse(repo: Repository, number: int, line: bytes) -> dict[str, Any]:
    doc = jsontext.loads(line)
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise FhirError("is not a FHIR resource (no resourceType)", code="structure")
    check_type(str(doc["resourceType"]))
    if "id" in doc:
        check_id(str(doc["id"]))
    repo.check_create(doc=doc)
    return doc


def _stored_ids(docs: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """(type, id) of the docs whose id is already taken (one query per type)."""
    wanted: dict[str, set[str]] = {}
    for doc in docs:
        if doc.get("id"):
            wanted.setdefault(doc["resourceType"], set()).add(str(doc["id"]))
    found: set[tuple[str, str]] = set()
    for resource_type, ids in wanted.items():
        rows = Resource.objects.filter(resource_type=resource_type, logical_id__in=ids)
        found.update((resource_type, i) for i in rows.values_list("logical_id", flat=True))
    return found


def prepare_batch(*, repo: Repository, lines: list[tuple[int, bytes]], moment: datetime) -> _Batch:
    """Parse and validate a batch; sort it into new resources, updates and line errors."""
    batch, docs = _Batch(), []
    for number, line in lines:
        try:
            docs.append((number, _parse(repo, number, line)))
        except FhirError as error:
            batch.errors.append(LineError(number, error.code, error.diagnostics))
    stored, seen = _stored_ids(doc for _, doc in docs), set()
    for number, doc in docs:
        key = (doc["resourceType"], str(doc.get("id") or ""))
        if key[1] and (key in stored or key in seen):
            batch.updates.append((number, doc))  # validated when written, against its version
            continue
        seen.add(key)
        try:
            logical_id = key[1] or writes.new_id()
            new = prepare_new(doc=doc, logical_id=logical_id, moment=moment, method="POST")
            batch.new.append((number, new))
        except FhirError as error:
            batch.errors.append(LineError(number, error.code, error.diagnostics))
    return batch


def _update(repo: Repository, number: int, doc: dict[str, Any], atomic: bool) -> LineError | None:
    try:
        with transaction.atomic():
            repo.update(resource_type=doc["resourceType"], logical_id=str(doc["id"]), doc=doc)
    except FhirError as error:
        if atomic:
            raise IngestFailed(f"line {number}: {error.diagnostics}", code=error.code) from None
        return LineError(number, error.code, error.diagnostics)
    return None


def write_batch(
    *, repo: Repository, batch: _Batch, moment: datetime, atomic: bool, progress: Progress
) -> None:
    """Store a prepared batch (inside the caller's transaction) and add it to `progress`."""
    news = [new for _, new in batch.new]
    try:
        with transaction.atomic():
            create_many(news, moment=moment)
    except Conflict:
        # An id was taken meanwhile: store the batch's keyed resources one by one instead.
        batch.updates = [(n, new.doc) for n, new in batch.new] + batch.updates
        news = []
    progress.written.update(new.resource_type for new in news)
    for number, doc in batch.updates:
        error = _update(repo, number, doc, atomic)
        if error is None:
            progress.written[doc["resourceType"]] += 1
        else:
            progress.errors.append(error)


def ingest_ndjson(
    *,
    repo: Repository,
    stream: IO[bytes],
    atomic: bool = False,
    skip: int = 0,
    on_batch: Callable[[Progress], None] | None = None,
    size: int = BATCH,
) -> Progress:
    """Load an NDJSON stream; returns the whole stream's progress.

    `on_batch(step)` runs inside each batch's transaction with what that batch did (a job saves
    its position there). `atomic`: one transaction for the whole stream, and IngestFailed at the
    first bad line. `skip`: lines already loaded (a resumed job).
    """
    progress = Progress(line=skip)
    with transaction.atomic() if atomic else nullcontext():
        for lines in read_batches(stream, skip=skip, size=size):
            moment = writes.now()
            batch = prepare_batch(repo=repo, lines=lines, moment=moment)
            if atomic and batch.errors:
                first = batch.errors[0]
                raise IngestFailed(f"line {first.line}: {first.diagnostics}", code=first.code)
            step = Progress(line=lines[-1][0], errors=list(batch.errors))
            with transaction.atomic():
                write_batch(repo=repo, batch=batch, moment=moment, atomic=atomic, progress=step)
                if on_batch is not None:
                    on_batch(step)
            progress.add(step)
    return progress
