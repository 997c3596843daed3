"""R4 Subscriptions (rest-hook): checking one, and writing it together with its `Subscriber` row.

A client creates, updates and deletes a Subscription through these services (the FHIR API routes
`Subscription` writes here). A Subscription is checked before it is stored: the criteria must
parse as a search of a type the caller may read, the channel must be a rest-hook to an endpoint
the server may call (`subscription_endpoints`), with an empty or `application/fhir+json` payload
and well-formed headers. A `requested` (or `active`) Subscription is then stored as `active`, and
the caller's access is kept with it, so matching runs under the creator's scope. Subscriptions
are not in any patient's compartment, so the store's own rules would keep a patient from writing
one: the service writes it on the caller's behalf, and a restricted caller may then read, change
and delete only the Subscriptions it created. https://hl7.org/fhir/R4/subscription.html
"""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from django.db import transaction
from django.utils import timezone

from fhirstore.context import AccessScope
from fhirstore.errors import Forbidden, InvalidRequest, InvalidResource, NotFound
from fhirstore.fhirmodels import is_resource_type
from fhirstore.repository import Repository
from fhirstore.search.access import check_readable
from fhirstore.search.parse import parse_search
from fhirstore.search.request import SearchRequest
from fhirstore.stored import Stored, WriteResult
from integrations import subscription_matching
from integrations.services import scope_to_json
from integrations.subscription_endpoints import endpoint_check
from integrations.subscription_models import Subscriber

FHIR_JSON = "application/fhir+json"
PAYLOADS = frozenset({"", FHIR_JSON, "application/json+fhir"})
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+:[^\r\n]*$")
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection"}
)
_ACTIVE_ON_WRITE = frozenset({"requested", "active"})


@dataclass(frozen=True)
class Spec:
    """A checked Subscription: what to match, where to deliver, and whether it is on."""

    resource_type: str
    query: str
    endpoint: str
    payload: str
    headers: tuple[str, ...]
    active: bool


def _invalid(message: str, where: str, *, status: int = 400) -> InvalidResource:
    return InvalidResource(
        message,
        code="invalid" if status == 400 else "not-supported",
        http_status=status,
        expression=(f"Subscription.{where}",),
    )


def criteria_request(criteria: str) -> tuple[str, SearchRequest]:
    """The criteria's type and parsed search; InvalidRequest (400) when it is not a search."""
    resource_type, _, query = criteria.strip().partition("?")
    if not is_resource_type(resource_type):
        raise InvalidRequest(
            f"Subscription.criteria must start with a resource type, got {resource_type!r}"
        )
    params = parse_qsl(query, keep_blank_values=True)
    request = parse_search(resource_type=resource_type, params=params, strict=True)
    if request.includes or request.revincludes:
        raise InvalidRequest("Subscription.criteria may not use _include or _revinclude")
    return resource_type, request


def _channel(doc: dict[str, Any]) -> dict[str, Any]:
    channel = doc.get("channel")
    if not isinstance(channel, dict):
        raise _invalid("Subscription.channel is required", "channel")
    if channel.get("type") != "rest-hook":
        raise _invalid(
            f"Only the rest-hook channel is supported, not {channel.get('type')!r}",
            "channel.type",
            status=422,
        )
    payload = channel.get("payload") or ""
    if payload not in PAYLOADS:
        raise _invalid(
            f"channel.payload must be empty or {FHIR_JSON}, not {payload!r}",
            "channel.payload",
            status=422,
        )
    return channel


def _headers(channel: dict[str, Any]) -> tuple[str, ...]:
    lines = channel.get("header") or []
    if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
        raise _invalid("channel.header must be a list of 'Name: value' strings", "channel.header")
    for line in lines:
        name = line.partition(":")[0].strip().lower()
        if not _HEADER.match(line) or name in _RESERVED_HEADERS:
            raise _invalid(
                f"channel.header {line[:80]!r} is not an allowed header", "channel.header"
            )
    return tuple(lines)


