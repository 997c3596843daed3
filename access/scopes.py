"""The access scope of a request: who is calling and what the store may show them.

Built once per request from the bearer token (django-oauth-toolkit's AccessToken), then enforced
by the store (`fhirstore.context.AccessScope`); views never check scopes themselves.
- `system/` scopes, on tokens with no user (SMART Backend Services): every compartment.
- `patient/` scopes: the compartment of the token's launch patient (`TokenContext.patient_id`),
  when the login may act for that patient: a patient for themself, a practitioner within their
  care relationships, a carer within an active proxy Consent (rights narrowed to the Consent's
  areas and actions, re-read on every request), staff for the patient an EHR launched with.
- `user/` scopes: every patient the login may act for (`access.selectors`); a carer only for the
  launch patient, because each person they act for granted different areas.
A token mixing `patient/` and `user/` scopes gets the union of both. Scope permissions map onto
the store's two rights: `r` or `s` → read (and search), any of `c`, `u`, `d` → write. Granular v2
scopes (`?param=value`) narrow reading to matching rows; a granular write scope grants no writing
(the store cannot match a resource being written against a query), and a granular `*` scope or a
query the store cannot parse grants nothing. Patient-restricted callers also see the shared
directory resources in `OPEN_TYPES`. Whether scopes were granted at all is the OAuth layer's
concern; a token that is unknown, expired or revoked is a 401.
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
"""

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest
from django.utils import timezone

from access.consent import ProxyRights, proxy_rights
from access.models import Account, AccountKind
from access.selectors import clinician_patients
from access.smart_scopes import ResourceScope, parse_scopes
from access.token_cache import live_token, liveness_condition, remembered_token
from fhirstore import conf
from fhirstore.context import SYSTEM, AccessScope, Guard
from fhirstore.errors import FhirError, Forbidden
from fhirstore.search.access import filter_criteria

# Shared directory and definitional resources: in no patient's compartment, readable (when the
# scopes grant the type) by every patient-restricted caller, writable by none of them.
OPEN_TYPES = frozenset(
    {
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "OrganizationAffiliation",
        "Location",
        "HealthcareService",
        "Endpoint",
        "Medication",
        "MedicationKnowledge",
        "Substance",
        "Questionnaire",
        "PlanDefinition",
        "ActivityDefinition",
        "ValueSet",
        "CodeSystem",
        "ConceptMap",
        "NamingSystem",
        "StructureDefinition",
        "SearchParameter",
        "OperationDefinition",
        "CapabilityStatement",
    }
)
CARE_SET_SECONDS = 60
READ, WRITE = frozenset("rs"), frozenset("cud")


@dataclass(frozen=True)
class Rights:
    """Resource types readable and writable ("*" for all), and granular read filters per type."""

    readable: frozenset[str]
    writable: frozenset[str]
    type_filters: MappingProxyType[str, tuple[str, ...]]
    write_actions: MappingProxyType[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType({})
    )


def rights_of(scopes: Iterable[ResourceScope]) -> Rights:
    """What a set of SMART resource scopes grants, whatever their context."""
    unfiltered: set[str] = set()
    writable: set[str] = set()
    actions: dict[str, set[str]] = {}
    filtered: dict[str, set[str]] = {}
    for scope in scopes:
        if scope.permissions & READ and not scope.query:
            unfiltered.add(scope.resource_type)
        elif scope.permissions & READ and _applicable(scope):
            filtered.setdefault(scope.resource_type, set()).add(scope.query)
        if scope.permissions & WRITE and not scope.query:
            writable.add(scope.resource_type)
            actions.setdefault(scope.resource_type, set()).update(scope.permissions & WRITE)
    if "*" in unfiltered:
        filtered = {}
    filters = {t: tuple(sorted(q)) for t, q in filtered.items() if t not in unfiltered}
    return Rights(
        readable=frozenset(unfiltered | filters.keys()),
        writable=frozenset(writable),
        type_filters=MappingProxyType(filters),
        write_actions=MappingProxyType({t: frozenset(a) for t, a in actions.items()}),
    )


def _applicable(scope: ResourceScope) -> bool:
    if scope.resource_type == "*":
        return False
    try:
        filter_criteria(scope.resource_type, scope.query)
    except Forbidden:
        return False
    return True


def _narrowed(types: frozenset[str], allowed: frozenset[str]) -> frozenset[str]:
    if "*" in allowed:
        return types
    if "*" in types:
        return allowed
    return types & allowed


def within_proxy(rights: Rights, proxy: ProxyRights) -> Rights:
    """`rights` cut down to what the proxy Consent allows."""
    readable = _narrowed(rights.readable, proxy.readable)
    filters = {t: q for t, q in rights.type_filters.items() if t in readable}
    return Rights(
        readable=readable,
        writable=_narrowed(rights.writable, proxy.writable),
        type_filters=MappingProxyType(filters),
        write_actions=rights.write_actions,
    )


def _unauthorised(message: str) -> FhirError:
    return FhirError(
        message,
        http_status=401,
        code="login",
        headers={"WWW-Authenticate": 'Bearer realm="fhir", error="invalid_token"'},
    )


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise _unauthorised("The Authorization header must be 'Bearer <token>'")
    return token.strip()


def _related(instance: Any, name: str) -> Any:
    try:
        return getattr(instance, name)
    except ObjectDoesNotExist:
        return None


