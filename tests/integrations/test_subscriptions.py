"""R4 Subscriptions (rest-hook): criteria and channel checks, SSRF refusals, matching under the
creator's access, payload variants, retries with backoff ending in status=error, deletes.

Notifications are delivered to a real HTTP server on 127.0.0.1 (with DEBUG on, so
loopback is allowed) and synchronously (RUN_IN_THREAD off), when the write's transaction
commits. https://hl7.org/fhir/R4/subscription.html
"""

from typing import Any

import pytest

from fhirstore import jsontext
from fhirstore.bundles import run_bundle
from fhirstore.context import SYSTEM, AccessScope
from fhirstore.errors import FhirError, Forbidden, InvalidRequest, InvalidResource
from fhirstore.repository import Repository
from integrations import subscription_matching, subscription_tasks
from integrations.subscription_delivery import Outcome, notification_attempt
from integrations.subscription_endpoints import endpoint_check
from integrations.subscription_matching import Change, notifications_for
from integrations.subscription_models import Subscriber
from integrations.subscriptions import subscription_create, subscription_delete
from tests.fhirstore.search.querying import observation, patient
from tests.integrations.receiver import receiving

pytestmark = pytest.mark.django_db
ANN = AccessScope(
    patient_ids=frozenset({"ann"}),
    readable=frozenset({"*"}),
    writable=frozenset({"*"}),
    actor="user:1 client:app",
)


@pytest.fixture(autouse=True)
def _subscription_settings(settings):
    settings.DEBUG = True  # the receiver is on loopback (pytest-django turns DEBUG off)
    settings.SUBSCRIPTIONS = {
        "MAX_ATTEMPTS": 3,
        "RETRY_SECONDS": 1,
        "TIMEOUT_SECONDS": 2,
        "RUN_IN_THREAD": False,
        "TYPES_CACHE_SECONDS": 0,
    }
    subscription_matching.forget_active_types()
    yield
    subscription_matching.forget_active_types()  # no memo leaks into other tests


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The backoff sleeps, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(subscription_tasks, "_sleep", slept.append)
    return slept


@pytest.fixture
def receiver():
    with receiving() as found:
        yield found


@pytest.fixture
def people(db):
    patient("ann")
    patient("bob")


def subscription(endpoint: str, criteria: str = "Observation?code=8867-4", **channel: Any) -> dict:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "Tell me about new heart rates",
        "criteria": criteria,
        "channel": {"type": "rest-hook", "endpoint": endpoint, **channel},
    }


def subscribe(scope: AccessScope, doc: dict, capture) -> str:
    with capture(execute=True):
        return subscription_create(scope=scope, doc=doc).stored.id


def write(capture, **fields: Any) -> str:
    with capture(execute=True):
        return observation(**fields)


def stored(logical_id: str) -> dict:
    text = Repository(scope=SYSTEM).read(resource_type="Subscription", logical_id=logical_id).text
    return jsontext.loads(text)


# --- checks on write --------------------------------------------------------------------------


def test_a_requested_subscription_is_stored_active_with_its_creators_access(receiver):
    doc = subscription(receiver.url, "Observation?patient=ann&code=http://loinc.org|8867-4")

    result = subscription_create(scope=ANN, doc=doc)

    assert result.status == 201
    assert stored(result.stored.id)["status"] == "active"
    row = Subscriber.objects.get(logical_id=result.stored.id)
    assert (row.resource_type, row.active, row.owner) == ("Observation", True, ANN.actor)
    assert row.scope["patient_ids"] == ["ann"]


@pytest.mark.parametrize(
    "criteria",
    ["Nope?code=1", "Observation?date=yesterday", "Observation?unknown-param=1", "", "?code=1"],
)
def test_criteria_that_are_not_a_valid_search_are_a_400(receiver, criteria):
    with pytest.raises((InvalidRequest, InvalidResource)) as raised:
        subscription_create(scope=SYSTEM, doc=subscription(receiver.url, criteria))

    assert raised.value.http_status == 400
    assert not Subscriber.objects.exists()


def test_criteria_on_a_type_the_caller_cannot_read_are_refused(receiver):
    scope = AccessScope(readable=frozenset({"Patient"}), writable=frozenset({"*"}), actor="x")

    with pytest.raises(Forbidden):
        subscription_create(scope=scope, doc=subscription(receiver.url))


