"""`GET /api/v1/me/apps` lists the apps with access to the person's record;
`DELETE /api/v1/me/apps/{id}` revokes one (all its tokens and refresh tokens)."""

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from access.connected_apps import connected_app_revoke, connected_apps
from api.app.problems import AppView
from fhirstore.errors import NotFound


class ConnectedAppOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    client_id = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    granted = serializers.DateTimeField()
    last_used = serializers.DateTimeField(allow_null=True)
    for_you_by_someone_else = serializers.BooleanField()


class ConnectedAppsView(AppView):
    def get(self, request: Request) -> Response:
        apps = connected_apps(user=request.user)
        return Response({"apps": ConnectedAppOutput(apps, many=True).data})


class ConnectedAppView(AppView):
    def delete(self, request: Request, app_id: int) -> Response:
        connected_app_revoke(user=request.user, app_id=app_id)
        return Response(status=204)

    def get(self, request: Request, app_id: int) -> Response:
        found = [app for app in connected_apps(user=request.user) if app.id == app_id]
        if not found:
            raise NotFound(f"No connected app {app_id}")
        return Response(ConnectedAppOutput(found[0]).data)
