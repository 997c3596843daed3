"""Fixtures for driving the FHIR API through Django's test client."""

import json
from typing import Any

import pytest
from django.test import Client

from access.services import system_token_issue

FHIR_JSON = "application/fhir+json"


class Fhir:
    """A thin FHIR client over django.test.Client: JSON in, response out."""

    def __init__(self, client: Client, token: str) -> None:
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        self.client = client

    def post(self, path: str, body: Any, **headers: str) -> Any:
        return self.client.post(
            f"/fhir{path}", json.dumps(body), content_type=FHIR_JSON, headers=headers
        )

    def put(self, path: str, body: Any, **headers: str) -> Any:
        return self.client.put(
            f"/fhir{path}", json.dumps(body), content_type=FHIR_JSON, headers=headers
        )

    def patch(self, path: str, body: Any, **headers: str) -> Any:
        return self.client.patch(
            f"/fhir{path}",
            json.dumps(body),
            content_type="application/json-patch+json",
            headers=headers,
        )

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(f"/fhir{path}", headers=headers)

    def delete(self, path: str, **headers: str) -> Any:
        return self.client.delete(f"/fhir{path}", headers=headers)

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.post(f"/{body['resourceType']}", body)
        assert response.status_code == 201, response.content
        return response.json()


@pytest.fixture
def system_token(db: None) -> str:
    return system_token_issue(client_name="test-integration", scope="system/*.*")


@pytest.fixture
def fhir(client: Client, system_token: str) -> Fhir:
    return Fhir(client, system_token)


@pytest.fixture
def patient_doc() -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
        "name": [{"family": "Okafor", "given": ["Ada"]}],
        "birthDate": "1968-04-02",
    }
