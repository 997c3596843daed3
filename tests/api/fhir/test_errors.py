"""Every failure on /fhir is an OperationOutcome with the right status, and writes nothing."""

import pytest
from django.test import override_settings

from fhirstore.models import Resource, ResourceVersion


def _assert_outcome(response, status):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    assert body["issue"][0]["diagnostics"]
    return body


def _nothing_written():
    return not Resource.objects.exists() and not ResourceVersion.objects.exists()


def test_malformed_json_is_400(fhir):
    response = fhir.client.post(
        "/fhir/Patient", b'{"resourceType": "Patient",', content_type="application/fhir+json"
    )

    _assert_outcome(response, 400)
    assert _nothing_written()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"resourceType": "Patient", "foo": 1}, "Patient.foo"),
        ({"resourceType": "Patient", "active": "yes"}, "Patient.active"),
        ({"resourceType": "Patient", "birthDate": "2020-13-45"}, "Patient.birthDate"),
        ({"resourceType": "Patient", "name": [{"given": [7]}]}, "Patient.name[0].given[0]"),
        ({"resourceType": "Observation", "status": "final"}, "Observation.code"),
        ({"resourceType": "Patient", "gender": "banana"}, "Patient.gender"),
        ({"resourceType": "Patient", "name": [{"use": "nick"}]}, "Patient.name[0].use"),
    ],
)
def test_invalid_resource_is_400_naming_the_element(fhir, body, where):
    response = fhir.post(f"/{body['resourceType']}", body)

    outcome = _assert_outcome(response, 400)
    assert where in outcome["issue"][0]["diagnostics"]
    assert _nothing_written()


def test_bad_id_in_url_is_rejected(fhir):
    response = fhir.put("/Patient/" + "x" * 65, {"resourceType": "Patient", "id": "x" * 65})

    assert response.status_code in (400, 404)
    assert response.json()["resourceType"] == "OperationOutcome"
    assert _nothing_written()


@pytest.mark.parametrize(
    "div",
    [
        '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><img src="x.png" onerror="alert(1)"/></div>',
        '<div xmlns="http://www.w3.org/1999/xhtml"><a href=" javascript:alert(1)">x</a></div>',
        "<p>not a div</p>",
    ],
)
def test_unsafe_narrative_is_rejected(fhir, div):
    response = fhir.post(
        "/Patient", {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    )

    _assert_outcome(response, 400)
    assert _nothing_written()


def test_safe_narrative_is_accepted(fhir):
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Ada <b>Okafor</b></p><a href="https://nhs.uk">NHS</a></div>'

    response = fhir.post(
        "/Patient", {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    )

    assert response.status_code == 201


def test_unknown_type_is_404(fhir):
    _assert_outcome(fhir.get("/Spaceship/1"), 404)
    _assert_outcome(fhir.post("/Spaceship", {"resourceType": "Spaceship"}), 404)


def test_body_type_must_match_url_type(fhir):
    _assert_outcome(fhir.post("/Patient", {"resourceType": "Practitioner"}), 400)
    assert _nothing_written()


def test_wrong_method_is_405_with_allow(fhir):
    response = fhir.client.post("/fhir/Patient/abc/_history")

    _assert_outcome(response, 405)
    assert "GET" in response["Allow"]


def test_xml_body_is_415(fhir):
    response = fhir.client.post(
        "/fhir/Patient",
        b"<Patient xmlns='http://hl7.org/fhir'/>",
        content_type="application/fhir+xml",
    )

    _assert_outcome(response, 415)


def test_xml_only_accept_is_406(fhir):
    _assert_outcome(fhir.get("/metadata", Accept="application/fhir+xml"), 406)
    _assert_outcome(fhir.get("/metadata?_format=xml"), 406)


def test_json_accept_variants_are_served(fhir):
    assert fhir.get("/metadata", Accept="application/json").status_code == 200
    assert fhir.get("/metadata?_format=json")["Content-Type"].startswith("application/fhir+json")
    assert fhir.get("/metadata", Accept="application/json")["Content-Type"].startswith(
        "application/json"
    )


def test_pretty_output_is_indented(fhir):
    response = fhir.get("/metadata?_pretty=true")

    assert b'\n  "resourceType"' in response.content


@override_settings(
    FHIR_STORE={**__import__("django.conf").conf.settings.FHIR_STORE, "MAX_BODY_BYTES": 2048}
)
def test_body_over_the_limit_is_413(fhir):
    big = {"resourceType": "Patient", "name": [{"family": "x" * 4000}]}

    _assert_outcome(fhir.post("/Patient", big), 413)
    assert _nothing_written()


def test_empty_body_is_400(fhir):
    response = fhir.client.post("/fhir/Patient", b"  ", content_type="application/fhir+json")

    _assert_outcome(response, 400)


def test_non_object_body_is_400(fhir):
    _assert_outcome(
        fhir.client.post("/fhir/Patient", b"[1,2]", content_type="application/fhir+json"), 400
    )


def test_unknown_route_is_404_outcome(fhir):
    _assert_outcome(fhir.get("/Patient/1/_history/1/extra"), 404)


def test_missing_token_is_401_with_www_authenticate(client, db):
    response = client.get("/fhir/Patient/1")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


def test_unknown_token_is_401(client, db):
    response = client.get("/fhir/Patient/1", headers={"Authorization": "Bearer not-a-real-token"})

    assert response.status_code == 401


def test_malformed_authorization_header_is_401(client, db):
    assert client.get("/fhir/Patient/1", headers={"Authorization": "Basic abc"}).status_code == 401


def test_metadata_needs_no_token(client, db):
    assert client.get("/fhir/metadata").status_code == 200
