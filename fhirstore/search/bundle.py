"""Build the searchset Bundle as bytes by splicing the stored JSON text of each resource into a
frame, so a search never re-parses or re-serialises what it returns (DESIGN decision 4). Only
`_summary`/`_elements` parse a resource (matches and included resources alike), with the lossless
JSON parser, to drop elements.
Links are absolute, from the public base URL; `self` repeats only the parameters understood.
https://hl7.org/fhir/R4/bundle.html#searchset and https://hl7.org/fhir/R4/search.html#paging
"""

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import orjson

from fhirstore.search.result import Row, SearchResult
from fhirstore.search.result_params import CURSOR
from fhirstore.stored import format_instant
from fhirstore.subsetting import subset_text


def searchset_bytes(*, result: SearchResult, base_url: str, path: str) -> bytes:
    """The whole Bundle; `path` is what follows the base in the search URL (`Observation`,
    `Patient/1/Observation`, or "" for a system search)."""
    return b"".join(searchset_chunks(result=result, base_url=base_url, path=path))


def searchset_chunks(
    *, result: SearchResult, base_url: str, path: str, matches: Iterable[Row] | None = None
) -> Iterator[bytes]:
    """The Bundle in pieces, for a streaming response; `matches` (lazily iterated) replaces
    `result.matches` when given, so rows can stream from the database."""
    head: dict[str, object] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(datetime.now(UTC))},
        "type": "searchset",
    }
    if result.total is not None:
        head["total"] = result.total
    head["link"] = links(result=result, base_url=base_url, path=path)
    yield orjson.dumps(head)[:-1]
    request = result.request
    elements = list(request.elements) or None
    # FHIR JSON has no empty arrays: "entry" opens with the first entry, if any.
    separator = b',"entry":['
    for row in result.matches if matches is None else matches:
        text = subset_text(row.text.encode(), summary=request.summary, elements=elements)
        yield separator + _entry(row, text, base_url, b"match")
        separator = b","
    # `_summary` and `_elements` apply to every resource returned, included ones too.
    for row in result.included:
        text = subset_text(row.text.encode(), summary=request.summary, elements=elements)
        yield separator + _entry(row, text, base_url, b"include")
        separator = b","
    yield b"}" if separator != b"," else b"]}"


def _entry(row: Row, text: bytes, base_url: str, mode: bytes) -> bytes:
    full_url = orjson.dumps(f"{base_url}/{row.resource_type}/{row.id}")
    search = b',"search":{"mode":"' + mode + b'"}}'
    return b'{"fullUrl":' + full_url + b',"resource":' + text + search


def links(*, result: SearchResult, base_url: str, path: str) -> list[dict[str, str]]:
    """self, first, and next/previous when there are such pages."""
    url = f"{base_url}/{path}".rstrip("/")
    echo = list(result.request.echo)

    def link(relation: str, cursor: str | None = None) -> dict[str, str]:
        params = echo + ([(CURSOR, cursor)] if cursor else [])
        return {"relation": relation, "url": f"{url}?{urlencode(params)}" if params else url}

    found = [link("self", result.request.cursor), link("first")]
    if result.previous_cursor:
        found.append(link("previous", result.previous_cursor))
    if result.next_cursor:
        found.append(link("next", result.next_cursor))
    return found
