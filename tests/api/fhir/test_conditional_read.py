"""Conditional read: 304 Not Modified when the client's copy is current (If-None-Match,
If-Modified-Since), the full resource otherwise. https://hl7.org/fhir/R4/http.html#cread"""

import time
from datetime import timedelta

import pytest
from django.utils.http import http_date

from access.models import AuditRecord


@pytest.fixture
def stored(fhir, patient_doc):
    created = fhir.create(patient_doc)
    fhir.put(f"/Patient/{created['id']}", {**patient_doc, "id": created["id"], "gender": "other"})
    response = fhir.get(f"/Patient/{created['id']}")
    assert response["ETag"] == 'W/"2"'
    return f"/Patient/{created['id']}", response


@pytest.mark.parametrize("tags", ['W/"2"', '"2"', 'W/"1", W/"2"', "*"])
def test_a_current_etag_is_answered_304_without_a_body(fhir, stored, tags):
    path, _ = stored

    response = fhir.get(path, **{"If-None-Match": tags})

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == 'W/"2"'


def test_a_stale_etag_gets_the_resource(fhir, stored):
    path, current = stored

    response = fhir.get(path, **{"If-None-Match": 'W/"1"'})

    assert response.status_code == 200
    assert response.content == current.content


def test_if_modified_since_compares_with_the_last_update(fhir, stored):
    path, current = stored
    last = current["Last-Modified"]

    assert fhir.get(path, **{"If-Modified-Since": last}).status_code == 304
    assert fhir.get(path, **{"If-Modified-Since": http_date(0)}).status_code == 200
    assert fhir.get(path, **{"If-Modified-Since": "not a date"}).status_code == 200


def test_if_none_match_decides_when_both_are_sent(fhir, stored):
    path, current = stored
    later = http_date(time.time() + timedelta(days=3650).total_seconds())  # unmodified by date

    response = fhir.get(path, **{"If-None-Match": 'W/"1"', "If-Modified-Since": later})

    assert response.status_code == 200


def test_a_304_is_audited_like_any_read(fhir, stored):
    path, _ = stored
    before = AuditRecord.objects.count()

    fhir.get(path, **{"If-None-Match": 'W/"2"'})

    record = AuditRecord.objects.order_by("-pk").first()
    assert AuditRecord.objects.count() > before
    assert record is not None
    assert (record.status, record.interaction) == (304, "read")
