"""Work done for integrators in the background: Bulk Data `$export` jobs (state, files, tasks).

A domain app between the FHIR API and the store: the store (`fhirstore.operations.export`) knows
which rows an export holds and streams their stored text; this app owns what is not FHIR, the job
row (who asked, progress, files, expiry), the files in storage, and the Celery tasks that run,
recover and clean up jobs. It may record audit facts through `access`; `fhirstore` never imports it.
"""
