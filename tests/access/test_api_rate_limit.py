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


@pytest.fixture
def redis_cache(settings):
    """The production cache: Redis (a database of its own, a prefix per test)."""
    import uuid

    from django.core.cache import cache

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/13",
            "KEY_PREFIX": f"rl-test-{uuid.uuid4().hex}",
        }
    }
    yield cache
    cache.clear()


def test_on_redis_the_limits_hold_and_counters_expire_with_their_window(
    client, db, settings, redis_cache
):
    from django.core.cache import caches

    from access.ratelimit import count_hit, peek

    _limits(settings, token=2, address=0)
    token = system_token_issue(client_name="r", scope="system/*.*")
    auth = {"Authorization": f"Bearer {token}"}

    statuses = [client.get("/fhir/Patient/x", headers=auth).status_code for _ in range(3)]

    assert statuses == [404, 404, 429]
    assert [count_hit(bucket="t", who="w")[0] for _ in range(2)] == [1, 2]
    assert peek(bucket="t", who="w", window=60)[0] == 2
    backend = caches["default"]
    raw = backend._cache.get_client(None)
    keys = list(raw.scan_iter(f"{backend.key_prefix}*rl:t:w:*"))
    assert len(keys) == 1
    assert 0 < raw.ttl(keys[0]) <= 61
