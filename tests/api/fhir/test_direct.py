"""api.fhir.direct: a plain read by id or search answered without Django's request cycle, exactly
as Django answers it, and every other request left to Django.

Each request goes through the WSGI application (`backend.handlers.SiteHandler`) twice: with the
direct path, and with it switched off. Status, headers (but Date) and body must be the same, and
so must the audit rows each leaves.
"""

import io
import json
from typing import Any

import pytest
from django.db import connection

from access import audit_buffer, token_cache
from access.models import AuditRecord
from access.services import system_token_issue
from api.fhir import direct
from backend.handlers import SiteHandler
from tests.access.personas import login, put, token, token_revoke

pytestmark = pytest.mark.django_db(transaction=True)

# What an audit row says, but for its own id and time.
_AUDIT_FIELDS = tuple(c for c in audit_buffer.columns() if c not in ("request_id", "recorded"))


@pytest.fixture(autouse=True)
def _flusher_stopped_after() -> Any:
    yield
    audit_buffer.stop()  # its connection would keep the test database open


def _environ(path: str, bearer: str, query: str = "", **headers: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.1.2.3",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Bearer {bearer}",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.url_scheme": "http",
    }
    environ.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return environ


def _call(environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    body = b"".join(SiteHandler()(environ, start_response))
    answer["headers"].pop("Date", None)
    return answer["status"], answer["headers"], _unstamped(body)


def _unstamped(body: bytes) -> bytes:
    """A searchset without the id and time each answer gets afresh."""
    if b'"searchset"' not in body:
        return body
    bundle = json.loads(body)
    del bundle["id"], bundle["meta"]["lastUpdated"]
    return json.dumps(bundle).encode()


def _audit_mark() -> int:
    """Where the (append-only) audit log ends now."""
    if connection.vendor == "postgresql":
        audit_buffer.flush()
    return AuditRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _audit_rows(after: int) -> list[tuple[Any, ...]]:
    """The audit rows written after `after` (an `_audit_mark`)."""
    if connection.vendor == "postgresql":
        audit_buffer.flush()
    rows = AuditRecord.objects.filter(pk__gt=after).order_by("recorded", "patient_id")
    return list(rows.values_list(*_AUDIT_FIELDS))


def _both_ways(environ: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The answer and audit rows with the direct path, then without it (tokens known alike)."""
    _call(dict(environ) | {"wsgi.input": io.BytesIO(b"")})  # the process learns the token
    mark = _audit_mark()
    answered = _call(dict(environ) | {"wsgi.input": io.BytesIO(b"")})
    answered_audit = _audit_rows(mark)
    mark = _audit_mark()
    with monkeypatch.context() as patch:
        patch.setattr(direct, "serve", lambda environ, start_response: None)
        django = _call(dict(environ) | {"wsgi.input": io.BytesIO(b"")})
    return {
        "direct": answered,
        "django": django,
        "direct_audit": answered_audit,
        "django_audit": _audit_rows(mark),
    }


@pytest.fixture
def world() -> dict[str, str]:
    put({"resourceType": "Patient", "id": "ann", "name": [{"family": "Ann"}]})
    put({"resourceType": "Patient", "id": "bob", "name": [{"family": "Bob"}]})
    put(
        {
            "resourceType": "Observation",
            "id": "ann-weight",
            "status": "final",
            "code": {"text": "weight"},
            "subject": {"reference": "Patient/ann"},
        }
    )
    put({"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Doc"}]})
    ann = login("ann", kind="patient", fhir_id="ann")
    return {
        "system": system_token_issue(client_name="fast-read", scope="system/*.*"),
        "ann": token(ann, "patient/*.rs", patient_id="ann"),
    }


# Plain reads and searches: answered directly. Anything else: left to Django.
_DIRECT, _DJANGO = True, False


@pytest.mark.parametrize(
    ("who", "path", "query", "headers", "taken"),
    [
        ("system", "/fhir/Observation/ann-weight", "", {}, _DIRECT),  # reads by id
        ("system", "/fhir/Patient/bob", "", {"ACCEPT": "application/json"}, _DIRECT),
        ("system", "/fhir/Patient/bob/", "", {"X_PURPOSE_OF_USE": "TREAT"}, _DIRECT),
        ("ann", "/fhir/Observation/ann-weight", "", {"ACCEPT": "application/fhir+json"}, _DIRECT),
        ("ann", "/fhir/Practitioner/doc", "", {}, _DIRECT),
        ("system", "/fhir/Observation", "patient=ann", {}, _DIRECT),  # searches
        (
            "system",
            "/fhir/Observation/",
            "subject=Patient/ann&_count=1",
            {},
            _DIRECT,
        ),  # paged: links
        ("system", "/fhir/Observation", "", {"X_PURPOSE_OF_USE": "TREAT"}, _DIRECT),
        ("system", "/fhir/Patient", "_id=ann,bob&_sort=-_id&_elements=name", {}, _DIRECT),
        ("system", "/fhir/Observation", "patient=ann&_summary=count", {}, _DIRECT),
        ("system", "/fhir/Observation", "patient=ann&_include=Observation:subject", {}, _DIRECT),
        ("system", "/fhir/Patient/ann/Observation", "", {"ACCEPT": "application/json"}, _DIRECT),
        (
            "system",
            "/fhir/Observation",
            "patient=bob&unknown=1",
            {"PREFER": "handling=lenient"},
            _DIRECT,
        ),
        ("ann", "/fhir/Observation", "status=final", {}, _DIRECT),
        ("ann", "/fhir/Patient/ann/Observation", "_count=5", {}, _DIRECT),
        ("ann", "/fhir/Practitioner", "name=doc", {}, _DIRECT),
        (
            "ann",
            "/fhir/Observation",
            "patient=bob",
            {},
            _DIRECT,
        ),  # another person's record: nothing
        ("ann", "/fhir/Patient/bob/Observation", "", {}, _DIRECT),
        ("system", "/fhir/Patient/ann/Practitioner", "", {}, _DIRECT),  # not in the compartment
        ("ann", "/fhir/Patient/bob", "", {}, _DJANGO),  # another person's record: 404
        ("system", "/fhir/Patient/nobody", "", {}, _DJANGO),  # unknown: 404
        ("system", "/fhir/Patient/bob", "_summary=true", {}, _DJANGO),  # a query string
        ("system", "/fhir/Patient/bob", "", {"ORIGIN": "https://app.example"}, _DJANGO),  # CORS
        (
            "system",
            "/fhir/Patient/bob",
            "",
            {"IF_NONE_MATCH": 'W/"1"'},
            _DJANGO,
        ),  # conditional read: 304
        ("system", "/fhir/Patient/bob", "", {"ACCEPT": "application/fhir+xml"}, _DJANGO),  # 406
        ("system", "/fhir/Bogus/x", "", {}, _DJANGO),  # not a resource type
        (
            "system",
            "/fhir/Patient/bob",
            "",
            {"HOST": "evil.example"},
            _DJANGO,
        ),  # host not allowed: 400
        ("system", "/fhir/Observation", "date=yesterday", {}, _DJANGO),  # invalid: 400
        ("system", "/fhir/Observation", "unknown=1", {"PREFER": "handling=strict"}, _DJANGO),  # 400
        ("system", "/fhir/Observation", "_format=xml", {}, _DJANGO),  # 406
        ("system", "/fhir/Observation", "_pretty=true", {}, _DJANGO),
        ("system", "/fhir/Observation", "_type=Observation", {}, _DJANGO),
        ("system", "/fhir/Observation", "patient=ann", {"ORIGIN": "https://app.example"}, _DJANGO),
        ("system", "/fhir/Bogus", "name=x", {}, _DJANGO),  # not a resource type: 404
        ("system", "/fhir/Subscription", "", {}, _DJANGO),  # a route of its own
    ],
)
def test_each_request_is_answered_as_django_answers_it_and_only_plain_ones_directly(
    world: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    who: str,
    path: str,
    query: str,
    headers: Any,
    taken: bool,
) -> None:
    environ = _environ(path, world[who], query, **headers)
    seen = _both_ways(environ, monkeypatch)

    assert seen["direct"] == seen["django"]
    assert seen["direct_audit"] == seen["django_audit"]
    answered = direct.serve(dict(environ) | {"wsgi.input": io.BytesIO(b"")}, lambda *a: None)
    assert (answered is not None) == taken
    if taken:  # the direct path answers only successes, and audits them
        assert seen["direct"][0] == "200 OK"
        assert seen["direct_audit"] != []


def test_audit_events_are_searched_through_django_which_publishes_them_first(
    world: dict[str, str],
) -> None:
    environ = _environ("/fhir/AuditEvent", world["system"])
    assert _call(dict(environ))[0] == "200 OK"  # the process now knows the token

    assert direct.serve(dict(environ) | {"wsgi.input": io.BytesIO(b"")}, lambda *a: None) is None


def test_the_deleted_answer_gone_through_django(world: dict[str, str]) -> None:
    from fhirstore.context import SYSTEM
    from fhirstore.repository import Repository

    Repository(scope=SYSTEM).delete(resource_type="Patient", logical_id="bob")
    status, _headers, body = _call(_environ("/fhir/Patient/bob", world["system"]))

    assert status.startswith("410")
    assert b'"OperationOutcome"' in body


@pytest.mark.parametrize(
    ("path", "query"), [("/fhir/Observation/ann-weight", ""), ("/fhir/Observation", "patient=ann")]
)
def test_a_revoked_token_gets_401_and_nothing_is_read(
    world: dict[str, str], path: str, query: str
) -> None:
    environ = _environ(path, world["ann"], query)
    assert _call(dict(environ))[0] == "200 OK"  # the process now knows the token
    token_revoke(world["ann"])
    mark = _audit_mark()

    status, _headers, body = _call(dict(environ) | {"wsgi.input": io.BytesIO(b"")})

    assert status.startswith("401")
    assert b"ann-weight" not in body
    assert [row[3] for row in _audit_rows(mark)] == ["4"]  # one record, of the refusal


def test_a_token_the_process_has_not_seen_goes_through_django_first(
    world: dict[str, str],
) -> None:
    token_cache.forget_all()
    environ = _environ("/fhir/Patient/bob", world["system"])

    assert direct.serve(dict(environ), lambda *a: None) is None
    assert _call(dict(environ) | {"wsgi.input": io.BytesIO(b"")})[0] == "200 OK"
    assert direct.serve(dict(environ) | {"wsgi.input": io.BytesIO(b"")}, lambda *a: None)


def test_over_the_rate_limit_django_answers_429(
    world: dict[str, str], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = _environ("/fhir/Patient/bob", world["system"])
    assert _call(dict(environ))[0] == "200 OK"
    settings.ACCESS = {**settings.ACCESS, "API_RATE_PER_MINUTE_PER_TOKEN": 1}

    status, headers, _body = _call(dict(environ) | {"wsgi.input": io.BytesIO(b"")})

    assert status.startswith("429")
    assert int(headers["Retry-After"]) >= 1
