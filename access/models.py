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
