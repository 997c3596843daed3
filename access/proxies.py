"""Proxy grants managed by the person they are about: list, grant and revoke.

A grant is a FHIR Consent of the profile `access.consent` honours, written into the person's own
compartment through the repository (so the store checks it like any write), with the person as
grantor. Revoking sets the Consent's status to `inactive`, keeping it in history; the carer's next
request no longer finds it in force. http://hl7.org/fhir/R4/consent.html
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone

from access.consent import CONSENT_ACTION, CONSENT_SCOPE, RESOURCE_TYPES
from fhirstore import jsontext
from fhirstore.context import AccessScope
from fhirstore.errors import InvalidRequest, NotFound
from fhirstore.fhirmodels import is_resource_type
from fhirstore.repository import Repository
from fhirstore.search.engine import execute_search
from fhirstore.search.parse import parse_search

LOINC_PATIENT_CONSENT = ("http://loinc.org", "59284-0")
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


@dataclass(frozen=True)
class ProxyGrant:
    """One proxy grant as the person sees it."""

    id: str
    related_person: str
    areas: tuple[str, ...]
    write: bool
    start: str | None
    end: str | None
    active: bool


def _today() -> date:
    return timezone.now().date()


def _repository(patient_id: str, actor: str) -> Repository:
    scope = AccessScope(
        patient_ids=frozenset({patient_id}),
        readable=frozenset({"Consent", "RelatedPerson"}),
        writable=frozenset({"Consent"}),
        actor=actor,
    )
    return Repository(scope=scope)


def proxies_of(*, patient_id: str, actor: str) -> list[ProxyGrant]:
    """The person's proxy grants (active ones and revoked ones), newest first."""
    params = [("patient", f"Patient/{patient_id}"), ("scope", "|".join(CONSENT_SCOPE))]
    params += [("_sort", "-_lastUpdated"), ("_count", "100")]
    request = parse_search(resource_type="Consent", params=params)
    result = execute_search(request=request, scope=_repository(patient_id, actor).scope)
    grants = (_view(jsontext.loads(row.text)) for row in result.matches)
    return [grant for grant in grants if grant is not None]


def _view(doc: dict[str, Any]) -> ProxyGrant | None:
    provision = doc.get("provision") or {}
    actors = [a.get("reference", {}).get("reference", "") for a in provision.get("actor", [])]
    carers = [a for a in actors if a.startswith("RelatedPerson/")]
    if not carers:
        return None
    codes = {c.get("code") for a in provision.get("action", []) for c in a.get("coding", [])}
    period = provision.get("period") or {}
    return ProxyGrant(
        id=str(doc["id"]),
        related_person=carers[0],
        areas=_areas_of(provision),
        write="correct" in codes,
        start=period.get("start"),
        end=period.get("end"),
        active=doc.get("status") == "active",
    )


def _areas_of(provision: dict[str, Any]) -> tuple[str, ...]:
    areas = [str(c.get("code")) for c in provision.get("class", [])]
    return tuple(areas) if areas else ("*",)


def _check_areas(areas: list[str]) -> list[str]:
    if areas == ["*"] or not areas:
        return []
    unknown = [area for area in areas if not is_resource_type(area)]
    if unknown:
        raise InvalidRequest(f"Unknown record areas: {', '.join(unknown)}", expression=("areas",))
    return sorted(set(areas))


def _consent_doc(
    patient_id: str, carer: str, areas: list[str], write: bool, until: date | None
) -> dict[str, Any]:
    actions = ["access", "correct"] if write else ["access"]
    provision: dict[str, Any] = {
        "type": "permit",
        "actor": [
            {
                "role": {"coding": [{"system": PARTICIPATION, "code": "PRCP"}]},
                "reference": {"reference": carer},
            }
        ],
        "action": [{"coding": [{"system": CONSENT_ACTION, "code": code}]} for code in actions],
        "period": {"start": _today().isoformat()},
    }
    if until is not None:
        provision["period"]["end"] = until.isoformat()
    if areas:
        provision["class"] = [{"system": RESOURCE_TYPES, "code": area} for area in areas]
    return {
        "resourceType": "Consent",
        "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE[0], "code": CONSENT_SCOPE[1]}]},
        "category": [
            {"coding": [{"system": LOINC_PATIENT_CONSENT[0], "code": LOINC_PATIENT_CONSENT[1]}]}
        ],
        "patient": {"reference": f"Patient/{patient_id}"},
        "performer": [{"reference": f"Patient/{patient_id}"}],
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTIN"}]},
        "provision": provision,
    }


def proxy_grant(
    *,
    patient_id: str,
    related_person_id: str,
    areas: list[str],
    write: bool,
    until: date | None,
    actor: str,
) -> ProxyGrant:
    """Grant the carer (a RelatedPerson of this person's) access to the given record areas."""
    repo = _repository(patient_id, actor)
    try:
        repo.read(resource_type="RelatedPerson", logical_id=related_person_id)
    except NotFound:
        raise InvalidRequest(
            f"RelatedPerson/{related_person_id} is not one of your related people",
            expression=("related_person",),
        ) from None
    if until is not None and until < _today():
        raise InvalidRequest("until must not be in the past", expression=("until",))
    carer = f"RelatedPerson/{related_person_id}"
    doc = _consent_doc(patient_id, carer, _check_areas(areas), write, until)
    stored = repo.create(doc=doc).stored
    view = _view(jsontext.loads(stored.text))
    assert view is not None
    return view


def proxy_revoke(*, patient_id: str, consent_id: str, actor: str) -> None:
    """Set the grant's Consent to inactive; NotFound when it is not one of this person's."""
    repo = _repository(patient_id, actor)
    doc = jsontext.loads(repo.read(resource_type="Consent", logical_id=consent_id).text)
    if _view(doc) is None:
        raise NotFound(f"Consent/{consent_id} is not known")
    if doc.get("status") == "inactive":
        return
    doc["status"] = "inactive"
    repo.update(resource_type="Consent", logical_id=consent_id, doc=doc)
