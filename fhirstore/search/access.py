"""The caller's access condition on `Resource` rows, built from the request's `AccessScope`.

This is the one place search applies patient isolation: a restricted caller sees resources in the
compartment of one of its patients (the Patient itself included), or of the shared `open_types`.
Every matched, included, chained and `_has` row goes through it, and so do totals.
"""

from django.db.models import Q

from fhirstore.context import AccessScope
from fhirstore.errors import Forbidden
from fhirstore.models import CompartmentMember


def allowed_q(scope: AccessScope, types: tuple[str, ...] = ()) -> Q:
    """Rows the caller may see; `types` (when known) prunes branches that cannot apply."""
    if scope.patient_ids is None:
        return _readable_q(scope)
    patients = sorted(scope.patient_ids)
    members = CompartmentMember.objects.filter(patient_id__in=patients)
    if types:
        members = members.filter(resource_type__in=types)
    allowed = Q(pk__in=members.values("resource_id"))
    open_types = sorted(t for t in scope.open_types if not types or t in types)
    if open_types:
        allowed |= Q(resource_type__in=open_types)
    return allowed & _readable_q(scope)


def _readable_q(scope: AccessScope) -> Q:
    if "*" in scope.readable:
        return Q()
    return Q(resource_type__in=sorted(scope.readable))


def check_readable(scope: AccessScope, types: tuple[str, ...]) -> None:
    """A search naming a type the caller may not read is refused outright (403)."""
    for resource_type in types:
        if not scope.may_read(resource_type):
            raise Forbidden(f"Not allowed to read {resource_type} resources")
