"""`GET /api/v1/me/apps` and `DELETE /api/v1/me/apps/{id}`: the apps with access to a person's
record, and revoking one (every token and refresh token of it); errors in problem+json."""

from typing import Any

import pytest
from django.test import Client

from access.models import AuditRecord
from tests.access.personas import app, login, refresh_revoked, refresh_token_add, token, token_live


@pytest.fixture
def ada(db: None) -> Any:
    return login("ada", kind="patient", fhir_id="ada")


def _api(bearer: str) -> Client:
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {bearer}"
    return client


def test_lists_the_apps_with_access_and_their_scopes(
    ada: Any, django_assert_max_num_queries: Any
) -> None:
    mine = token(ada, "launch/patient patient/*.rs", patient_id="ada", application=app("Companion"))
    refresh_token_add(mine)
    token(ada, "patient/Observation.rs", patient_id="ada", application=app("Step counter"))
    carer = login("kid", kind="related-person", fhir_id="kid")
    token(carer, "patient/*.rs", patient_id="ada", application=app("Carer app"))
    token(login("bob", kind="patient", fhir_id="bob"), "patient/*.rs", application=app("Other"))
    with django_assert_max_num_queries(7):  # 6, and the audit record
        response = _api(mine).get("/api/v1/me/apps")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    apps = response.json()["apps"]
    assert [a["name"] for a in apps] == ["Carer app", "Companion", "Step counter"]
    assert apps[0]["for_you_by_someone_else"] is True
    assert apps[1]["scopes"] == ["launch/patient", "patient/*.rs"]
    assert apps[1]["granted"]
    assert apps[1]["last_used"] is None


def test_last_used_comes_from_the_audit_log(ada: Any) -> None:
    mine = token(ada, "patient/*.rs", patient_id="ada", application=app("Companion"))
    assert _api(mine).get("/fhir/Patient/ada").status_code in (200, 404)
    assert AuditRecord.objects.exists()
    apps = _api(mine).get("/api/v1/me/apps").json()["apps"]
    assert apps[0]["last_used"] is not None


def test_revoking_an_app_revokes_all_its_tokens(ada: Any) -> None:
    keeper = token(ada, "patient/*.rs", patient_id="ada", application=app("Companion"))
    step = app("Step counter")
    first = token(ada, "patient/Observation.rs", patient_id="ada", application=step)
    second = token(ada, "patient/Observation.rs", patient_id="ada", application=step)
    refresh_token_add(second)
    response = _api(keeper).delete(f"/api/v1/me/apps/{step.pk}")
    assert response.status_code == 204
    assert not token_live(first)
    assert not token_live(second)
    assert refresh_revoked(f"r-{second}")
    assert _api(first).get("/fhir/Observation").status_code == 401
    names = [a["name"] for a in _api(keeper).get("/api/v1/me/apps").json()["apps"]]
    assert names == ["Companion"]


def test_revoking_an_app_without_access_is_a_problem_404(ada: Any) -> None:
    mine = token(ada, "patient/*.rs", patient_id="ada")
    other = app("Other")
    token(login("bob", kind="patient", fhir_id="bob"), "patient/*.rs", application=other)
    for app_id in (other.pk, 999999):
        response = _api(mine).delete(f"/api/v1/me/apps/{app_id}")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 404
    assert other.accesstoken_set.exists()


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_without_a_valid_token_the_api_answers_401_problem(db: None, header: str | None) -> None:
    client = Client()
    if header:
        client.defaults["HTTP_AUTHORIZATION"] = header
    response = client.get("/api/v1/me/apps")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["title"] == "Authentication required"


def test_unknown_api_routes_are_problem_404(db: None) -> None:
    response = Client().get("/api/v1/nothing/here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
