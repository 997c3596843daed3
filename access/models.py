"""Data of the access layer: logins linked to FHIR identities, SMART launch contexts, client keys.

`Account` ties a Django login to the FHIR resource it acts as (Patient, Practitioner,
RelatedPerson) or marks it as staff. `TokenContext` is the SMART launch context bound to one access
token (and copied to its refreshed successors). `LaunchContext` is what an EHR creates before an EHR
launch; `ClientKeys` and `UsedAssertion` serve SMART Backend Services (private_key_jwt).
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
"""

import secrets

from django.conf import settings
from django.db import models
from oauth2_provider.settings import oauth2_settings


class AccountKind(models.TextChoices):
    PATIENT = "patient", "Patient"
    PRACTITIONER = "practitioner", "Practitioner"
    RELATED_PERSON = "related-person", "Related person (carer or proxy)"
    STAFF = "staff", "Staff (operator)"


# The FHIR resource type each kind of account acts as ("" for staff: no FHIR identity).
FHIR_TYPE_OF_KIND = {
    AccountKind.PATIENT: "Patient",
    AccountKind.PRACTITIONER: "Practitioner",
    AccountKind.RELATED_PERSON: "RelatedPerson",
    AccountKind.STAFF: "",
}


class Account(models.Model):
    """A login linked to the FHIR identity it acts as."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account"
    )
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    fhir_id = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"{self.user} ({self.fhir_reference or self.kind})"

    @property
    def fhir_reference(self) -> str:
        """E.g. "Patient/123"; "" for staff accounts."""
        resource_type = FHIR_TYPE_OF_KIND[AccountKind(self.kind)]
        return f"{resource_type}/{self.fhir_id}" if resource_type and self.fhir_id else ""


class TokenContext(models.Model):
    """SMART launch context of one access token; copied to the tokens that refresh it."""

    access_token = models.OneToOneField(
        oauth2_settings.ACCESS_TOKEN_MODEL, on_delete=models.CASCADE, related_name="smart_context"
    )
    patient_id = models.CharField(max_length=64, blank=True, default="")
    encounter_id = models.CharField(max_length=64, blank=True, default="")
    fhir_user = models.CharField(max_length=100, blank=True, default="")
    need_patient_banner = models.BooleanField(default=False)
    intent = models.CharField(max_length=100, blank=True, default="")

    def __str__(self) -> str:
        return f"context of token {self.access_token_id}: patient={self.patient_id or '-'}"


def _launch_id() -> str:
    return secrets.token_urlsafe(24)


class LaunchContext(models.Model):
    """An EHR launch: context an EHR created, redeemed by the `launch` authorize parameter."""

    launch_id = models.CharField(max_length=64, unique=True, default=_launch_id)
    patient_id = models.CharField(max_length=64)
    encounter_id = models.CharField(max_length=64, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    expires = models.DateTimeField()

    def __str__(self) -> str:
        return f"launch for Patient/{self.patient_id}"


class ClientKeys(models.Model):
    """Public keys of a backend-services client: an inline JWKS, or a URL to fetch it from."""

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="client_keys"
    )
    jwks = models.JSONField(null=True, blank=True)
    jwks_url = models.URLField(blank=True, default="")

    def __str__(self) -> str:
        return f"keys of {self.application_id}"


class UsedAssertion(models.Model):
    """A client assertion `jti` already redeemed; kept until it expires so a replay is refused."""

    jti = models.CharField(max_length=255, unique=True)
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.jti


class OrganisationRole(models.Model):
    """An operator-granted, organisation-wide role: the user may see that organisation's patients
    (Patient.managingOrganization or Patient.generalPractitioner), without a care team."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organisation_roles"
    )
    organization_id = models.CharField(max_length=64)
    granted = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organization_id"], name="org_role_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} → Organization/{self.organization_id}"


class GrantContext(models.Model):
    """The launch context chosen at consent, held by the authorization code until it is redeemed."""

    grant = models.OneToOneField(
        oauth2_settings.GRANT_MODEL, on_delete=models.CASCADE, related_name="smart_context"
    )
    patient_id = models.CharField(max_length=64, blank=True, default="")
    encounter_id = models.CharField(max_length=64, blank=True, default="")
    fhir_user = models.CharField(max_length=100, blank=True, default="")
    need_patient_banner = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"context of grant {self.grant_id}: patient={self.patient_id or '-'}"


class ClientScope(models.Model):
    """The scopes an operator registered for a client: it may ask for these and no others."""

    application = models.OneToOneField(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="registered_scope"
    )
    scope = models.TextField()

    def __str__(self) -> str:
        return f"scopes of {self.application_id}: {self.scope}"


class AuditRecord(models.Model):
    """One request that touched patient data, allowed or denied (IHE BALP's facts).

    A request concerning several patients writes one row per patient, sharing `request_id`, so a
    person's log is one indexed query and recording costs a single INSERT. Append-only: nothing
    updates or deletes these rows. `access.audit_publish` turns each request into one FHIR
    AuditEvent in the store, in order, remembering how far it got in `AuditWatermark`.
    """

    request_id = models.UUIDField()
    patient_id = models.CharField(max_length=64, blank=True, default="")
    recorded = models.DateTimeField()
    action = models.CharField(max_length=1)  # C R U D E (AuditEvent.action)
    interaction = models.CharField(max_length=40)  # read, search-type, transaction, ...
    outcome = models.CharField(max_length=2)  # 0 success, 4 minor failure, 8 serious failure
    status = models.PositiveSmallIntegerField()
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    query = models.TextField(blank=True, default="")
    actor = models.CharField(max_length=120, blank=True, default="")  # e.g. Practitioner/123
    actor_name = models.CharField(max_length=200, blank=True, default="")
    client_id = models.CharField(max_length=120, blank=True, default="")
    client_name = models.CharField(max_length=200, blank=True, default="")
    on_behalf_of = models.CharField(max_length=120, blank=True, default="")  # proxy relationship
    purpose = models.CharField(max_length=40, blank=True, default="")
    address = models.CharField(max_length=64, blank=True, default="")
    entity = models.CharField(max_length=200, blank=True, default="")  # "Type/id" when known

    class Meta:
        indexes = [
            models.Index(fields=["patient_id", "recorded"], name="audit_patient_recorded"),
            models.Index(fields=["recorded"], name="audit_recorded"),
        ]

    def __str__(self) -> str:
        return f"{self.recorded:%Y-%m-%d %H:%M} {self.actor or self.client_id} {self.interaction}"


class AuditWatermark(models.Model):
    """How far audit records have been published as FHIR AuditEvents (a single row)."""

    last_published = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit published up to {self.last_published}"
