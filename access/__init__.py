"""Who may do what: SMART on FHIR on django-oauth-toolkit, access contexts, consent and audit."""
