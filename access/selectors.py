"""Who a login may act for: the patients behind a patient, practitioner or carer account.

A patient acts for themself. A practitioner acts for the patients of the active CareTeams they
belong to (directly, through one of their PractitionerRoles, or through those roles'
Organizations) and of the organisations an operator granted them an `OrganisationRole` in. A carer
acts for the people whose Consents name their RelatedPerson (`access.consent`). Staff accounts and
logins without an account act for nobody. Answers come from the store, never from index tables.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from access.consent import patients_for_proxy
from access.models import Account, AccountKind, OrganisationRole
from fhirstore.selectors import (
    patients_in_care_teams_of,
    patients_of_organisations,
    practitioner_affiliations,
)


def account_of(user: AbstractBaseUser | AnonymousUser | None) -> Account | None:
    """The user's Account, or None (anonymous, or a login with no FHIR identity linked)."""
    if user is None or not user.is_authenticated:
        return None
    return Account.objects.filter(user_id=user.pk).first()


def clinician_patients(*, user_id: int, practitioner_id: str) -> frozenset[str]:
    """Patients a practitioner has a care relationship with (care teams, organisation roles)."""
    role_ids, org_ids = practitioner_affiliations(practitioner_id=practitioner_id)
    members = [f"Practitioner/{practitioner_id}"]
    members += [f"PractitionerRole/{role}" for role in sorted(role_ids)]
    members += [f"Organization/{org}" for org in sorted(org_ids)]
    granted = OrganisationRole.objects.filter(user_id=user_id).values_list(
        "organization_id", flat=True
    )
    return patients_in_care_teams_of(references=members) | patients_of_organisations(
        organization_ids=list(granted)
    )


def patients_user_may_act_for(user: AbstractBaseUser | AnonymousUser | None) -> list[str]:
    """Ids of the patients `user` may act for, sorted (the patient picker's choices)."""
    account = account_of(user)
    if account is None or not account.fhir_id:
        return []
    if account.kind == AccountKind.PATIENT:
        return [account.fhir_id]
    if account.kind == AccountKind.RELATED_PERSON:
        return patients_for_proxy(related_person_id=account.fhir_id, now=timezone.now())
    if account.kind == AccountKind.PRACTITIONER:
        found = clinician_patients(user_id=account.user_id, practitioner_id=account.fhir_id)
        return sorted(found)
    return []
