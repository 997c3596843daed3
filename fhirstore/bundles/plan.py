"""Planning a transaction before anything is written: who each entry is, and what it will store.

Every entry gets its identity first (new ids for creates, matches for conditional URLs), then
fullUrls and conditional references are rewritten to `Type/id` in every resource, then each new
resource is validated and stamped. Only after all of that succeeds does a single write happen,
so a bad entry costs no writes at all. https://hl7.org/fhir/R4/http.html#trules
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from fhirstore import writes
from fhirstore.bundles import references
from fhirstore.bundles.bulk import NewResource, prepare_new
from fhirstore.bundles.envelope import Entry, at_entry, blame
from fhirstore.errors import InvalidRequest, PreconditionFailed
from fhirstore.models import Resource
from fhirstore.repository import Repository, check_id, check_type
from fhirstore.stored import Stored

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_LOCK_KIND = {"POST": "create", "PUT": "update", "DELETE": "delete"}


@dataclass
class Plan:
    """What the transaction will do, entry by entry (keys are entry indexes)."""

    entries: list[Entry]
    moment: datetime
    targets: dict[int, str | None] = field(default_factory=dict)
    matched: dict[int, Stored] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    new: dict[int, NewResource] = field(default_factory=dict)


def needs_lookups(entries: list[Entry]) -> bool:
    """True when planning must search the store (conditional URLs or references)."""
    return any(entry.conditional or references.conditional_references(entry) for entry in entries)


def make_plan(*, repo: Repository, entries: list[Entry]) -> Plan:
    """Identities, references and validated new resources; raises the first entry's failure."""
    plan = Plan(entries=entries, moment=writes.now())
    for entry in sorted(entries, key=lambda e: e.conditional):
        with blame(entry):
            _identify(repo, plan, entry)
    _check_duplicates(entries, plan)
    mapping = {**plan.mapping, **_conditional_references(repo, plan)}
    existing = _existing(entries, plan)
    for entry in entries:
        with blame(entry):
            _prepare(repo, plan, entry, mapping, existing)
    return plan


# --- identities -----------------------------------------------------------------------------


def _identify(repo: Repository, plan: Plan, entry: Entry) -> None:
    if entry.method not in WRITES:
        return
    check_type(entry.resource_type)
    target = entry.logical_id if entry.method != "POST" else None
    if entry.conditional:
        target = _conditional_target(repo, plan, entry)
    elif entry.method == "POST":
        target = writes.new_id()
    plan.targets[entry.index] = target
    if entry.full_url and target and entry.method in ("POST", "PUT"):
        _map_full_url(plan, entry, target)


def _conditional_target(repo: Repository, plan: Plan, entry: Entry) -> str | None:
    """The id a conditional POST/PUT/DELETE resolves to (https://hl7.org/fhir/R4/http.html#ccreate)."""
    query = references.rewrite_query(entry.if_none_exist or entry.query or "", plan.mapping)
    matches = repo.find_conditional(
        resource_type=entry.resource_type, query=query, lock=_LOCK_KIND[entry.method]
    )
    if len(matches) > 1:
        raise PreconditionFailed(f"The criteria {query!r} matched {len(matches)} resources")
    if matches and entry.method == "POST":
        row = matches[0]
        plan.matched[entry.index] = Stored(
            row.resource_type,
            row.logical_id,
            row.version,
            row.last_updated,
            False,
            row.text.encode(),
            "POST",
        )
    given = (entry.resource or {}).get("id") if entry.method == "PUT" else None
    if matches and given not in (None, matches[0].logical_id):
        raise InvalidRequest(
            f"The resource id {given!r} is not that of the match", code="invariant"
        )
    if matches:
        return matches[0].logical_id
    if entry.method == "DELETE":
        return None
    return str(given) if given else writes.new_id()