def _care_set(token: Any, account: Account) -> frozenset[str]:
    """The practitioner's patients, cached briefly per token (a few index queries each time)."""
    key = "access:care:" + hashlib.sha256(token.token.encode()).hexdigest()[:40]
    found = cache.get(key)
    if found is None:
        found = clinician_patients(user_id=account.user_id, practitioner_id=account.fhir_id)
        cache.set(key, found, CARE_SET_SECONDS)
    return frozenset(found)


def _exact(actions: MappingProxyType[str, frozenset[str]]) -> MappingProxyType[str, frozenset[str]]:
    """Write letters as the store wants them; a grant of none keeps one entry so that the store
    never reads "no limits" from an empty mapping."""
    return actions if actions else MappingProxyType({"": frozenset()})


def _scope(patients: Iterable[str], rights: Rights, actor: str) -> AccessScope:
    return AccessScope(
        patient_ids=frozenset(patients),
        readable=rights.readable,
        writable=rights.writable,
        open_types=OPEN_TYPES,
        actor=actor,
        type_filters=rights.type_filters,
        write_actions=_exact(rights.write_actions),
    )


def _user_scope(token: Any, granted: list[ResourceScope], actor: str) -> AccessScope:
    """A token issued to a person: the patients they may act for, under patient/ and user/."""
    account = _related(token.user, "account")
    context = _related(token, "smart_context")
    launch_patient = context.patient_id if context else ""
    patient_scopes = [s for s in granted if s.context == "patient"]
    user_scopes = [s for s in granted if s.context == "user"]
    if account is None or not (patient_scopes or user_scopes):
        return _scope((), rights_of(()), actor)
    if account.kind == AccountKind.PATIENT:
        own = account.fhir_id
        valid = bool(own) and launch_patient in ("", own)
        return _scope({own} if valid else (), rights_of(patient_scopes + user_scopes), actor)
    if account.kind == AccountKind.RELATED_PERSON:
        return _proxy_scope(account, launch_patient, patient_scopes + user_scopes, actor)
    if account.kind == AccountKind.PRACTITIONER:
        care = _care_set(token, account)
        patients = set(care) if user_scopes else set()
        if patient_scopes and launch_patient in care:
            patients.add(launch_patient)
        return _scope(patients, rights_of(patient_scopes + user_scopes), actor)
    # Staff: an EHR launch gives a patient context; staff have no care set of their own.
    patients = {launch_patient} if launch_patient and patient_scopes else set()
    return _scope(patients, rights_of(patient_scopes), actor)


def _proxy_scope(
    account: Account, patient_id: str, granted: list[ResourceScope], actor: str
) -> AccessScope:
    """A carer acts for the launch patient within that person's Consents in force right now."""
    # Without a grant in force the carer's scopes stay but reach nobody: Consent revoked or not,
    # what lies outside answers 404 like a missing id.
    if not patient_id or not account.fhir_id:
        return _scope((), rights_of(granted), actor)
    now = timezone.now()
    proxy = proxy_rights(related_person_id=account.fhir_id, patient_id=patient_id, now=now)
    if proxy is None:
        return _scope((), rights_of(granted), actor)
    return _scope({patient_id}, within_proxy(rights_of(granted), proxy), f"{actor} proxy")


def _system_scope(granted: list[ResourceScope], actor: str) -> AccessScope:
    rights = rights_of(s for s in granted if s.context == "system")
    return AccessScope(
        patient_ids=None,
        readable=rights.readable,
        writable=rights.writable,
        actor=actor,
        type_filters=rights.type_filters,
        write_actions=_exact(rights.write_actions),
    )


def scope_for_token(token: Any) -> AccessScope:
    """The AccessScope a (valid) django-oauth-toolkit AccessToken grants."""
    client = f"client:{token.application.client_id}" if token.application else "client:unknown"
    if token.user is None:
        return _system_scope_of(token.scope or "", client)
    return _user_scope(token, parse_scopes(token.scope or ""), f"user:{token.user.pk} {client}")


@functools.lru_cache(maxsize=1024)
def _system_scope_of(scope_text: str, actor: str) -> AccessScope:
    """A system token's scope depends on its scope text and client only: worked out once."""
    return _system_scope(parse_scopes(scope_text), actor)


def scope_for_request(request: HttpRequest, *, defer_check: bool = False) -> AccessScope:
    """The AccessScope for this request, or FhirError 401 when it carries no usable credentials.

    With `defer_check`, a token this process already knows is not re-checked here: the scope
    carries the check as its `guard`, for the store to run within its first statement (a read by
    id: one round trip instead of two). The caller must make sure the store runs it, and on
    `GuardFailed` call again without `defer_check`."""
    token_text = _bearer(request)
    if token_text is None:
        if settings.DEBUG and conf.open_access_in_debug():
            return SYSTEM
        raise _unauthorised("A bearer token is required")
    if defer_check and (known := known_token_scope(token_text)) is not None:
        request.access_token, scope = known  # type: ignore[attr-defined]  # read by access.audit
        return scope
    token = live_token(token_text)
    if token is None:
        raise _unauthorised(_DEAD_TOKEN)
    request.access_token = token  # type: ignore[attr-defined]  # read by access.audit
    return scope_for_token(token)


def known_token_scope(token_text: str) -> tuple[Any, AccessScope] | None:
    """The token and its scope when this process already knows `token_text`, the token's check
    left to the store as the scope's `guard` (see `scope_for_request`); None when unknown."""
    token = remembered_token(token_text)
    if token is None:
        return None
    return token, replace(scope_for_token(token), guard=Guard(*liveness_condition(token)))


_DEAD_TOKEN = "The access token is unknown, expired or revoked"
