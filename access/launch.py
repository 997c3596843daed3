"""SMART launch context: which patient (and encounter) a grant is bound to, and who the user is.

EHR launch: the clinician's system creates a `LaunchContext` (`launch_create`) and passes its id as
`launch`; the `launch` scope redeems it. Standalone launch: a patient login is bound to its own
record; someone who may act for several people (a carer, a clinician) picks one on the consent form.
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#launch-context-arriving-with-your-access_token
"""

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from access.conf import access_settings
from access.models import Account, AccountKind, LaunchContext

LAUNCHER_KINDS = frozenset({AccountKind.PRACTITIONER, AccountKind.STAFF})


class LaunchRefused(Exception):
    """The launch cannot go ahead; the message is safe to show to the client."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LaunchFields:
    """What a grant and its tokens carry (the columns of GrantContext and TokenContext)."""

    patient_id: str = ""
    encounter_id: str = ""
    fhir_user: str = ""
    need_patient_banner: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def account_of(user: Any) -> Account | None:
    if user is None or not user.is_authenticated:
        return None
    return Account.objects.filter(user=user).first()


def patient_choices(*, user: Any) -> list[str]:
    """Patient ids this login may open an app for: its own record, or those it may act for."""
    account = account_of(user)
    if account is None:
        return []
    if account.kind == AccountKind.PATIENT:
        return [account.fhir_id] if account.fhir_id else []
    try:
        from access.selectors import patients_user_may_act_for  # the isolation engineer's rules
    except ImportError:
        return []
    return list(patients_user_may_act_for(user))


def _wants_patient(scopes: list[str]) -> bool:
    return "launch/patient" in scopes or any(scope.startswith("patient/") for scope in scopes)


def _ehr_launch(*, user: Any, launch_id: str, fhir_user: str) -> LaunchFields:
    context = LaunchContext.objects.filter(
        launch_id=launch_id, created_by=user, expires__gt=timezone.now()
    ).first()
    if not launch_id or context is None:
        raise LaunchRefused("The launch parameter is missing, unknown or expired")
    return LaunchFields(context.patient_id, context.encounter_id, fhir_user, False)


def _chosen_patient(*, user: Any, chosen: str) -> str:
    choices = patient_choices(user=user)
    if chosen:
        if chosen not in choices:
            raise LaunchRefused("You may not open an app for that person")
        return chosen
    if len(choices) == 1:
        return choices[0]
    if not choices:
        raise LaunchRefused("This login is not linked to anyone's health record")
    raise LaunchRefused("Choose whose record the app may open")


def launch_resolve(
    *, user: Any, scopes: list[str], launch_id: str = "", chosen_patient: str = ""
) -> LaunchFields:
    """The context a grant for `scopes` gets, or LaunchRefused."""
    account = account_of(user)
    fhir_user = account.fhir_reference if account else ""
    if "launch" in scopes:
        return _ehr_launch(user=user, launch_id=launch_id, fhir_user=fhir_user)
    if not _wants_patient(scopes):
        return LaunchFields(fhir_user=fhir_user)
    patient_id = _chosen_patient(user=user, chosen=chosen_patient)
    return LaunchFields(patient_id=patient_id, fhir_user=fhir_user, need_patient_banner=True)


def launch_picker(*, user: Any, scopes: list[str], launch_id: str = "") -> list[str]:
    """Before consent: the patients to pick from (empty if there is no choice), or LaunchRefused."""
    if "launch" in scopes:
        launch_resolve(user=user, scopes=scopes, launch_id=launch_id)
        return []
    if not _wants_patient(scopes):
        return []
    choices = patient_choices(user=user)
    if not choices:
        raise LaunchRefused("This login is not linked to anyone's health record")
    return choices if len(choices) > 1 else []


def launch_create(*, user: Any, patient_id: str, encounter_id: str = "") -> LaunchContext:
    """An EHR launch context for `patient_id`, created by a clinician or staff login."""
    account = account_of(user)
    if account is None or account.kind not in LAUNCHER_KINDS:
        raise LaunchRefused("Only clinicians' and staff logins may create a launch", status=403)
    if not patient_id:
        raise LaunchRefused("patient is required")
    lifetime = timedelta(seconds=access_settings()["LAUNCH_SECONDS"])
    return LaunchContext.objects.create(
        patient_id=patient_id,
        encounter_id=encounter_id,
        created_by=user,
        expires=timezone.now() + lifetime,
    )
