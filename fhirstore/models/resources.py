"""Resources, every version of them, and the patient compartments they belong to.

`Resource` holds the current version of each (type, id) so a read is one indexed row;
`ResourceVersion` holds every version ever written, tombstones included, for vread and history.
Both store the JSON text exactly as validated and stamped, served back without re-parsing.
"""

from django.db import models


class Resource(models.Model):
    """The current version of one resource; `deleted` rows are tombstones (read answers 410)."""

    resource_type = models.CharField(max_length=64)
    logical_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    last_updated = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    text = models.TextField(help_text="Stored JSON of the current version; empty when deleted.")
    # The ids of the patients whose compartments hold the current version, space-separated: the
    # same facts as its CompartmentMember rows, here so a read checks access without a query.
    patients = models.TextField(blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_type", "logical_id"], name="resource_type_id"
            ),
        ]
        indexes = [
            models.Index(fields=["resource_type", "last_updated"], name="resource_type_updated"),
            models.Index(fields=["last_updated"], name="resource_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.logical_id}/_history/{self.version}"

    @property
    def patient_ids(self) -> frozenset[str]:
        return frozenset(self.patients.split())


class ResourceVersion(models.Model):
    """One version of a resource as it was written; never changed once written."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="versions")
    resource_type = models.CharField(max_length=64)
    logical_id = models.CharField(max_length=64)
    version = models.PositiveIntegerField()
    last_updated = models.DateTimeField()
    method = models.CharField(max_length=8)
    deleted = models.BooleanField(default=False)
    text = models.TextField()
    # The patients whose compartments held this version, as on Resource.patients: an old version
    # stays with the patient it was filed under, without re-reading its JSON.
    patients = models.TextField(blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource", "version"], name="version_per_resource"),
        ]
        indexes = [
            models.Index(fields=["last_updated", "id"], name="version_updated"),
            models.Index(
                fields=["resource_type", "last_updated", "id"], name="version_type_updated"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource_type}/{self.logical_id}/_history/{self.version}"

    @property
    def patient_ids(self) -> frozenset[str]:
        return frozenset(self.patients.split())


class CompartmentMember(models.Model):
    """A resource's membership of one patient's compartment, recorded at write time."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="compartments")
    resource_type = models.CharField(max_length=64)
    patient_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient_id", "resource"], name="compartment_unique"),
        ]
        indexes = [
            models.Index(fields=["patient_id", "resource_type"], name="compartment_patient_type"),
        ]  # `resource` has the foreign key's own index

    def __str__(self) -> str:
        return f"Patient/{self.patient_id} ∋ {self.resource_type} #{self.resource_id}"
