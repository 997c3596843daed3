"""The Bundle envelope of a batch or transaction: checked, and each entry parsed into an `Entry`.

Only the envelope is checked here (type, `entry[i].request.method` and `url`, a resource where the
method needs one); the resources themselves are validated on write like any other. Request URLs
may be relative (`Patient/1`) or absolute under this server's base. https://hl7.org/fhir/R4/bundle.html
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from fhirstore.errors import FhirError, InvalidRequest, Issue, NotSupported

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
PROCESSED_TYPES = frozenset({"transaction", "batch"})
_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")


@dataclass
class Entry:
    """One entry of the request Bundle; `index` is its position in `Bundle.entry`."""

    index: int
    method: str
    url: str
    resource_type: str = ""
    logical_id: str | None = None
    query: str | None = None
    tail: tuple[str, ...] = ()
    full_url: str | None = None
    resource: dict[str, Any] | None = None
    if_none_exist: str | None = None
    if_match: str | None = None
    reference_nodes: list[dict[str, Any]] | None = None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"

    @property
    def conditional(self) -> bool:
        """True when the entry needs a search before it knows its target."""
        return self.query is not None or (self.method == "POST" and self.if_none_exist is not None)


def bundle_type(bundle: dict[str, Any]) -> str:
    """`transaction` or `batch`; 400 for anything else."""
    if bundle.get("resourceType") != "Bundle":
        raise InvalidRequest("The body must be a Bundle", code="structure", expression=("Bundle",))
    kind = bundle.get("type")
    if kind not in PROCESSED_TYPES:
        raise InvalidRequest(
            f"Bundle.type must be 'transaction' or 'batch', not {kind!r}",
            code="value",
            expression=("Bundle.type",),
        )
    return str(kind)


def parse_entries(bundle: dict[str, Any]) -> list[Entry]:
    """Every entry of `bundle` as an Entry; InvalidRequest naming the first malformed one."""
    raw = bundle.get("entry", [])
    if not isinstance(raw, list):
        raise InvalidRequest(
            "Bundle.entry must be an array", code="structure", expression=("Bundle.entry",)
        )
    return [_parse_entry(index, item) for index, item in enumerate(raw)]


def _parse_entry(index: int, item: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequest(f"{where} must be an object", code="structure", expression=(where,))
    request = item.get("request")
    if not isinstance(request, dict):
        raise InvalidRequest(
            f"{where}.request is required", code="required", expression=(f"{where}.request",)
        )
    method, url = request.get("method"), request.get("url")
    if method not in METHODS:
        raise InvalidRequest(
            f"{where}.request.method must be one of {', '.join(sorted(METHODS))}, not {method!r}",
            code="value",
            expression=(f"{where}.request.method",),
        )
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequest(
            f"{where}.request.url is required",
            code="required",
            expression=(f"{where}.request.url",),
        )
    entry = Entry(
        index=index, method=method, url=url.strip(), full_url=_optional_str(item, "fullUrl")
    )
    _read_headers(entry, request)
    _split_url(entry)
    entry.resource = _resource_of(entry, item.get("resource"))
    return entry


def _optional_str(node: dict[str, Any], key: str) -> str | None:
    value = node.get(key)
    return value if isinstance(value, str) and value else None


def _read_headers(entry: Entry, request: dict[str, Any]) -> None:
    entry.if_none_exist = _optional_str(request, "ifNoneExist")
    entry.if_match = _optional_str(request, "ifMatch")
    if entry.if_none_exist is not None and entry.method != "POST":
        raise InvalidRequest(
            f"{entry.where}: ifNoneExist applies to POST only",
            expression=(f"{entry.where}.request",),
        )


def _relative(url: str) -> str:
    base = str(settings.FHIR_STORE["PUBLIC_BASE_URL"]).rstrip("/")
    if url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    return url.lstrip("/")


def _split_url(entry: Entry) -> None:
    """Fill resource_type, logical_id, tail and query from the request URL."""
    path, mark, query = _relative(entry.url).partition("?")
    parts = [part for part in path.split("/") if part]
    if not parts or not _TYPE.match(parts[0]):
        raise InvalidRequest(
            f"{entry.where}.request.url {entry.url!r} does not name a resource type",
            code="value",
            expression=(f"{entry.where}.request.url",),
        )
    entry.resource_type = parts[0]
    entry.logical_id = parts[1] if len(parts) > 1 else None
    entry.tail = tuple(parts[2:])
    entry.query = query if mark else None
    _check_shape(entry)


def _check_shape(entry: Entry) -> None:
    """The URL forms each method takes (https://hl7.org/fhir/R4/http.html#transaction)."""
    has_id, has_query = entry.logical_id is not None, entry.query is not None
    if entry.logical_id is not None and entry.logical_id.startswith("$"):
        raise NotSupported(f"{entry.where}: operations are not supported inside a Bundle")
    bad = {
        "POST": has_id,
        "PUT": has_id == has_query or bool(entry.tail),
        "PATCH": not has_id or bool(entry.tail) or has_query,
        "DELETE": has_id == has_query or bool(entry.tail),
    }.get(entry.method, False)
    if bad:
        raise InvalidRequest(
            f"{entry.where}: {entry.method} {entry.url} is not a valid request in a Bundle",
            code="value",
            expression=(f"{entry.where}.request.url",),
        )


def _resource_of(entry: Entry, resource: Any) -> dict[str, Any] | None:
    if entry.method not in ("POST", "PUT", "PATCH"):
        return None
    where = f"{entry.where}.resource"
    if not isinstance(resource, dict):
        raise InvalidRequest(
            f"{where} is required for {entry.method}", code="required", expression=(where,)
        )
    if entry.method == "PATCH":
        return resource
    given = resource.get("resourceType")
    if given != entry.resource_type:
        raise InvalidRequest(
            f"{where} is a {given!r}; the request URL names {entry.resource_type}",
            code="invariant",
            expression=(where,),
        )
    return _with_url_id(entry, resource)


def _with_url_id(entry: Entry, resource: dict[str, Any]) -> dict[str, Any]:
    """PUT Type/id: the body's id must agree with the URL (taken from the URL when absent)."""
    if entry.method != "PUT" or entry.logical_id is None:
        return resource
    body_id = resource.get("id")
    if body_id is None:
        return {"resourceType": resource["resourceType"], "id": entry.logical_id, **resource}
    if body_id != entry.logical_id:
        raise InvalidRequest(
            f"{entry.where}: resource id {body_id!r} differs from the request URL {entry.url!r}",
            code="invariant",
            expression=(f"{entry.where}.resource.id",),
        )
    return resource


def at_entry(error: FhirError, entry: Entry) -> FhirError:
    """`error` re-stated for entry `entry`: diagnostics and expressions say which entry failed."""
    where = entry.where
    issues = [
        Issue(
            issue.code,
            f"{where} ({entry.method} {entry.url}): {issue.diagnostics}",
            issue.severity,
            (
                where,
                *(
                    _rebased(path, entry)
                    for path in issue.expression
                    if not path.startswith("Bundle")
                ),
            ),
        )
        for issue in error.issues
    ]
    return FhirError(
        issues[0].diagnostics if issues else f"{where}: {error.diagnostics}",
        http_status=error.http_status,
        code=error.code,
        issues=issues,
        headers=dict(error.headers),
    )


def _rebased(path: str, entry: Entry) -> str:
    """`Observation.code` in entry 3 → `Bundle.entry[3].resource.code`."""
    head, dot, rest = path.partition(".")
    if head == entry.resource_type and dot:
        return f"{entry.where}.resource.{rest}"
    if head == entry.resource_type:
        return f"{entry.where}.resource"
    return path


@contextmanager
def blame(entry: Entry) -> Iterator[None]:
    """Re-raise any FhirError inside the block as the failure of `entry`."""
    try:
        yield
    except FhirError as error:
        raise at_entry(error, entry) from None
