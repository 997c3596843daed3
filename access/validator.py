"""django-oauth-toolkit's request validator, extended only for SMART launch context and keys.

What it adds to DOT: the launch context chosen at consent rides on the authorization code
(GrantContext), is bound to each access token (TokenContext), copied on refresh, and returned in the
token response (`patient`, `encounter`, `need_patient_banner`); refresh tokens only for
`offline_access`/`online_access`; the `fhirUser` id_token claim; `private_key_jwt` client
authentication (SMART Backend Services); and RFC 7009's rule that a client revokes only its tokens.
https://hl7.org/fhir/smart-app-launch/app-launch.html#response-5
"""

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from access.assertions import ASSERTION_TYPE, AssertionRefused, assertion_client
from access.launch import LaunchFields, account_of
from access.models import GrantContext, TokenContext

logger = logging.getLogger("access.oauth")
_REFRESH_SCOPES = {"offline_access", "online_access"}
# How long a redeemed code is remembered, so a second use can revoke what the first one issued.
_USED_CODE_SECONDS = 3600


def _checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _fields_of(context: Any) -> LaunchFields | None:
    if context is None:
        return None
    return LaunchFields(
        context.patient_id, context.encounter_id, context.fhir_user, context.need_patient_banner
    )


def _remember_code(code: str, token: dict[str, Any]) -> None:
    access = get_access_token_model().objects.get(token_checksum=_checksum(token["access_token"]))
    refresh = get_refresh_token_model().objects.filter(access_token=access).first()
    family = str(refresh.token_family) if refresh and refresh.token_family else ""
    cache.set(
        f"used-code:{_checksum(code)}", {"access": access.pk, "family": family}, _USED_CODE_SECONDS
    )


def _revoke_issued_for(code: str) -> None:
    """RFC 6749 section 4.1.2: a code used twice revokes the tokens issued for it."""
    issued = cache.get(f"used-code:{_checksum(code)}")
    if not issued:
        return
    logger.warning("authorization code reused: revoking the tokens it was exchanged for")
    if issued["family"]:
        for refresh in get_refresh_token_model().objects.filter(token_family=issued["family"]):
            refresh.revoke()
    for access in get_access_token_model().objects.filter(pk=issued["access"]):
        access.revoke()


def _response_fields(fields: LaunchFields) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if fields.patient_id:
        extra["patient"] = fields.patient_id
        extra["need_patient_banner"] = fields.need_patient_banner
    if fields.encounter_id:
        extra["encounter"] = fields.encounter_id
    return extra


class SmartValidator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "fhirUser": "fhirUser"}

    # --- client authentication -------------------------------------------------------------
    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        assertion_type = getattr(request, "client_assertion_type", None)
        if assertion_type is None:
            return bool(super().authenticate_client(request, *args, **kwargs))
        if assertion_type != ASSERTION_TYPE:
            return False
        try:
            request.client = assertion_client(
                assertion=getattr(request, "client_assertion", "") or ""
            )
        except AssertionRefused as refusal:
            logger.info("client assertion refused: %s", refusal)
            return False
        request.client_id = request.client.client_id
        return True

    # --- authorization codes ---------------------------------------------------------------
    def validate_code(
        self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        valid = bool(super().validate_code(client_id, code, client, request, *args, **kwargs))
        if not valid:
            _revoke_issued_for(code)
        return valid

    # --- launch context ----------------------------------------------------------------------
    def _create_authorization_code(self, request: Any, code: Any, expires: Any = None) -> Any:
        grant = super()._create_authorization_code(request, code, expires)
        fields = getattr(request, "smart_launch", None)
        if isinstance(fields, LaunchFields):
            GrantContext.objects.create(grant=grant, **fields.as_dict())
        return grant

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        valid = bool(
            super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        )
        if valid:
            # The old access token (and its context) is deleted when the refresh token rotates.
            old = request.refresh_token_instance.access_token
            request.smart_launch = _fields_of(getattr(old, "smart_context", None)) if old else None
        return valid

    def _launch_for_token(self, request: Any) -> LaunchFields | None:
        if request.grant_type == "authorization_code":
            grant = get_grant_model().objects.filter(code=request.code, application=request.client)
            context = GrantContext.objects.filter(grant__in=grant).first()
            return _fields_of(context)
        if request.grant_type == "refresh_token":
            return getattr(request, "smart_launch", None)
        return None

    def _save_bearer_token(
        self, token: dict[str, Any], request: Any, *args: Any, **kwargs: Any
    ) -> None:
        if not _REFRESH_SCOPES & set(token.get("scope", "").split()):
            token.pop("refresh_token", None)
        fields = self._launch_for_token(request)
        super()._save_bearer_token(token, request, *args, **kwargs)
        if request.grant_type == "authorization_code":
            _remember_code(request.code, token)
        if fields is not None:
            self._bind_context(token, fields)

    def _bind_context(self, token: dict[str, Any], fields: LaunchFields) -> None:
        access_token = get_access_token_model().objects.get(
            token_checksum=_checksum(token["access_token"])
        )
        TokenContext.objects.update_or_create(access_token=access_token, defaults=fields.as_dict())
        token.update(_response_fields(fields))

    # --- OpenID Connect ----------------------------------------------------------------------
    def get_additional_claims(self, request: Any) -> dict[str, Any]:
        account = account_of(request.user)
        if account is None or not account.fhir_reference:
            return {}
        return {"fhirUser": f"{settings.FHIR_STORE['PUBLIC_BASE_URL']}/{account.fhir_reference}"}

    # --- revocation (RFC 7009 section 2.1) ---------------------------------------------------
    def revoke_token(
        self, token: str, token_type_hint: str | None, request: Any, *args: Any, **kwargs: Any
    ) -> None:
        access = get_access_token_model().objects.filter(token_checksum=_checksum(token)).first()
        refresh = None if access else get_refresh_token_model().objects.filter(token=token).first()
        found = access or refresh
        # Another client's token is answered like an unknown one (200, nothing revoked).
        if found is not None and found.application_id == request.client.pk:
            found.revoke()