@pytest.mark.parametrize(
    ("channel", "where"),
    [
        ({"type": "email"}, "channel.type"),
        ({"type": "websocket"}, "channel.type"),
        ({"payload": "text/plain"}, "channel.payload"),
        ({"header": ["Bad Header"]}, "channel.header"),
        ({"header": ["Host: evil.example"]}, "channel.header"),
    ],
)
def test_unsupported_channels_are_refused_with_the_element_named(receiver, channel, where):
    doc = subscription(receiver.url)
    doc["channel"].update(channel)

    with pytest.raises(InvalidResource) as raised:
        subscription_create(scope=SYSTEM, doc=doc)

    assert raised.value.http_status in (400, 422)
    assert raised.value.expression == (f"Subscription.{where}",)


# --- endpoints: no probing of internal networks outside DEBUG ---------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "http://93.184.216.34/hook",
        "ftp://93.184.216.34/hook",
        "https://user:pw@93.184.216.34/hook",
    ],
)
def test_internal_or_plain_http_endpoints_are_refused_outside_debug(settings, url):
    settings.DEBUG = False

    with pytest.raises(InvalidResource) as raised:
        subscription_create(scope=SYSTEM, doc=subscription(url))

    assert raised.value.http_status == 400
    assert not Subscriber.objects.exists()


def test_a_public_https_endpoint_is_accepted_outside_debug(settings):
    settings.DEBUG = False

    target = endpoint_check("https://93.184.216.34:8443/hook?x=1")

    assert (target.address, target.port, target.path) == ("93.184.216.34", 8443, "/hook?x=1")


def test_loopback_is_allowed_in_debug(settings):
    settings.DEBUG = True

    assert endpoint_check("http://localhost:9/x").address in ("127.0.0.1", "::1")


# --- matching ---------------------------------------------------------------------------------


