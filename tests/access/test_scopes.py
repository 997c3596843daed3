"""SMART scopes to the store's AccessScope: v1 and v2 letters, wildcards, granular queries, the
401 answers for unusable tokens, and the cost of building a scope."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings

from access.consent import ProxyRights
from access.scopes import OPEN_TYPES, rights_of, scope_for_token, within_proxy
from access.smart_scopes import parse_scopes
from tests.access.personas import LAB, Fhir, login, put, token


def _rights(text: str) -> Any:
    return rights_of(parse_scopes(text))


def test_v1_read_and_write_map_to_read_and_write() -> None:
    rights = _rights("patient/Observation.read patient/Condition.write patient/Goal.*")
    assert rights.readable == {"Observation", "Goal"}
    assert rights.writable == {"Condition", "Goal"}


def test_v2_letters_map_read_and_search_to_read_and_cud_to_write() -> None:
    rights = _rights("patient/Observation.rs patient/Condition.s patient/Goal.cu patient/Flag.d")
    assert rights.readable == {"Observation", "Condition"}
    assert rights.writable == {"Goal", "Flag"}


def test_wildcard_type_grants_every_type() -> None:
    rights = _rights("patient/*.cruds")
    assert rights.readable == {"*"}
    assert rights.writable == {"*"}


@pytest.mark.django_db
def test_granular_scope_becomes_a_type_filter() -> None:
    rights = _rights(f"patient/Observation.rs?category={LAB}")
    assert rights.readable == {"Observation"}
    assert rights.type_filters == {"Observation": (f"category={LAB}",)}


@pytest.mark.django_db
def test_an_unfiltered_scope_for_the_same_type_wins_over_a_filtered_one() -> None:
    rights = _rights(f"patient/Observation.rs?category={LAB} patient/Observation.rs")
    assert rights.readable == {"Observation"}
    assert dict(rights.type_filters) == {}


@pytest.mark.django_db
def test_granular_queries_for_one_type_are_or_combined() -> None:
    rights = _rights("patient/Observation.rs?code=1 patient/Observation.rs?code=2")
    assert rights.type_filters["Observation"] == ("code=1", "code=2")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "scope",
    [
        "patient/Observation.rs?nonsense=1",  # a parameter the store does not know
        "patient/Observation.rs?date=notadate",  # a value that does not parse
        "patient/*.rs?category=x",  # a granular wildcard
        "patient/Observation.rs?_count=5",  # no criteria at all
    ],
)
def test_a_granular_scope_the_store_cannot_apply_grants_nothing(scope: str) -> None:
    rights = _rights(scope)
    assert rights.readable == frozenset()


@pytest.mark.django_db
def test_a_granular_write_scope_grants_no_writing() -> None:
    rights = _rights(f"patient/Observation.cruds?category={LAB}")
    assert rights.writable == frozenset()
    assert rights.readable == {"Observation"}


def test_proxy_consent_narrows_the_tokens_rights() -> None:
    proxy = ProxyRights("p", frozenset({"Observation", "Goal"}), frozenset({"Goal"}), ("c1",))
    narrowed = within_proxy(_rights("patient/*.cruds"), proxy)
    assert narrowed.readable == {"Observation", "Goal"}
    assert narrowed.writable == {"Goal"}
    assert within_proxy(_rights("patient/Condition.rs"), proxy).readable == frozenset()


@pytest.mark.django_db
def test_patient_token_is_restricted_to_the_launch_patient_with_the_shared_directory() -> None:
    from oauth2_provider.models import AccessToken

    user = login("ada", kind="patient", fhir_id="p1")
    text = token(user, "launch/patient patient/*.rs", patient_id="p1")
    scope = scope_for_token(AccessToken.objects.get(token=text))
    assert scope.patient_ids == frozenset({"p1"})
    assert scope.open_types == OPEN_TYPES
    assert scope.writable == frozenset()


@pytest.mark.django_db
def test_a_patient_token_for_someone_else_sees_nobody() -> None:
    from oauth2_provider.models import AccessToken

    user = login("ada", kind="patient", fhir_id="p1")
    text = token(user, "patient/*.rs", patient_id="p2")
    assert scope_for_token(AccessToken.objects.get(token=text)).patient_ids == frozenset()


@pytest.mark.django_db
def test_system_scopes_on_a_person_token_are_ignored() -> None:
    from oauth2_provider.models import AccessToken

    user = login("ada", kind="patient", fhir_id="p1")
    text = token(user, "system/*.rs", patient_id="p1")
    scope = scope_for_token(AccessToken.objects.get(token=text))
    assert scope.patient_ids is not None
    assert scope.readable == frozenset()


@pytest.mark.django_db
def test_a_login_without_a_fhir_identity_sees_nobody() -> None:
    from oauth2_provider.models import AccessToken

    text = token(login("nobody"), "user/*.rs patient/*.rs", patient_id="p1")
    assert scope_for_token(AccessToken.objects.get(token=text)).patient_ids == frozenset()


@pytest.mark.django_db
def test_building_a_patient_scope_costs_one_query(rf: Any, django_assert_num_queries: Any) -> None:
    from access.scopes import scope_for_request

    user = login("ada", kind="patient", fhir_id="p1")
    text = token(user, "patient/*.rs", patient_id="p1")
    request = rf.get("/fhir/Patient/p1", HTTP_AUTHORIZATION=f"Bearer {text}")
    with django_assert_num_queries(1):
        scope_for_request(request)


# --- 401 and 403 over HTTP ------------------------------------------------------------------


def _assert_401(response: Any) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.django_db
@override_settings(FHIR_STORE={"OPEN_ACCESS_IN_DEBUG": False})
def test_missing_token_is_401() -> None:
    _assert_401(Fhir(None).get("/Patient/p1"))


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "Bearer    ", "Token x"])
def test_malformed_authorization_is_401(client: Any, header: str) -> None:
    _assert_401(client.get("/fhir/Patient/p1", headers={"Authorization": header}))


@pytest.mark.django_db
def test_unknown_expired_and_revoked_tokens_are_401() -> None:
    from oauth2_provider.models import AccessToken

    user = login("ada", kind="patient", fhir_id="p1")
    expired = token(user, "patient/*.rs", patient_id="p1", lifetime=timedelta(seconds=-1))
    revoked = token(user, "patient/*.rs", patient_id="p1")
    AccessToken.objects.get(token=revoked).revoke()
    for text in ("not-a-token", expired, revoked):
        _assert_401(Fhir(text).get("/Patient/p1"))


@pytest.mark.django_db
def test_a_type_not_granted_is_403_and_writes_nothing() -> None:
    from fhirstore.models import Resource

    put({"resourceType": "Patient", "id": "p1"})
    user = login("ada", kind="patient", fhir_id="p1")
    fhir = Fhir(token(user, "patient/Observation.rs", patient_id="p1"))
    assert fhir.get("/Condition").status_code == 403
    doc = {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "walk"}}
    doc["subject"] = {"reference": "Patient/p1"}
    assert fhir.send("POST", "/Goal", doc).status_code == 403
    assert not Resource.objects.filter(resource_type="Goal").exists()