def _map_full_url(plan: Plan, entry: Entry, target: str) -> None:
    full_url = entry.full_url
    assert full_url is not None
    if full_url in plan.mapping:
        raise InvalidRequest(
            f"fullUrl {full_url!r} appears more than once in the Bundle", code="duplicate"
        )
    plan.mapping[full_url] = f"{entry.resource_type}/{target}"
    # An absolute fullUrl of a POST names a client id the server replaces: relative references to
    # it must follow (https://hl7.org/fhir/R4/bundle.html#references).
    head, _, old_id = full_url.rstrip("/").rpartition("/")
    if entry.method == "POST" and "://" in full_url and head.endswith("/" + entry.resource_type):
        plan.mapping.setdefault(
            f"{entry.resource_type}/{old_id}", f"{entry.resource_type}/{target}"
        )


def _check_duplicates(entries: list[Entry], plan: Plan) -> None:
    """Two writes to one resource in a transaction are ambiguous: 400."""
    seen: dict[tuple[str, str], int] = {}
    for entry in entries:
        target = plan.targets.get(entry.index)
        if entry.method not in WRITES or target is None or entry.index in plan.matched:
            continue
        key = (entry.resource_type, target)
        if key in seen:
            error = InvalidRequest(
                f"{entry.resource_type}/{target} is also written by Bundle.entry[{seen[key]}]",
                code="duplicate",
            )
            raise at_entry(error, entry)
        seen[key] = entry.index


# --- references -----------------------------------------------------------------------------


def _conditional_references(repo: Repository, plan: Plan) -> dict[str, str]:
    """`Type?criteria` → `Type/id` for every conditional reference in the Bundle."""
    resolved: dict[str, str] = {}
    for entry in plan.entries:
        for reference in references.conditional_references(entry):
            if reference not in resolved:
                with blame(entry):
                    resolved[reference] = _resolve_one(repo, plan, reference)
    return resolved


def _resolve_one(repo: Repository, plan: Plan, reference: str) -> str:
    def find(resource_type: str, query: str) -> str:
        query = references.rewrite_query(query, plan.mapping)
        rows = repo.find_conditional(resource_type=resource_type, query=query, lock=None)
        ids = [row.logical_id for row in rows] or _in_bundle(plan, resource_type, query)
        if len(ids) > 1:
            raise PreconditionFailed(
                f"The conditional reference {reference!r} matches more than one resource"
            )
        if not ids:
            raise InvalidRequest(
                f"The conditional reference {reference!r} matches no resource", code="not-found"
            )
        return ids[0]

    return references.resolve_conditional(reference, resolve=find)


def _in_bundle(plan: Plan, resource_type: str, query: str) -> list[str]:
    """Ids of resources created by this Bundle that match `identifier=[system|]value` criteria."""
    return [
        str(plan.targets[entry.index])
        for entry in plan.entries
        if entry.resource_type == resource_type
        and entry.method in ("POST", "PUT")
        and plan.targets.get(entry.index)
        and references.matches_identifier(entry.resource or {}, query)
    ]


# --- new resources --------------------------------------------------------------------------


def _existing(entries: list[Entry], plan: Plan) -> set[tuple[str, str]]:
    """(type, id) of PUT targets that already have a row (one query per type)."""
    wanted: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        target = plan.targets.get(entry.index)
        if entry.method == "PUT" and target:
            wanted[entry.resource_type].append(target)
    found: set[tuple[str, str]] = set()
    for resource_type, ids in wanted.items():
        rows = Resource.objects.filter(resource_type=resource_type, logical_id__in=ids)
        found.update(
            (resource_type, logical_id) for logical_id in rows.values_list("logical_id", flat=True)
        )
    return found


def _prepare(
    repo: Repository,
    plan: Plan,
    entry: Entry,
    mapping: dict[str, str],
    existing: set[tuple[str, str]],
) -> None:
    """Rewrite the entry's references; validate it now when it will be a new resource."""
    if entry.resource is None or entry.method == "PATCH" or entry.index in plan.matched:
        return
    references.rewrite(entry, mapping)
    target = plan.targets[entry.index]
    assert target is not None
    new = entry.method == "POST" or (
        (entry.resource_type, target) not in existing and entry.if_match is None
    )
    if not new:
        return
    check_id(target)
    doc = {**entry.resource, "id": target}
    repo.check_create(doc=doc)
    plan.new[entry.index] = prepare_new(
        doc=doc, logical_id=target, moment=plan.moment, method=entry.method
    )
