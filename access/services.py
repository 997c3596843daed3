"""Writes of the access layer: registering clients and issuing tokens for operators and tests.

`system_token_issue` mints a bearer token with `system/` scopes for a confidential client, as an
operator would for a trusted integration or a load test. Interactive and backend-services flows go
through the OAuth endpoints instead.
"""

import secrets
from datetime import timedelta

from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model


def system_token_issue(
    *, client_name: str, scope: str, lifetime: timedelta = timedelta(hours=1)
) -> str:
    """Create (or reuse) a confidential client named `client_name` and return a new access token."""
    application_model = get_application_model()
    application, _ = application_model.objects.get_or_create(
        name=client_name,
        defaults={
            "client_type": application_model.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": application_model.GRANT_CLIENT_CREDENTIALS,
        },
    )
    token = secrets.token_urlsafe(32)
    get_access_token_model().objects.create(
        application=application, token=token, scope=scope, expires=timezone.now() + lifetime
    )
    return token
