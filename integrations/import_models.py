"""Bulk ingest (`$import`) jobs: who asked, which NDJSON files, and how far the load got.

A job row is the whole truth about an import. Each batch of lines is written in one database
transaction together with the job's new position (`input_index`, `line`) and counters, so a
worker that dies mid-file leaves a job that resumes after the last committed batch: no line is
loaded twice and none is skipped. Per-line failures go to an OperationOutcome NDJSON file in the
exports storage (`error_files`), like an export's error file.
"""

import uuid

from django.db import models
from django.utils import timezone


class ImportStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    RUNNING = "in-progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """One `$import` request and its progress."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=200, help_text="The caller's actor: client and user.")
    request_url = models.TextField()
    inputs = models.JSONField(help_text="Storage names of the NDJSON files, in order.")
    atomic = models.BooleanField(default=False, help_text="All or nothing (mode=transaction).")
    status = models.CharField(
        max_length=12, choices=ImportStatus.choices, default=ImportStatus.ACCEPTED
    )
    input_index = models.PositiveIntegerField(default=0)
    line = models.PositiveBigIntegerField(default=0, help_text="Lines done in the current input.")
    imported = models.PositiveBigIntegerField(default=0)
    written = models.JSONField(default=dict, blank=True, help_text="Resources written by type.")
    failed_lines = models.PositiveBigIntegerField(default=0)
    error_files = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    runner = models.CharField(max_length=36, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "lease_until"], name="import_status_lease")]

    def __str__(self) -> str:
        return f"$import {self.id} ({self.status}, {self.imported} resources)"