def test_a_matching_create_is_delivered_with_the_resource_as_payload(
    people, receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    doc = subscription(
        receiver.url, payload="application/fhir+json", header=["Authorization: Bearer s3"]
    )
    sub_id = subscribe(SYSTEM, doc, capture)

    obs_id = write(capture, subject="Patient/ann")
    write(capture, subject="Patient/ann", code="29463-7")  # another code: no match

    [hit] = receiver.received
    current = Repository(scope=SYSTEM).read(resource_type="Observation", logical_id=obs_id)
    assert hit.body == current.text
    assert hit.path == "/hook"
    assert hit.headers["Authorization"] == "Bearer s3"
    assert hit.headers["Content-Type"].startswith("application/fhir+json")
    assert hit.headers["X-Subscription"] == f"Subscription/{sub_id}"
    assert hit.headers["X-Subscription-Event"] == "create"


def test_an_empty_payload_notifies_with_no_body(
    people, receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    subscribe(SYSTEM, subscription(receiver.url), capture)

    obs_id = write(capture, subject="Patient/ann")

    [hit] = receiver.received
    assert hit.body == b""
    assert hit.headers["X-Subscription-Resource"] == f"Observation/{obs_id}/_history/1"


def test_a_patients_subscription_never_hears_about_another_patients_resource(
    people, receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    subscribe(
        ANN,
        subscription(receiver.url, "Observation?code=8867-4", payload="application/fhir+json"),
        capture,
    )

    write(capture, subject="Patient/bob")
    ann_obs = write(capture, subject="Patient/ann")

    assert [h.headers["X-Subscription-Resource"] for h in receiver.received] == [
        f"Observation/{ann_obs}/_history/1"
    ]
    assert b"Patient/bob" not in b"".join(h.body for h in receiver.received)


def test_updates_and_deletes_are_notified(people, receiver, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    subscribe(ANN, subscription(receiver.url, payload="application/fhir+json"), capture)
    obs_id = write(capture, subject="Patient/ann", logical_id="o1")

    write(capture, subject="Patient/ann", logical_id="o1", value=80)
    with capture(execute=True):
        Repository(scope=SYSTEM).delete(resource_type="Observation", logical_id=obs_id)

    events = [
        (h.headers["X-Subscription-Event"], h.headers["X-Subscription-Resource"])
        for h in receiver.received
    ]
    assert events == [
        ("create", "Observation/o1/_history/1"),
        ("update", "Observation/o1/_history/2"),
        ("delete", "Observation/o1/_history/3"),
    ]
    assert receiver.received[-1].body == b""


def test_a_deleted_subscription_stops_notifying(
    people, receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    sub_id = subscribe(SYSTEM, subscription(receiver.url), capture)
    with capture(execute=True):
        subscription_delete(scope=SYSTEM, logical_id=sub_id)

    write(capture, subject="Patient/ann")

    assert receiver.received == []
    assert not Subscriber.objects.exists()


def test_matching_costs_one_query_per_subscription_of_the_type(
    people, receiver, django_assert_num_queries, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    subscribe(SYSTEM, subscription(receiver.url), capture)
    subscribe(ANN, subscription(receiver.url, "Observation?patient=ann"), capture)
    subscribe(SYSTEM, subscription(receiver.url, "Patient?name=Smith"), capture)
    changes = [Change("Observation", "x1", 1, "create"), Change("Observation", "x2", 1, "create")]

    with django_assert_num_queries(3):  # the Observation subscribers, then one per subscriber
        assert notifications_for(changes=changes) == []


def test_writes_of_unwatched_types_cost_no_query(people, settings, django_assert_num_queries):
    settings.SUBSCRIPTIONS = {**settings.SUBSCRIPTIONS, "TYPES_CACHE_SECONDS": 60}
    subscription_matching.active_types()
    stored = Repository(scope=SYSTEM).read(resource_type="Patient", logical_id="ann")

    with django_assert_num_queries(0):
        subscription_matching.on_changed([stored])


# --- failures ---------------------------------------------------------------------------------


def test_failures_are_retried_with_backoff_then_the_subscription_is_set_to_error(
    people, receiver, waits, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    receiver.statuses = [500]
    sub_id = subscribe(SYSTEM, subscription(receiver.url), capture)

    write(capture, subject="Patient/ann")
    write(capture, subject="Patient/ann")

    assert len(receiver.received) == 3  # MAX_ATTEMPTS for the first; none for the second
    assert waits == [1, 2]
    doc = stored(sub_id)
    assert doc["status"] == "error"
    assert "HTTP 500" in doc["error"]
    assert doc["meta"]["versionId"] == "2"
    assert Subscriber.objects.get(logical_id=sub_id).active is False


def test_a_retry_that_succeeds_keeps_the_subscription_active(
    people, receiver, waits, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    receiver.statuses = [503, 200]
    sub_id = subscribe(SYSTEM, subscription(receiver.url), capture)

    write(capture, subject="Patient/ann")

    assert len(receiver.received) == 2
    assert waits == [1]
    assert stored(sub_id)["status"] == "active"


def test_an_unreachable_endpoint_ends_in_error_too(
    people, waits, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    with receiving() as gone:
        url = gone.url
    sub_id = subscribe(SYSTEM, subscription(url), capture)

    write(capture, subject="Patient/ann")

    doc = stored(sub_id)
    assert doc["status"] == "error"
    assert "could not reach" in doc["error"]


def test_an_endpoint_that_became_internal_is_refused_at_delivery(
    people, receiver, waits, settings, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    sub_id = subscribe(SYSTEM, subscription(receiver.url), capture)
    settings.DEBUG = False  # the check at delivery sees loopback, as after DNS rebinding

    write(capture, subject="Patient/ann")

    assert receiver.received == []
    assert waits == []  # no retry can mend it
    assert "https" in stored(sub_id)["error"]


def test_errors_are_fhir_errors_never_crashes():
    with pytest.raises(FhirError):
        subscription_create(scope=SYSTEM, doc={"resourceType": "Subscription", "channel": 3})


def test_a_subscription_changed_in_a_bundle_stops_until_put_again(
    people, receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    sub_id = subscribe(SYSTEM, subscription(receiver.url), capture)
    changed = {**stored(sub_id), "criteria": "Observation?code=29463-7"}
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": changed, "request": {"method": "PUT", "url": f"Subscription/{sub_id}"}}
        ],
    }
    with capture(execute=True):
        run_bundle(repo=Repository(scope=SYSTEM), bundle=bundle)

    write(capture, subject="Patient/ann")

    assert receiver.received == []
    assert "PUT it again" in Subscriber.objects.get(logical_id=sub_id).error


def test_a_resource_moved_out_of_reach_before_delivery_is_not_sent(
    people, receiver, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    sub_id = subscribe(ANN, subscription(receiver.url, payload="application/fhir+json"), capture)
    write(capture, subject="Patient/ann", logical_id="o1")
    found = notifications_for(changes=[Change("Observation", "o1", 1, "create")])
    write(capture, subject="Patient/bob", logical_id="o1")  # filed to the wrong patient, moved

    outcome = notification_attempt(notification=found[0], attempt=0)

    assert outcome is Outcome.DROPPED
    assert len(receiver.received) == 1  # only the delivery made before the move
    assert stored(sub_id)["status"] == "active"
