"""Transactions under concurrent writers, each thread on its own connection (PostgreSQL only).

A conditional create inside a transaction takes the same advisory lock as a single conditional
create, until the transaction commits, so racing bundles make one resource, never two.
https://hl7.org/fhir/R4/http.html#trules
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from fhirstore import bundles
from fhirstore.context import SYSTEM
from fhirstore.models import Resource
from fhirstore.repository import Repository

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WRITERS = 12
NHS = "https://fhir.nhs.uk/Id/nhs-number"


def _bundle(writer: int) -> dict:
    patient = {"resourceType": "Patient", "identifier": [{"system": NHS, "value": "4857773456"}]}
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": f"reading {writer}"},
        "subject": {"reference": "urn:uuid:p"},
    }
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:p",
                "resource": patient,
                "request": {
                    "method": "POST",
                    "url": "Patient",
                    "ifNoneExist": f"identifier={NHS}|4857773456",
                },
            },
            {"resource": observation, "request": {"method": "POST", "url": "Observation"}},
        ],
    }


def test_racing_transactions_with_if_none_exist_create_one_patient():
    barrier = threading.Barrier(WRITERS)

    def run(writer: int) -> bundles.BundleOutcome:
        try:
            barrier.wait(timeout=30)
            return bundles.run_bundle(repo=Repository(scope=SYSTEM), bundle=_bundle(writer))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        outcomes = list(pool.map(run, range(WRITERS)))

    patients = Resource.objects.filter(resource_type="Patient")
    assert patients.count() == 1
    statuses = sorted(outcome.results[0].status for outcome in outcomes)
    assert statuses == [200] * (WRITERS - 1) + [201]
    subject = f'"reference":"Patient/{patients.get().logical_id}"'
    observations = Resource.objects.filter(resource_type="Observation")
    assert observations.count() == WRITERS
    assert all(subject in observation.text for observation in observations)
