"""The person's proxy grants: `GET /api/v1/me/proxies` lists them, `POST` grants one to a
related person (record areas, read or read-write, until when), `DELETE /api/v1/me/proxies/{id}`
revokes one. Each grant is a FHIR Consent in the person's compartment (`access.proxies`)."""

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from access.proxies import proxies_of, proxy_grant, proxy_revoke
from access.selectors import account_of
from api.app.problems import AppView
from fhirstore.errors import Forbidden

ID_PATTERN = r"^[A-Za-z0-9\-\.]{1,64}$"


class ProxyOutput(serializers.Serializer):
    id = serializers.CharField()
    related_person = serializers.CharField()
    areas = serializers.ListField(child=serializers.CharField())
    write = serializers.BooleanField()
    start = serializers.CharField(allow_null=True)
    end = serializers.CharField(allow_null=True)
    active = serializers.BooleanField()


class ProxyInput(serializers.Serializer):
    related_person = serializers.RegexField(r"^(RelatedPerson/)?[A-Za-z0-9\-\.]{1,64}$")
    areas = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=100, default=list
    )
    write = serializers.BooleanField(default=False)
    until = serializers.DateField(required=False, allow_null=True, default=None)


def _patient_id(request: Request) -> str:
    account = account_of(request.user)
    if account is None or account.kind != "patient" or not account.fhir_id:
        raise Forbidden("Only a patient's own login manages their proxy grants")
    return account.fhir_id


def _actor(request: Request) -> str:
    return f"user:{request.user.pk} app-api"


class ProxiesView(AppView):
    def get(self, request: Request) -> Response:
        grants = proxies_of(patient_id=_patient_id(request), actor=_actor(request))
        return Response({"proxies": ProxyOutput(grants, many=True).data})

    def post(self, request: Request) -> Response:
        patient_id = _patient_id(request)
        given = ProxyInput(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        grant = proxy_grant(
            patient_id=patient_id,
            related_person_id=data["related_person"].removeprefix("RelatedPerson/"),
            areas=data["areas"],
            write=data["write"],
            until=data["until"],
            actor=_actor(request),
        )
        return Response(ProxyOutput(grant).data, status=201)


class ProxyView(AppView):
    def delete(self, request: Request, consent_id: str) -> Response:
        proxy_revoke(patient_id=_patient_id(request), consent_id=consent_id, actor=_actor(request))
        return Response(status=204)
