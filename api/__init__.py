"""The HTTP surfaces: api.fhir (FHIR R4 REST) and api.app (mobile REST v1)."""
