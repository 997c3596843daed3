"""Proxy grants: what a carer (a login linked to a RelatedPerson) may do for a person, read from the
FHIR Consents that person (or an authorised clinician) granted, evaluated on every request so a
revocation takes effect on the next one.

The Consent profile honoured (anything else grants nothing):
- `status` = `active`; `scope` has the coding `CONSENT_SCOPE` (patient-privacy);
- `patient` = `Patient/{id}`, the person acted for;
- `performer` (who granted) includes that Patient, or a Practitioner / PractitionerRole (an
  authorised clinician, for a child or someone lacking capacity);
- `provision.type` = `permit`, with no nested `provision` (not evaluated, so not honoured);
- `provision.actor[].reference` = `RelatedPerson/{id}`, the carer;
- `provision.period` (optional): start and end bound the grant, checked against the request time;
- `provision.action`: `consentaction#access` grants read and search, `consentaction#correct` grants
  create, update and delete (write); no action grants nothing;
- `provision.class` (optional): record areas as resource-type codings (`RESOURCE_TYPES`); absent
  means the whole record. A proxy never writes Consent (it cannot widen its own grant).
http://hl7.org/fhir/R4/consent.html
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fhirstore.history import parse_instant
from fhirstore.selectors import consents_naming_actor

CONSENT_SCOPE = ("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy")
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
GRANTOR_TYPES = ("Practitioner", "PractitionerRole")
NEVER_WRITTEN_BY_PROXY = frozenset({"Consent"})
ALL = frozenset({"*"})


@dataclass(frozen=True)
class ProxyRights:
    """What one carer may do for one patient: resource types ("*" for all) to read and write."""

    patient_id: str
    readable: frozenset[str]
    writable: frozenset[str]
    consent_ids: tuple[str, ...]


def proxy_rights(*, related_person_id: str, patient_id: str, now: datetime) -> ProxyRights | None:
    """The carer's rights for `patient_id` from every Consent in force now; None when none is."""
    docs = consents_naming_actor(actor=f"RelatedPerson/{related_person_id}", patient_id=patient_id)
    grants = [g for g in (_grant(d, related_person_id, now) for d in docs) if g is not None]
    grants = [g for g in grants if g.patient_id == patient_id and (g.readable or g.writable)]
    if not grants:
        return None
    return ProxyRights(
        patient_id=patient_id,
        readable=_union(g.readable for g in grants),
        writable=_union(g.writable for g in grants),
        consent_ids=tuple(cid for g in grants for cid in g.consent_ids),
    )


def patients_for_proxy(*, related_person_id: str, now: datetime) -> list[str]:
    """Ids of the patients the carer may act for now, sorted."""
    docs = consents_naming_actor(actor=f"RelatedPerson/{related_person_id}")
    grants = (_grant(doc, related_person_id, now) for doc in docs)
    return sorted({g.patient_id for g in grants if g is not None and g.readable})


def _union(sets: Any) -> frozenset[str]:
    merged: frozenset[str] = frozenset().union(*sets)
    return ALL if "*" in merged else merged


def _grant(doc: dict[str, Any], related_person_id: str, now: datetime) -> ProxyRights | None:
    """The rights one Consent grants the carer now, or None when it does not follow the profile."""
    patient_id = _local_id(doc.get("patient"), "Patient")
    provision = doc.get("provision")
    if doc.get("status") != "active" or not patient_id or not isinstance(provision, dict):
        return None
    if not _has_coding(doc.get("scope"), *CONSENT_SCOPE) or not _granted_by(doc, patient_id):
        return None
    if provision.get("type") != "permit" or provision.get("provision"):
        return None
    if not _names_actor(provision, related_person_id) or not _in_period(provision, now):
        return None
    areas = _areas(provision)
    actions = {c.get("code") for a in _list(provision.get("action")) for c in _codings(a)}
    readable = areas if "access" in actions else frozenset()
    writable = areas if "correct" in actions else frozenset()
    if "*" not in writable:
        writable -= NEVER_WRITTEN_BY_PROXY
    return ProxyRights(patient_id, readable, writable, (str(doc.get("id", "")),))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _codings(concept: Any) -> list[dict[str, Any]]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return [c for c in _list(codings) if isinstance(c, dict)]


def _has_coding(concept: Any, system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code for c in _codings(concept))


def _local_id(reference: Any, resource_type: str) -> str:
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return ""
    kind, _, logical_id = text.partition("/")
    return logical_id if kind == resource_type and "/" not in logical_id else ""


def _granted_by(doc: dict[str, Any], patient_id: str) -> bool:
    for performer in _list(doc.get("performer")):
        if _local_id(performer, "Patient") == patient_id:
            return True
        if any(_local_id(performer, kind) for kind in GRANTOR_TYPES):
            return True
    return False


def _names_actor(provision: dict[str, Any], related_person_id: str) -> bool:
    actors = _list(provision.get("actor"))
    return any(
        isinstance(a, dict) and _local_id(a.get("reference"), "RelatedPerson") == related_person_id
        for a in actors
    )


def _in_period(provision: dict[str, Any], now: datetime) -> bool:
    period = provision.get("period")
    if not isinstance(period, dict):
        return True
    start, end = period.get("start"), period.get("end")
    if isinstance(start, str) and now < parse_instant(start, name="period.start"):
        return False
    # An end given as a date covers that whole day (or month, or year).
    return not (isinstance(end, str) and now >= _end_instant(end))


def _end_instant(end: str) -> datetime:
    """The first moment after `end`'s precision: "2025" ends at 2026-01-01, a day at midnight."""
    moment = parse_instant(end, name="period.end")
    if len(end) == 4:
        return moment.replace(year=moment.year + 1)
    if len(end) == 7:
        year, month = divmod(moment.month, 12)
        return moment.replace(year=moment.year + year, month=month + 1)
    return moment + timedelta(days=1) if len(end) == 10 else moment


def _areas(provision: dict[str, Any]) -> frozenset[str]:
    classes = [c for c in _list(provision.get("class")) if isinstance(c, dict)]
    if not classes:
        return ALL
    return frozenset(
        str(c["code"]) for c in classes if c.get("system") == RESOURCE_TYPES and c.get("code")
    )
