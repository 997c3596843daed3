"""django-oauth-toolkit scopes backend that knows SMART on FHIR scopes (v1 and v2).

DOT asks it which of the requested scopes a client may have. Interactive clients may ask for
`patient/` and `user/` resource scopes plus the SMART and OpenID Connect scopes; client-credentials
clients (SMART Backend Services) only for `system/` scopes. When an operator registered scopes for a
client (`register_client --scope`), a request must also be covered by them.
https://django-oauth-toolkit.readthedocs.io/en/latest/settings.html#scopes-backend-class
"""

from typing import Any

from oauth2_provider.models import AbstractApplication
from oauth2_provider.scopes import BaseScopes

from access.scope_words import NON_RESOURCE_SCOPES, ScopeDescriptions
from access.smart_scopes import ResourceScope, parse_scope

# What discovery documents advertise (scopes_supported); any valid SMART scope is accepted.
ADVERTISED_SCOPES = [
    *NON_RESOURCE_SCOPES,
    "patient/*.rs",
    "patient/*.cruds",
    "user/*.rs",
    "user/*.cruds",
    "system/*.rs",
    "system/*.cruds",
    "patient/*.read",
    "patient/*.write",
    "user/*.read",
    "user/*.write",
    "system/*.read",
]


def _covers(registered: ResourceScope, wanted: ResourceScope) -> bool:
    return (
        registered.context == wanted.context
        and registered.resource_type in ("*", wanted.resource_type)
        and wanted.permissions <= registered.permissions
        and registered.query in ("", wanted.query)
    )


def _registered_allows(registered: list[str], scope: str) -> bool:
    if scope in registered:
        return True
    wanted = parse_scope(scope)
    return wanted is not None and any(
        _covers(granted, wanted) for granted in map(parse_scope, registered) if granted is not None
    )


def scope_allowed(*, application: Any, scope: str) -> bool:
    """May `application` be granted `scope`? (Syntax, grant type, registered scopes.)"""
    parsed = parse_scope(scope)
    backend = application.authorization_grant_type == AbstractApplication.GRANT_CLIENT_CREDENTIALS
    if parsed is None:
        allowed = scope in NON_RESOURCE_SCOPES and not backend
    else:
        allowed = (parsed.context == "system") == backend
    registration = getattr(application, "registered_scope", None) if allowed else None
    return allowed and (
        registration is None or _registered_allows(registration.scope.split(), scope)
    )


class SmartScopes(BaseScopes):
    def get_all_scopes(self) -> dict[str, str]:
        return ScopeDescriptions(NON_RESOURCE_SCOPES)

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        requested = getattr(request, "scopes", None) if request is not None else None
        if application is None or not requested:
            return list(ADVERTISED_SCOPES)
        return [scope for scope in requested if scope_allowed(application=application, scope=scope)]

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return []
