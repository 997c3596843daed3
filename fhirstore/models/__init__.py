"""Tables of the FHIR store. Only fhirstore code reads or writes them."""

from fhirstore.models.resources import CompartmentMember, Resource, ResourceVersion

__all__ = ["CompartmentMember", "Resource", "ResourceVersion"]
