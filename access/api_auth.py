"""Authentication for the app API (`/api/v1/`, Django REST framework): a bearer access token
issued by this server, checked by django-oauth-toolkit like any protected resource. A missing,
unknown, expired or revoked token is a 401 with `WWW-Authenticate: Bearer`."""

from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework.request import Request


class BearerTokenAuthentication(OAuth2Authentication):
    """DOT's DRF authentication, answering 401 (not 403) with a Bearer challenge."""

    www_authenticate_realm = "api"

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'
