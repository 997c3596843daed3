"""`GET /api/v1/me/access-log[?patient=ID]`: who looked at my record, in plain words.

For the person's own record, or for someone they act for (a carer within a proxy grant). Reading
the log is itself recorded in the log, as every app API request is (`AppView`).
"""

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from access.access_log import access_log_for_patient
from access.selectors import patients_user_may_act_for
from api.app.problems import AppView
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
        return Response(
            {"patient": patient_id, "entries": AccessLogEntryOutput(entries, many=True).data}
        )
