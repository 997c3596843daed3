"""Tables of the FHIR store. Only fhirstore code reads or writes them."""

from fhirstore.models.index import (
    INDEX_TABLES,
    SearchDate,
    SearchNumber,
    SearchQuantity,
    SearchReference,
    SearchString,
    SearchToken,
    SearchUri,
)
from fhirstore.models.resources import CompartmentMember, Resource, ResourceVersion

__all__ = [
    "INDEX_TABLES",
    "CompartmentMember",
    "Resource",
    "ResourceVersion",
    "SearchDate",
    "SearchNumber",
    "SearchQuantity",
    "SearchReference",
    "SearchString",
    "SearchToken",
    "SearchUri",
]
