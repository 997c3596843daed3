"""Bulk ingest of NDJSON: the one fast path `load_fhir` and `$import` share.

A file is read line by line in batches of `BATCH` lines, so memory stays flat whatever its size.
Each batch is parsed and fully validated first, outside any transaction (the costly part, and on
SQLite a write transaction holds the database lock), a batch ahead of the writer in a thread
or in other processes, so validation and writing overlap; then its writes go in one transaction: new
resources (no id, or an id not stored yet) through `bulk.create_many`, a few INSERTs for the
whole batch, and resources whose id is already stored as updates that keep the id (PUT
semantics). A line that fails (bad JSON, not a resource, invalid, not permitted) becomes a
`LineError` naming its line, and the others still load (batch semantics); the caller can make the
whole file all or nothing instead by running every batch in one transaction and stopping at the
first error (`atomic`). https://hl7.org/fhir/uv/bulkdata/ (ingest), https://hl7.org/fhir/R4/http.html#update
"""

import multiprocessing
import sys
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import django
from django.db import transaction

from fhirstore import jsontext, writes
from fhirstore.bundles.bulk import NewResource, create_many, prepare_new
from fhirstore.errors import Conflict, FhirError
from fhirstore.models import Resource
from fhirstore.repository import Repository, check_id, check_type

BATCH = 500
SWITCH_INTERVAL = 0.0005  # seconds; see _Checker._start


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


@dataclass(frozen=True)
class Checked:
    """A line that parsed and validated as version 1 `new` (stamped, serialised, its index rows
    extracted); `keyed` when the id is the client's (else the server's). Picklable, so a
    validating process can hand it back."""

    line: int
    keyed: bool
    new: NewResource


def _check_line(number: int, line: bytes, moment: datetime) -> Checked:
    doc = jsontext.loads(line)
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise FhirError("is not a FHIR resource (no resourceType)", code="structure")
    check_type(str(doc["resourceType"]))
    keyed = "id" in doc
    if keyed:
        check_id(str(doc["id"]))
    logical_id = str(doc["id"]) if keyed else writes.new_id()
    new = prepare_new(doc=doc, logical_id=logical_id, moment=moment, method="POST")
    return Checked(number, keyed, new)


def check_lines(lines: list[tuple[int, bytes]], moment: datetime) -> list[Checked | LineError]:
    """Parse and fully validate each line, touching no database (so a process pool can run it)."""
    checked: list[Checked | LineError] = []
    for number, line in lines:
        try:
            checked.append(_check_line(number, line, moment))
        except FhirError as error:
            checked.append(LineError(number, error.code, error.diagnostics))
    return checked


def _stored_ids(items: Iterable[Checked]) -> set[tuple[str, str]]:
    """(type, id) of the client ids already taken, in one query (the index on (type, id)
    serves both lists; the pairs are matched here)."""
    wanted = {(item.new.resource_type, item.new.logical_id) for item in items if item.keyed}
    if not wanted:
        return set()
    rows = Resource.objects.filter(
        resource_type__in={kind for kind, _ in wanted},
        logical_id__in={logical_id for _, logical_id in wanted},
    ).values_list("resource_type", "logical_id")
    return {pair for pair in rows if pair in wanted}


def prepare_batch(*, repo: Repository, checked: list[Checked | LineError]) -> _Batch:
    """Sort checked lines into new resources, updates of stored ids (validated again when
    written, as the next version) and line errors; refuse what the caller may not write."""
    batch, seen = _Batch(), set()
    valid = [item for item in checked if isinstance(item, Checked)]
    batch.errors = [item for item in checked if isinstance(item, LineError)]
    stored = _stored_ids(valid)
    for item in valid:
        try:
            repo.check_create(doc=item.new.doc)
        except FhirError as error:
            batch.errors.append(LineError(item.line, error.code, error.diagnostics))
            continue
        key = (item.new.resource_type, item.new.logical_id)
        if item.keyed and (key in stored or key in seen):
            batch.updates.append((item.line, item.new.doc))
            continue
        seen.add(key)
        batch.new.append((item.line, item.new))
    batch.errors.sort(key=lambda error: error.line)
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


class _Checker:
    """Validates batches one ahead of the writer, so validating a batch overlaps writing the
    previous one: in a thread of this process by default (it runs while the writer waits on the
    database, which releases the GIL), or in `processes` spawned processes when asked (not
    inside a daemonic process such as a Celery prefork worker, which cannot have children).
    The helpers start with the second batch, so a one-batch file never pays for them."""

    def __init__(self, processes: int) -> None:
        self.processes = processes if not multiprocessing.current_process().daemon else 0
        self.pool: Executor | None = None
        self.batches = 0
        self.switch_interval: float | None = None

    @property
    def ahead(self) -> int:
        """How many batches are validated ahead of the one being written."""
        return max(self.processes, 1)

    def submit(self, lines: list[tuple[int, bytes]], moment: datetime) -> Future[Any]:
        self.batches += 1
        if self.batches > 1 and self.pool is None:
            self.pool = self._start()
        if self.pool is not None:
            return self.pool.submit(check_lines, lines, moment)
        done: Future[Any] = Future()
        done.set_result(check_lines(lines, moment))
        return done

    def _start(self) -> Executor:
        if not self.processes:
            # The writer waits on the database often and briefly; with the default 5 ms switch
            # interval each wait would end waiting that long for the validating thread's GIL.
            self.switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(SWITCH_INTERVAL)
            return ThreadPoolExecutor(1, thread_name_prefix="ingest-check")
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.processes, mp_context=context, initializer=django.setup)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.switch_interval is not None:
            sys.setswitchinterval(self.switch_interval)


def _checked_batches(
    stream: IO[bytes], *, skip: int, size: int, processes: int
) -> Iterator[tuple[list[tuple[int, bytes]], datetime, list[Checked | LineError]]]:
    """(lines, write time, checked lines) per batch, validated ahead of the caller's writes."""
    checker = _Checker(processes)
    ahead: deque[tuple[list[tuple[int, bytes]], datetime, Future[Any]]] = deque()
    try:
        for lines in read_batches(stream, skip=skip, size=size):
            moment = writes.now()
            ahead.append((lines, moment, checker.submit(lines, moment)))
            if len(ahead) > checker.ahead:
                done_lines, done_moment, future = ahead.popleft()
                yield done_lines, done_moment, future.result()
        while ahead:
            done_lines, done_moment, future = ahead.popleft()
            yield done_lines, done_moment, future.result()
    finally:
        checker.close()


def ingest_ndjson(
    *,
    repo: Repository,
    stream: IO[bytes],
    atomic: bool = False,
    skip: int = 0,
    on_batch: Callable[[Progress], None] | None = None,
    size: int = BATCH,
    processes: int = 0,
) -> Progress:
    """Load an NDJSON stream; returns the whole stream's progress.

    `on_batch(step)` runs inside each batch's transaction with what that batch did (a job saves
    its position there). `atomic`: one transaction for the whole stream, and IngestFailed at the
    first bad line. `skip`: lines already loaded (a resumed job). `processes`: validate in that
    many extra processes ahead of the writes, instead of in a thread (not inside a daemonic
    process such as a Celery prefork worker, where it falls back to the thread).
    """
    progress = Progress(line=skip)
    batches = _checked_batches(stream, skip=skip, size=size, processes=processes)
    with transaction.atomic() if atomic else nullcontext():
        for lines, moment, checked in batches:
            batch = prepare_batch(repo=repo, checked=checked)
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
