"""Demo logins and a demo app for `make run` (listed in README, "Demo logins").

`python manage.py create_demo_logins` (run by `make run` after `load_demo`) calls
`create_demo_logins` for the first demo patient. Idempotent: logins, the carer's RelatedPerson and
the app are created only when missing. Never used in production data.
"""

from typing import Any

from django.contrib.auth import get_user_model
from oauth2_provider.models import get_application_model

from access.models import AccountKind
from access.services import account_create, client_register
from fhirstore.context import SYSTEM
from fhirstore.errors import FhirError
from fhirstore.repository import Repository

DEMO_PASSWORD = "demo-password-1"
DEMO_APP_NAME = "Demo SMART app"
DEMO_REDIRECT_URI = "http://127.0.0.1:9090/callback"
DEMO_APP_SCOPE = (
    "launch launch/patient openid fhirUser profile offline_access online_access "
    "patient/*.cruds user/*.cruds patient/*.read patient/*.write user/*.read user/*.write"
)


def _ensure_login(username: str, kind: str, fhir_id: str, for_patient: str = "") -> None:
    if not get_user_model().objects.filter(username=username).exists():
        account_create(
            username=username,
            password=DEMO_PASSWORD,
            kind=kind,
            fhir_id=fhir_id,
            for_patient=for_patient,
        )


def _ensure_related_person(related_person_id: str, patient_id: str) -> None:
    repo = Repository(scope=SYSTEM)
    try:
        repo.read(resource_type="RelatedPerson", logical_id=related_person_id)
    except FhirError:
        doc = {
            "resourceType": "RelatedPerson",
            "id": related_person_id,
            "active": True,
            "patient": {"reference": f"Patient/{patient_id}"},
            "name": [{"family": "Carer", "given": ["Demo"]}],
        }
        repo.update(resource_type="RelatedPerson", logical_id=related_person_id, doc=doc)


def create_demo_logins(
    *,
    patient_id: str,
    practitioner_id: str = "demo-practitioner",
    related_person_id: str = "demo-carer",
) -> dict[str, Any]:
    """A patient, a clinician, a carer (acting for the patient) and a public SMART app."""
    _ensure_login("demo-patient", AccountKind.PATIENT, patient_id)
    _ensure_login("demo-clinician", AccountKind.PRACTITIONER, practitioner_id)
    _ensure_login(
        "demo-carer", AccountKind.RELATED_PERSON, related_person_id, for_patient=patient_id
    )
    app = get_application_model().objects.filter(name=DEMO_APP_NAME).first()
    if app is None:
        app, _ = client_register(
            name=DEMO_APP_NAME,
            redirect_uris=[DEMO_REDIRECT_URI],
            kind="public",
            scope=DEMO_APP_SCOPE,
        )
        # A fixed client_id so README and tutorials can name it.
        app.client_id = "demo-app"
        app.save(update_fields=["client_id"])
    return {
        "client_id": app.client_id,
        "redirect_uri": DEMO_REDIRECT_URI,
        "logins": ["demo-patient", "demo-clinician", "demo-carer"],
        "password": DEMO_PASSWORD,
    }
