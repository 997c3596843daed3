"""The FHIR R4 REST surface under /fhir: thin views over fhirstore.repository.Repository."""
