"""Bulk Data export jobs: who asked for what, how far the export got, and the files it wrote.

A job row is the whole truth about an export. The worker that owns it (`runner`, while
`lease_until` is in the future) advances it one saved file at a time (`type_index`, `after_pk`,
`part`, `files`), so a job whose worker dies resumes from its last saved file, and it is marked
completed only once every type is written. https://hl7.org/fhir/uv/bulkdata/export.html
"""

import uuid
from datetime import datetime

from django.db import models
from django.utils import timezone


class ExportStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    RUNNING = "in-progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ExportLevel(models.TextChoices):
    SYSTEM = "system", "System ($export)"
    PATIENT = "patient", "All patients (Patient/$export)"
    GROUP = "group", "A group (Group/[id]/$export)"


class ExportJob(models.Model):
    """One `$export` request and its progress; deleted when cancelled or expired."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=200, help_text="The caller's actor: client and user.")
    client_id = models.CharField(max_length=120, blank=True, default="")
    level = models.CharField(max_length=8, choices=ExportLevel.choices)
    group_id = models.CharField(max_length=64, blank=True, default="")
    request_url = models.TextField()
    parameters = models.JSONField(help_text="ExportRequest.to_json() of the kick-off.")
    scope = models.JSONField(help_text="The caller's AccessScope at kick-off.")
    patients = models.JSONField(null=True, blank=True, help_text="Group members at kick-off.")
    transaction_time = models.DateTimeField()
    status = models.CharField(
        max_length=12, choices=ExportStatus.choices, default=ExportStatus.ACCEPTED
    )
    types = models.JSONField(default=list, blank=True, help_text="Types to write, fixed at start.")
    planned = models.BooleanField(default=False)
    type_index = models.PositiveIntegerField(default=0)
    after_pk = models.BigIntegerField(default=0, help_text="Last key saved of the current type.")
    part = models.PositiveIntegerField(default=1, help_text="Next file number of the current type.")
    files = models.JSONField(default=list, blank=True)
    error_files = models.JSONField(default=list, blank=True)
    exported = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    runner = models.CharField(max_length=36, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)
    expires = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "lease_until"], name="export_status_lease"),
            models.Index(fields=["expires"], name="export_expires"),
        ]

    def __str__(self) -> str:
        return f"$export {self.id} ({self.status}, {self.exported} resources)"

    @property
    def finished_ok(self) -> bool:
        return self.status == ExportStatus.COMPLETED

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and self.expires <= now


# Models of the change notifications and $import live in their own modules; importing them here
# is what registers them with the app.
from integrations.import_models import ImportJob, ImportStatus  # noqa: E402, F401
from integrations.subscription_models import Subscriber  # noqa: E402, F401
