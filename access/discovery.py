"""What the authorisation server tells clients about itself: SMART's well-known document and the
CapabilityStatement's `rest.security`, built from one list of endpoints so they never disagree.
https://hl7.org/fhir/smart-app-launch/conformance.html
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from access.assertions import ALGORITHMS
from access.conf import access_settings
from access.scopes_backend import ADVERTISED_SCOPES

CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "context-ehr-patient",
    "context-ehr-encounter",
    "context-standalone-patient",
    "context-banner",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
]


def _public_origin() -> str:
    return str(settings.FHIR_STORE["PUBLIC_BASE_URL"]).rsplit("/fhir", 1)[0]


def endpoints() -> dict[str, str]:
    """The absolute URLs of the OAuth endpoints."""
    oauth = access_settings()["OAUTH_BASE_URL"]
    return {
        "authorize": f"{oauth}/authorize",
        "token": f"{oauth}/token",
        "introspect": f"{oauth}/introspect",
        "revoke": f"{oauth}/revoke",
        "jwks": f"{oauth}/jwks",
        "userinfo": f"{oauth}/userinfo",
        "manage": f"{_public_origin()}{access_settings()['MANAGEMENT_PATH']}",
    }


def smart_configuration() -> dict[str, Any]:
    """The document served at `/fhir/.well-known/smart-configuration` (SMART App Launch 2.2)."""
    urls = endpoints()
    return {
        "issuer": access_settings()["OAUTH_BASE_URL"],
        "jwks_uri": urls["jwks"],
        "authorization_endpoint": urls["authorize"],
        "token_endpoint": urls["token"],
        "introspection_endpoint": urls["introspect"],
        "revocation_endpoint": urls["revoke"],
        "userinfo_endpoint": urls["userinfo"],
        "management_endpoint": urls["manage"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ADVERTISED_SCOPES,
        "code_challenge_methods_supported": ["S256"],
        "capabilities": CAPABILITIES,
    }


def capability_security() -> dict[str, Any]:
    """`CapabilityStatement.rest[0].security`: the oauth-uris extension, the SMART service code."""
    urls = endpoints()
    uris = [
        ("authorize", "authorize"),
        ("token", "token"),
        ("introspect", "introspect"),
        ("revoke", "revoke"),
        ("manage", "manage"),
    ]
    return {
        "cors": True,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth2 using SMART-on-FHIR profile (see http://docs.smarthealthit.org)",
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": name, "valueUri": urls[key]} for name, key in uris],
            }
        ],
        "description": "SMART App Launch 2.2 and SMART Backend Services",
    }


def smart_configuration_view(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return JsonResponse({"error": "invalid_request"}, status=405)
    response = JsonResponse(smart_configuration())
    response["Cache-Control"] = "public, max-age=300"
    return response
