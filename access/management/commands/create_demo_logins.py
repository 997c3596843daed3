"""`python manage.py create_demo_logins`: the demo logins and demo SMART app of `make run`.

Run after `load_demo`. The patient login is the first demo patient (Cameron Greenfelder), the
clinician login is the first demo practitioner, the carer acts for the patient under a Consent.
Idempotent; prints what to sign in with (README, "Demo logins").
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from access.demo import create_demo_logins
from fhirstore.bundles.loading import discover
from fhirstore.management.commands.load_demo import DEMO_DIR, demo_patients

DEMO_PRACTITIONER_ID = "f4bf5265-8d8e-4055-a4e5-b34853f1099f"


class Command(BaseCommand):
    help = "Create the demo patient, clinician and carer logins and the demo SMART app."

    def handle(self, *args: Any, **options: Any) -> None:
        patients = sorted(demo_patients(discover([DEMO_DIR])).items(), key=lambda item: item[1])
        if not patients:
            raise CommandError("No demo patients found; run load_demo first")
        shown = create_demo_logins(patient_id=patients[0][0], practitioner_id=DEMO_PRACTITIONER_ID)
        self.stdout.write(json.dumps(shown, indent=2))
