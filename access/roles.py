"""Operator-granted organisation-wide roles: a login that may see every patient of an organisation
(managing organisation or general practice) without a care team, e.g. a practice's duty clinician.
Granted and revoked by operators only (`manage.py grant_org_role`); read by `access.selectors`."""

from django.contrib.auth import get_user_model
from django.db import transaction

from access.models import OrganisationRole
from fhirstore.context import SYSTEM
from fhirstore.repository import Repository


def organisation_role_grant(*, username: str, organization_id: str) -> OrganisationRole:
    """Grant the role: ValueError for an unknown login, NotFound for an unknown Organization."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValueError(f"no login named {username!r}")
    # Raises NotFound for an unknown organisation, so a typo cannot grant a role over nobody.
    Repository(scope=SYSTEM).read(resource_type="Organization", logical_id=organization_id)
    with transaction.atomic():
        role, _ = OrganisationRole.objects.get_or_create(user=user, organization_id=organization_id)
    return role


def organisation_role_revoke(*, username: str, organization_id: str) -> int:
    """Remove the role; the number of roles removed (0 when there was none)."""
    removed, _ = OrganisationRole.objects.filter(
        user__username=username, organization_id=organization_id
    ).delete()
    return removed
