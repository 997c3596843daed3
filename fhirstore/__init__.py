"""The FHIR R4 engine: versioned resource storage, validation, search index, compartments, bundles.

It knows FHIR and nothing of the apps that use it. Everything outside talks to it through
`fhirstore.repository.Repository`.
"""
