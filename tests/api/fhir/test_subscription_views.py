"""Subscription over the FHIR API: created active, refused with an OperationOutcome when the
criteria or channel are wrong, owned by its creator (a patient reads only their own), and a
matching write notifies the endpoint. https://hl7.org/fhir/R4/subscription.html
"""

import pytest
from django.test import Client

from integrations import subscription_matching
from integrations.subscription_models import Subscriber
from tests.access import personas
from tests.api.fhir.conftest import Fhir
from tests.integrations.receiver import receiving


@pytest.fixture(autouse=True)
def _subscription_settings(settings):
    settings.DEBUG = True  # the receiver listens on loopback
    settings.SUBSCRIPTIONS = {"RUN_IN_THREAD": False, "TYPES_CACHE_SECONDS": 0, "MAX_ATTEMPTS": 1}
    subscription_matching.forget_active_types()
    yield
    subscription_matching.forget_active_types()  # no memo leaks into other tests


@pytest.fixture
def receiver():
    with receiving() as found:
        yield found


def subscription(endpoint: str, criteria: str = "Observation?code=8867-4") -> dict:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "heart rates",
        "criteria": criteria,
        "channel": {"type": "rest-hook", "endpoint": endpoint, "payload": "application/fhir+json"},
    }


def patient_fhir(name: str) -> Fhir:
    personas.put({"resourceType": "Patient", "id": name})
    user = personas.login(name, kind="patient", fhir_id=name)
    return Fhir(Client(), personas.token(user, "patient/*.*", patient_id=name))


def test_post_creates_an_active_subscription(fhir, receiver):
    response = fhir.post("/Subscription", subscription(receiver.url))

    assert response.status_code == 201
    assert response.json()["status"] == "active"
    assert Subscriber.objects.get().logical_id == response.json()["id"]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"criteria": "Observation?date=notadate"}, 400),
        ({"criteria": "NotAType?x=1"}, 400),
        ({"channel": {"type": "email", "endpoint": "mailto:a@b.c"}}, 422),
        ({"channel": {"type": "rest-hook", "endpoint": "http://x", "payload": "text/csv"}}, 422),
    ],
)
def test_bad_subscriptions_are_refused_with_an_operation_outcome(fhir, receiver, change, status):
    response = fhir.post("/Subscription", {**subscription(receiver.url), **change})

    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert not Subscriber.objects.exists()


def test_an_internal_endpoint_is_refused_outside_debug(fhir, settings):
    settings.DEBUG = False

    response = fhir.post("/Subscription", subscription("https://10.0.0.8/hook"))

    assert response.status_code == 400
    assert "internal address" in response.json()["issue"][0]["diagnostics"]


def test_a_patient_manages_their_own_subscription_and_nobody_elses(db, receiver):
    ann, bob = patient_fhir("ann"), patient_fhir("bob")
    created = ann.post("/Subscription", subscription(receiver.url)).json()
    path = f"/Subscription/{created['id']}"

    assert ann.get(path).status_code == 200
    assert bob.get(path).status_code == 404
    assert bob.put(path, {**subscription(receiver.url), "id": created["id"]}).status_code == 404
    assert bob.delete(path).status_code == 404
    assert ann.patch(path, []).status_code == 405
    assert ann.delete(path).status_code == 200
    assert not Subscriber.objects.exists()


def test_put_rechecks_and_can_switch_a_subscription_off(fhir, receiver):
    created = fhir.post("/Subscription", subscription(receiver.url)).json()

    response = fhir.put(
        f"/Subscription/{created['id']}",
        {**subscription(receiver.url), "id": created["id"], "status": "off"},
    )

    assert response.status_code == 200
    assert response.json()["status"] == "off"
    assert Subscriber.objects.get().active is False


def test_a_matching_write_through_the_api_is_delivered(
    fhir, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        fhir.post("/Subscription", subscription(receiver.url))
    fhir.create({"resourceType": "Patient", "id": "p"})
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    }

    with django_capture_on_commit_callbacks(execute=True):
        created = fhir.create(observation)

    [hit] = receiver.received
    assert hit.headers["X-Subscription-Resource"] == f"Observation/{created['id']}/_history/1"
    assert b'"8867-4"' in hit.body
