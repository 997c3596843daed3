"""Questions the access layer asks the store about relationships between resources: which patients a
practitioner's care teams and organisations cover, which Consents name a proxy.

They read the search index (rows exist only for current, non-deleted versions), one SQL query each,
so `access/` never touches index tables itself. They ignore access scopes on purpose: their answers
are what access scopes are built from.
"""

from collections.abc import Iterable
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Q

from fhirstore import jsontext
from fhirstore.models import Resource
from fhirstore.models.index import SearchReference, SearchToken


def _split(reference: str) -> tuple[str, str]:
    resource_type, _, logical_id = reference.partition("/")
    return resource_type, logical_id


def _targets_q(references: Iterable[str]) -> Q:
    pairs = sorted({_split(r) for r in references if "/" in r})
    return reduce(or_, (Q(target_type=t, target_id=i) for t, i in pairs), Q(pk__in=[]))


def practitioner_affiliations(*, practitioner_id: str) -> tuple[frozenset[str], frozenset[str]]:
    """(PractitionerRole ids, Organization ids) of the practitioner's roles not marked inactive."""
    inactive = SearchToken.objects.filter(
        resource_type="PractitionerRole", param="active", code="false"
    )
    roles = SearchReference.objects.filter(
        resource_type="PractitionerRole",
        param="practitioner",
        target_type="Practitioner",
        target_id=practitioner_id,
    ).exclude(resource_id__in=inactive.values("resource_id"))
    rows = SearchReference.objects.filter(
        Q(param="organization", target_type="Organization") | Q(param="practitioner"),
        resource_type="PractitionerRole",
        resource_id__in=roles.values("resource_id"),
    ).values_list("resource__logical_id", "target_type", "target_id")
    role_ids, org_ids = set(), set()
    for role_id, target_type, target_id in rows:
        role_ids.add(role_id)
        if target_type == "Organization":
            org_ids.add(target_id)
    return frozenset(role_ids), frozenset(org_ids)


def patients_in_care_teams_of(*, references: Iterable[str]) -> frozenset[str]:
    """Ids of the patients of active CareTeams with a participant member among `references`
    ("Practitioner/1", "PractitionerRole/2", "Organization/3")."""
    members = SearchReference.objects.filter(
        _targets_q(references), resource_type="CareTeam", param="participant"
    )
    active = SearchToken.objects.filter(resource_type="CareTeam", param="status", code="active")
    subjects = SearchReference.objects.filter(
        resource_type="CareTeam",
        param="patient",
        target_type="Patient",
        resource_id__in=members.values("resource_id"),
    ).filter(resource_id__in=active.values("resource_id"))
    return frozenset(subjects.values_list("target_id", flat=True))


def patients_of_organisations(*, organization_ids: Iterable[str]) -> frozenset[str]:
    """Ids of the patients whose managing organisation or general practitioner is one of them."""
    ids = sorted(set(organization_ids))
    if not ids:
        return frozenset()
    refs = SearchReference.objects.filter(
        resource_type="Patient",
        param__in=("organization", "general-practitioner"),
        target_type="Organization",
        target_id__in=ids,
    )
    rows = Resource.objects.filter(pk__in=refs.values("resource_id"), deleted=False)
    return frozenset(rows.values_list("logical_id", flat=True))


def consents_naming_actor(*, actor: str, patient_id: str | None = None) -> list[dict[str, Any]]:
    """Active Consents whose provision names `actor` ("RelatedPerson/7"), as JSON documents;
    only those about `patient_id` when given."""
    actor_type, actor_id = _split(actor)
    named = SearchReference.objects.filter(
        resource_type="Consent", param="actor", target_type=actor_type, target_id=actor_id
    )
    active = SearchToken.objects.filter(resource_type="Consent", param="status", code="active")
    rows = Resource.objects.filter(
        resource_type="Consent",
        deleted=False,
        pk__in=named.values("resource_id"),
    ).filter(pk__in=active.values("resource_id"))
    if patient_id is not None:
        about = SearchReference.objects.filter(
            resource_type="Consent", param="patient", target_type="Patient", target_id=patient_id
        )
        rows = rows.filter(pk__in=about.values("resource_id"))
    return [jsontext.loads(text) for text in rows.order_by("pk").values_list("text", flat=True)]
