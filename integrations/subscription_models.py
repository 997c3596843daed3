"""What the server keeps about each active R4 Subscription besides the resource itself.

The Subscription resource (criteria, channel, status) lives in the FHIR store; this row holds
what the store cannot: the creator's access (`scope`, an `AccessScope` as JSON), under which
every match runs so a subscriber never hears of a resource it could not read, and the delivery
state. Rows are written by `integrations.subscriptions` in the same transaction as the resource
version they describe (`version`). https://hl7.org/fhir/R4/subscription.html
"""

from django.db import models
from django.utils import timezone


class Subscriber(models.Model):
    """One Subscription's owner, parsed criteria and channel, and whether it is delivering."""

    logical_id = models.CharField(max_length=64, unique=True)
    version = models.PositiveIntegerField(help_text="The Subscription version this row reflects.")
    resource_type = models.CharField(max_length=64, help_text="The type the criteria search.")
    criteria = models.TextField(help_text="The query string of the criteria (after the '?').")
    endpoint = models.TextField()
    payload = models.CharField(max_length=64, blank=True, default="")
    headers = models.JSONField(default=list, blank=True, help_text="channel.header lines.")
    owner = models.CharField(max_length=200, help_text="The creator's actor: client and user.")
    scope = models.JSONField(help_text="The creator's AccessScope, read-only.")
    active = models.BooleanField(default=True)
    error = models.TextField(blank=True, default="")
    updated = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["active", "resource_type"], name="subscriber_active_type")]

    def __str__(self) -> str:
        state = "active" if self.active else "inactive"
        return f"Subscription/{self.logical_id} on {self.resource_type} ({state})"
