"""Bulk Data `$export`, the store's half: what a kick-off asks for (`params`) and which stored
rows an export holds, streamed in key order from the stored JSON text (`rows`).

Job state, files and scheduling live in the `integrations` app; this package knows FHIR and the
resource tables only. https://hl7.org/fhir/uv/bulkdata/export.html
"""
