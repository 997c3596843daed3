"""Connected apps: the apps that hold access to a person's record, and revoking them.

An app holds access while it has an unexpired access token or an unrevoked refresh token, either
issued to the person's own login or issued under a launch context for the person's record (a
carer's or clinician's app acting for them). One entry per app: the scopes it holds, when access
was first granted, and when it last touched the record (from the audit log). Revoking an app
revokes every token and refresh token of it with access to the record, and its unused
authorization codes, so the app must ask again. https://hl7.org/fhir/smart-app-launch/
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_refresh_token_model,
)

from access import audit_buffer
from access.models import AuditRecord
from access.selectors import account_of
from fhirstore.errors import NotFound


@dataclass(frozen=True)
class ConnectedApp:
    """One app with access to the person's record."""

    id: int
    name: str
    client_id: str
    scopes: tuple[str, ...]
    granted: datetime
    last_used: datetime | None
    for_you_by_someone_else: bool


def _patient_id(user: Any) -> str:
    account = account_of(user)
    return account.fhir_id if account is not None and account.kind == "patient" else ""


def _access_tokens(user: Any, patient_id: str) -> Any:
    mine = Q(user_id=user.pk)
    if patient_id:
        mine |= Q(smart_context__patient_id=patient_id)
    return get_access_token_model().objects.filter(mine)


def _refresh_tokens(user: Any, patient_id: str) -> Any:
    mine = Q(user_id=user.pk)
    if patient_id:
        mine |= Q(access_token__smart_context__patient_id=patient_id)
    return get_refresh_token_model().objects.filter(mine, revoked__isnull=True)


def connected_apps(*, user: Any) -> list[ConnectedApp]:
    """The apps holding access to `user`'s record (or granted by `user`), by name."""
    patient_id = _patient_id(user)
    now = timezone.now()
    live = _access_tokens(user, patient_id).filter(expires__gt=now).select_related("application")
    refresh = _refresh_tokens(user, patient_id).select_related("application", "access_token")
    grouped: dict[int, list[Any]] = {}
    for item in [*live, *refresh]:
        grouped.setdefault(item.application_id, []).append(item)
    used = _last_used(patient_id, [items[0].application.client_id for items in grouped.values()])
    apps = [_entry(items, user, used) for items in grouped.values()]
    return sorted(apps, key=lambda a: (a.name.lower(), a.id))


def _scope_of(item: Any) -> list[str]:
    token = getattr(item, "access_token", None) if hasattr(item, "revoked") else item
    return (token.scope or "").split() if token is not None else []


def _entry(items: list[Any], user: Any, used: dict[str, datetime]) -> ConnectedApp:
    application = items[0].application
    scopes = sorted({scope for item in items for scope in _scope_of(item)})
    return ConnectedApp(
        id=application.pk,
        name=application.name or application.client_id,
        client_id=application.client_id,
        scopes=tuple(scopes),
        granted=min(item.created for item in items),
        last_used=used.get(application.client_id),
        for_you_by_someone_else=any(item.user_id != user.pk for item in items),
    )


def _last_used(patient_id: str, client_ids: list[str]) -> dict[str, datetime]:
    if not patient_id or not client_ids:
        return {}
    audit_buffer.flush()
    rows = (
        AuditRecord.objects.filter(patient_id=patient_id, client_id__in=client_ids)
        .values("client_id")
        .annotate(last=Max("recorded"))
    )
    return {row["client_id"]: row["last"] for row in rows}


def connected_app_revoke(*, user: Any, app_id: int) -> int:
    """Revoke every token of app `app_id` with access to `user`'s record; the number revoked.

    NotFound when the app holds no such access (as for an id that does not exist)."""
    patient_id = _patient_id(user)
    with transaction.atomic():
        refresh = list(_refresh_tokens(user, patient_id).filter(application_id=app_id))
        access = list(_access_tokens(user, patient_id).filter(application_id=app_id))
        if not refresh and not access:
            raise NotFound(f"No connected app {app_id}")
        for token in refresh:
            token.revoke()
        for token in access:
            token.revoke()
        get_grant_model().objects.filter(user_id=user.pk, application_id=app_id).delete()
    return len(refresh) + len(access)
