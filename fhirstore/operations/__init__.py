"""FHIR $operations, one module each (STYLE.md section 13)."""
