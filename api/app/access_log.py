"""`GET /api/v1/me/access-log[?patient=ID]`: who looked at my record, in plain words.

For the person's own record, or for someone they act for (a carer within a proxy grant). Reading
the log is itself recorded in the log.
"""

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from access.access_log import access_log_for_patient
from access.audit import Target, audit_request
from access.selectors import patients_user_may_act_for
from api.app.problems import AppView
from fhirstore.context import AccessScope
from fhirstore.errors import Forbidden


class AccessLogEntryOutput(serializers.Serializer):
    when = serializers.DateTimeField()
    who = serializers.CharField()
    via = serializers.CharField()
    action = serializers.CharField()
    area = serializers.CharField()
    allowed = serializers.BooleanField()
    acting_for_you = serializers.CharField()
    sentence = serializers.CharField()


class AccessLogView(AppView):
    def get(self, request: Request) -> Response:
        mine = patients_user_may_act_for(request.user)
        patient_id = request.query_params.get("patient") or (mine[0] if mine else "")
        if not patient_id or patient_id not in mine:
            raise Forbidden("You may read the access log only of records you may act for")
        entries = access_log_for_patient(patient_id=patient_id)
        _record_reading(request, patient_id)
        return Response(
            {"patient": patient_id, "entries": AccessLogEntryOutput(entries, many=True).data}
        )


def _record_reading(request: Request, patient_id: str) -> None:
    django_request = request._request
    django_request.access_token = request.auth
    scope = AccessScope(patient_ids=frozenset({patient_id}), actor=f"user:{request.user.pk}")
    target = Target("read", "AuditEvent", "", patient_id)
    audit_request(request=django_request, scope=scope, status=200, target=target)
