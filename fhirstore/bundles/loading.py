"""Loading FHIR files into the store: what `load_fhir` and `load_demo` run, one file at a time.

A transaction or batch Bundle is run as it is. Anything else becomes a transaction: the entries
of a collection (or searchset/history) Bundle or a single resource, with `PUT Type/id` for a
resource that has an id and `POST Type` otherwise. So such a file is stored whole or not at all.
With `keep_ids`, POST entries of a transaction whose resource has an id are stored under that id
(PUT), which makes loading the same data twice idempotent. NDJSON files take the bulk ingest path
(`fhirstore.bundles.ingest`, shared with `$import`): valid lines load and each bad line is
reported, or, with `atomic`, the file is stored whole or not at all.
"""

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhirstore import jsontext
from fhirstore.bundles import run_bundle
from fhirstore.bundles.ingest import Progress, ingest_ndjson
from fhirstore.errors import FhirError
from fhirstore.repository import Repository

SUFFIXES = (".json", ".ndjson")
FIRST = ("hospitalInformation", "practitionerInformation")
_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")
_UNPACKED = frozenset({"collection", "searchset", "history"})


@dataclass
class FileReport:
    """What loading one file did: resources written by type, and errors naming file and entry."""

    path: Path
    written: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.errors)


@dataclass(frozen=True)
class Unit:
    """One transaction or batch to run; for NDJSON, `lines[i]` is the line entry i came from."""

    bundle: dict[str, Any]
    lines: tuple[int, ...] = ()


def discover(paths: list[Path]) -> list[Path]:
    """Files to load: folders expanded (recursively, sorted), the shared organisations first.

    Synthea patient bundles refer to organisations and practitioners that its
    `hospitalInformation*`/`practitionerInformation*` bundles define, so those go first.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES))
        else:
            found.append(path)
    order = {path: position for position, path in enumerate(found)}
    return sorted(found, key=lambda p: (not p.name.startswith(FIRST), order[p]))


def load_file(
    *,
    repo: Repository,
    path: Path,
    keep_ids: bool = False,
    atomic: bool = False,
    on_batch: Callable[[Progress], None] | None = None,
    processes: int = 0,
) -> FileReport:
    """Load one file; failures (invalid content, unreadable file) go in the report, not raised.

    `atomic`, `on_batch` (progress after each batch) and `processes` (validating ahead in other
    processes) concern NDJSON files."""
    report = FileReport(path)
    try:
        if path.suffix == ".ndjson":
            _ingest(repo, path, report, atomic=atomic, on_batch=on_batch, processes=processes)
            return report
        for unit in _units(path, keep_ids=keep_ids):
            _run_unit(repo, unit, report)
    except FhirError as error:
        report.errors.append(f"{path}: {error.diagnostics}")
    except OSError as error:
        report.errors.append(f"{path}: cannot be read ({error.strerror or error})")
    return report


def _ingest(
    repo: Repository,
    path: Path,
    report: FileReport,
    *,
    atomic: bool,
    on_batch: Callable[[Progress], None] | None,
    processes: int,
) -> None:
    with path.open("rb") as stream:
        progress = ingest_ndjson(
            repo=repo, stream=stream, atomic=atomic, on_batch=on_batch, processes=processes
        )
    report.written.update(progress.written)
    report.errors.extend(f"{path}: line {e.line}: {e.diagnostics}" for e in progress.errors)


def _run_unit(repo: Repository, unit: Unit, report: FileReport) -> None:
    try:
        outcome = run_bundle(repo=repo, bundle=unit.bundle)
    except FhirError as error:
        report.errors.append(f"{report.path}: {_located(error.diagnostics, unit)}")
        return
    for index, result in enumerate(outcome.results):
        if result.failed:
            detail = _diagnostics(result.outcome)
            report.errors.append(f"{report.path}: {_located(detail, unit, index)}")
        elif (
            result.stored is not None and result.status in (200, 201) and not result.stored.deleted
        ):
            report.written[result.stored.resource_type] += 1


def _diagnostics(outcome: dict[str, Any] | None) -> str:
    issues = (outcome or {}).get("issue") or [{}]
    return str(issues[0].get("diagnostics", "failed"))


def _located(message: str, unit: Unit, index: int | None = None) -> str:
    """For NDJSON, say which line an entry came from."""
    match = _ENTRY.search(message)
    entry = int(match.group(1)) if match else index
    if entry is None or entry >= len(unit.lines):
        return message
    return f"line {unit.lines[entry]}: {message}"


# --- reading files ----------------------------------------------------------------------------


def _units(path: Path, *, keep_ids: bool) -> Iterator[Unit]:
    doc = jsontext.loads(path.read_bytes())
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        raise FhirError("is not a FHIR resource or Bundle (no resourceType)", code="structure")
    yield Unit(_as_transaction(doc, keep_ids=keep_ids))


def _as_transaction(doc: dict[str, Any], *, keep_ids: bool) -> dict[str, Any]:
    kind = doc.get("type") if doc["resourceType"] == "Bundle" else None
    if kind in ("transaction", "batch"):
        return _kept_ids(doc) if keep_ids and kind == "transaction" else doc
    if kind in _UNPACKED:
        entries = doc.get("entry")
        items = entries if isinstance(entries, list) else []
        resources = [entry.get("resource") for entry in items if isinstance(entry, dict)]
        return transaction_of([r for r in resources if isinstance(r, dict)])
    return transaction_of([doc])


def transaction_of(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction that stores each resource: PUT under its id, or POST when it has none."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [_entry(r) for r in resources],
    }


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    kind, logical_id = str(resource.get("resourceType", "")), resource.get("id")
    if isinstance(logical_id, str) and logical_id:
        return {"resource": resource, "request": {"method": "PUT", "url": f"{kind}/{logical_id}"}}
    return {"resource": resource, "request": {"method": "POST", "url": kind}}


def _kept_ids(bundle: dict[str, Any]) -> dict[str, Any]:
    """POST entries whose resource has an id become `PUT Type/id` (in place)."""
    for entry in bundle.get("entry") or []:
        request = entry.get("request") if isinstance(entry, dict) else None
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not isinstance(resource, dict):
            continue
        logical_id = resource.get("id")
        plain_post = request.get("method") == "POST" and "ifNoneExist" not in request
        if plain_post and isinstance(logical_id, str) and logical_id:
            entry["request"] = {"method": "PUT", "url": f"{request.get('url')}/{logical_id}"}
    return bundle