def subscription_check(*, doc: dict[str, Any], scope: AccessScope) -> Spec:
    """Check a Subscription the caller writes (400/403/422 with the reason) and return its spec."""
    if doc.get("resourceType") != "Subscription":
        raise InvalidRequest("The body must be a Subscription", code="invariant")
    criteria = doc.get("criteria")
    if not isinstance(criteria, str) or not criteria.strip():
        raise _invalid("Subscription.criteria is required", "criteria")
    resource_type, _ = criteria_request(criteria)
    check_readable(scope, (resource_type,))
    channel = _channel(doc)
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _invalid("channel.endpoint is required for a rest-hook", "channel.endpoint")
    endpoint_check(endpoint)
    return Spec(
        resource_type=resource_type,
        query=criteria.strip().partition("?")[2],
        endpoint=endpoint,
        payload=channel.get("payload") or "",
        headers=_headers(channel),
        active=doc.get("status") in _ACTIVE_ON_WRITE,
    )


# --- writes -----------------------------------------------------------------------------------


def _writer(scope: AccessScope) -> Repository:
    """A repository that may write Subscriptions, on behalf of (and named after) the caller."""
    kinds = frozenset({"Subscription"})
    return Repository(scope=AccessScope(readable=kinds, writable=kinds, actor=scope.actor))


def _check_may_write(scope: AccessScope) -> None:
    if not scope.may_write("Subscription"):
        raise Forbidden("Writing Subscription is not permitted by the granted scopes")


def _owned(scope: AccessScope, logical_id: str) -> Subscriber | None:
    """The Subscription's row, when the caller may manage it; NotFound for someone else's."""
    row = Subscriber.objects.filter(logical_id=logical_id).first()
    if not scope.unrestricted and (row is None or row.owner != scope.actor):
        raise NotFound(f"Subscription/{logical_id} is not known")
    return row


def _stored_doc(doc: dict[str, Any], spec: Spec) -> dict[str, Any]:
    stored = {key: value for key, value in doc.items() if key != "error"}
    if spec.active:
        stored["status"] = "active"
    return stored


def _save_row(stored: Stored, spec: Spec, scope: AccessScope) -> None:
    Subscriber.objects.update_or_create(
        logical_id=stored.id,
        defaults={
            "version": stored.version,
            "resource_type": spec.resource_type,
            "criteria": spec.query,
            "endpoint": spec.endpoint,
            "payload": spec.payload,
            "headers": list(spec.headers),
            "owner": scope.actor,
            "scope": scope_to_json(scope),
            "active": spec.active,
            "error": "",
            "updated": timezone.now(),
        },
    )
    transaction.on_commit(subscription_matching.forget_active_types)


def subscription_create(*, scope: AccessScope, doc: dict[str, Any]) -> WriteResult:
    """Create a Subscription (status `active` once checked) remembering the caller's access."""
    _check_may_write(scope)
    spec = subscription_check(doc=doc, scope=scope)
    with transaction.atomic():
        body = {key: value for key, value in _stored_doc(doc, spec).items() if key != "id"}
        result = _writer(scope).create(doc=body)
        _save_row(result.stored, spec, scope)
    return result


def subscription_update(
    *, scope: AccessScope, logical_id: str, doc: dict[str, Any], if_match: str | None = None
) -> WriteResult:
    """Update (or create with the client's id) a Subscription the caller may manage."""
    _check_may_write(scope)
    spec = subscription_check(doc=doc, scope=scope)
    with transaction.atomic():
        _owned(scope, logical_id)
        result = _writer(scope).update(
            resource_type="Subscription",
            logical_id=logical_id,
            doc=_stored_doc(doc, spec),
            if_match=if_match,
        )
        _save_row(result.stored, spec, scope)
    return result


def subscription_delete(*, scope: AccessScope, logical_id: str) -> WriteResult | None:
    """Delete a Subscription the caller may manage; notifications stop at once."""
    _check_may_write(scope)
    with transaction.atomic():
        _owned(scope, logical_id)
        result = _writer(scope).delete(resource_type="Subscription", logical_id=logical_id)
        Subscriber.objects.filter(logical_id=logical_id).delete()
        transaction.on_commit(subscription_matching.forget_active_types)
    return result


def subscription_read(*, scope: AccessScope, logical_id: str) -> Stored:
    """A Subscription the caller may see: any, for system access; else one it created."""
    if not scope.may_read("Subscription"):
        raise Forbidden("Reading Subscription is not permitted by the granted scopes")
    _owned(scope, logical_id)
    return _writer(scope).read(resource_type="Subscription", logical_id=logical_id)
