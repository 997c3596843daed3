"""Routes of the FHIR REST API, mounted at /fhir (both /fhir and /fhir/ accept every method).

The CapabilityStatement is generated from ROUTES, so what /metadata claims is what is routed.
"""

from django.urls import re_path

from api.fhir import (
    capability,
    export_views,
    import_views,
    search_views,
    subscription_views,
    system,
    views,
)

TYPE = r"(?P<resource_type>[A-Z][A-Za-z]+)"
ID = r"(?P<logical_id>[A-Za-z0-9\-\.]{1,64})"
VID = r"(?P<version>[^/]+)"

# Subscription writes need their own views (checks, activation, the creator's access): first.
urlpatterns = subscription_views.urlpatterns + [
    re_path(r"^/?$", system.root, name="fhir-root"),
    re_path(r"^/metadata/?$", capability.metadata, name="fhir-metadata"),
    re_path(r"^/_history/?$", views.system_history, name="fhir-system-history"),
    re_path(rf"^/{TYPE}/?$", views.type_level, name="fhir-type"),
    re_path(rf"^/{TYPE}/_history/?$", views.type_history, name="fhir-type-history"),
    re_path(rf"^/{TYPE}/{ID}/?$", views.instance, name="fhir-instance"),
    re_path(rf"^/{TYPE}/{ID}/_history/?$", views.instance_history, name="fhir-instance-history"),
    re_path(rf"^/{TYPE}/{ID}/_history/{VID}/?$", views.vread, name="fhir-vread"),
]

urlpatterns += search_views.urlpatterns
urlpatterns += export_views.urlpatterns
urlpatterns += import_views.urlpatterns

# Anything else under /fhir is an unknown route: an OperationOutcome 404, never Django's HTML page.
urlpatterns.append(re_path(r"^.*$", system.unknown_route, name="fhir-unknown"))
