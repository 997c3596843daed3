"""The FHIR API limits requests per token and per address: 429 with Retry-After; others go on."""

import pytest

from access.services import system_token_issue
from fhirstore.models import Resource


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def _limits(settings, *, token, address):
    settings.ACCESS = {
        **settings.ACCESS,
        "API_RATE_PER_MINUTE_PER_TOKEN": token,
        "API_RATE_PER_MINUTE_PER_ADDRESS": address,
    }


def test_token_past_its_limit_gets_429_and_other_tokens_do_not(client, db, settings):
    _limits(settings, token=3, address=0)
    busy = system_token_issue(client_name="busy", scope="system/*.*")
    calm = system_token_issue(client_name="calm", scope="system/*.*")
    auth = {"Authorization": f"Bearer {busy}"}

    statuses = [client.get("/fhir/Patient/x", headers=auth).status_code for _ in range(4)]
    other = client.get("/fhir/Patient/x", headers={"Authorization": f"Bearer {calm}"})

    assert statuses == [404, 404, 404, 429]
    assert other.status_code == 404


def test_429_carries_retry_after_and_an_operation_outcome(client, db, settings):
    _limits(settings, token=0, address=1)
    client.get("/fhir/Patient/x")

    response = client.get("/fhir/Patient/x")

    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert response.json()["issue"][0]["code"] == "throttled"


def test_throttled_write_writes_nothing(client, db, settings):
    _limits(settings, token=1, address=0)
    token = system_token_issue(client_name="w", scope="system/*.*")
    auth = {"Authorization": f"Bearer {token}"}
    client.get("/fhir/Patient/x", headers=auth)

    response = client.post(
        "/fhir/Patient",
        b'{"resourceType":"Patient"}',
        content_type="application/fhir+json",
        headers=auth,
    )

    assert response.status_code == 429
    assert not Resource.objects.filter(resource_type="Patient").exists()


def test_app_api_is_limited_per_token_in_problem_json(client, db, settings):
    from tests.access.personas import app, login, token

    _limits(settings, token=2, address=0)
    ada = login("ada", kind="patient", fhir_id="ada")
    bearer = token(ada, "patient/*.rs", patient_id="ada", application=app("Companion"))
    auth = {"Authorization": f"Bearer {bearer}"}

    statuses = [client.get("/api/v1/me/apps", headers=auth).status_code for _ in range(3)]
    throttled = client.get("/api/v1/me/apps", headers=auth)

    assert statuses == [200, 200, 429]
    assert throttled["Content-Type"].startswith("application/problem+json")
    assert int(throttled["Retry-After"]) >= 1
