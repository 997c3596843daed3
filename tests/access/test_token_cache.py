"""Tokens are remembered per process, yet revocation and expiry still act on the next request."""

from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import AccessToken

from access.services import system_token_issue


def _get(client, token):
    return client.get("/fhir/Patient/x", headers={"Authorization": f"Bearer {token}"})


def test_a_revoked_token_is_refused_on_the_next_request(client, db):
    token = system_token_issue(client_name="feed", scope="system/*.*")
    assert _get(client, token).status_code == 404

    AccessToken.objects.filter(token=token).delete()

    assert _get(client, token).status_code == 401


def test_a_token_expired_in_the_database_is_refused(client, db):
    token = system_token_issue(client_name="feed", scope="system/*.*")
    assert _get(client, token).status_code == 404

    AccessToken.objects.filter(token=token).update(expires=timezone.now() - timedelta(seconds=1))

    assert _get(client, token).status_code == 401


def test_narrowed_scopes_apply_on_the_next_request(client, db):
    token = system_token_issue(client_name="feed", scope="system/*.*")
    assert _get(client, token).status_code == 404

    AccessToken.objects.filter(token=token).update(scope="system/Observation.rs")

    assert _get(client, token).status_code == 403


def test_a_remembered_token_is_checked_inside_the_read(client, db, django_assert_num_queries):
    token = system_token_issue(client_name="feed", scope="system/*.*")
    _get(client, token)

    # the read with the token check in the same statement, the audit record
    with django_assert_num_queries(2):
        assert _get(client, token).status_code == 404


def test_a_revoked_token_gets_401_where_a_live_one_got_403(client, db):
    token = system_token_issue(client_name="feed", scope="system/Observation.rs")
    assert _get(client, token).status_code == 403  # Patient is outside its scopes

    AccessToken.objects.filter(token=token).delete()

    assert _get(client, token).status_code == 401


def test_a_revoked_token_cannot_read_a_version(client, db):
    token = system_token_issue(client_name="feed", scope="system/*.*")
    auth = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/fhir/Patient",
        b'{"resourceType":"Patient"}',
        content_type="application/fhir+json",
        headers=auth,
    ).json()
    path = f"/fhir/Patient/{created['id']}"
    assert client.get(f"{path}/_history/1", headers=auth).status_code == 200
    assert client.get(path, headers=auth).status_code == 200

    AccessToken.objects.filter(token=token).delete()

    assert client.get(f"{path}/_history/1", headers=auth).status_code == 401
    assert client.get(path, headers=auth).status_code == 401


def _remembered_with_a_patient(client) -> tuple[str, dict[str, str]]:
    """A token whose process remembers it (one search done), and one female Patient."""
    token = system_token_issue(client_name="feed", scope="system/*.*")
    auth = {"Authorization": f"Bearer {token}"}
    client.post(
        "/fhir/Patient",
        b'{"resourceType":"Patient","gender":"female"}',
        content_type="application/fhir+json",
        headers=auth,
    )
    assert client.get("/fhir/Patient?gender=female", headers=auth).status_code == 200
    return token, auth


def test_a_search_checks_a_remembered_token_in_its_page_query(
    client, db, django_assert_num_queries
):
    _token, auth = _remembered_with_a_patient(client)

    # the page with the token check in its WHERE clause, the audit record
    with django_assert_num_queries(2):
        found = client.get("/fhir/Patient?gender=female", headers=auth)

    assert len(found.json()["entry"]) == 1


def test_a_revoked_token_gets_401_from_a_search_with_or_without_matches(client, db):
    token, auth = _remembered_with_a_patient(client)

    AccessToken.objects.filter(token=token).delete()

    assert client.get("/fhir/Patient?gender=female", headers=auth).status_code == 401
    assert client.get("/fhir/Patient?gender=male", headers=auth).status_code == 401
    assert client.get("/fhir/Patient/x/Observation", headers=auth).status_code == 401


def test_narrowed_scopes_apply_to_the_next_search(client, db):
    token, auth = _remembered_with_a_patient(client)

    AccessToken.objects.filter(token=token).update(scope="system/Observation.rs")

    assert client.get("/fhir/Patient", headers=auth).status_code == 403
    assert client.get("/fhir/Observation", headers=auth).status_code == 200
