"""`python manage.py create_account --username U --password P (--patient ID | --practitioner ID |
--related-person ID --for-patient ID | --staff)`: a login linked to its FHIR identity.

A carer (`--related-person`) also gets the patient's consent recorded as a FHIR Consent that lets
them read that person's record; the patient can list and revoke it like any proxy grant.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from access.models import AccountKind
from access.services import account_create


class Command(BaseCommand):
    help = "Create a login linked to a Patient, Practitioner or RelatedPerson (or a staff login)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--patient", metavar="ID")
        kind.add_argument("--practitioner", metavar="ID")
        kind.add_argument("--related-person", metavar="ID", dest="related_person")
        kind.add_argument("--staff", action="store_true")
        parser.add_argument("--for-patient", metavar="ID", default="", dest="for_patient")

    def handle(self, *args: Any, **options: Any) -> None:
        kind, fhir_id = _kind(options)
        if kind == AccountKind.RELATED_PERSON and not options["for_patient"]:
            raise CommandError("--related-person needs --for-patient ID")
        try:
            account = account_create(
                username=options["username"],
                password=options["password"],
                kind=kind,
                fhir_id=fhir_id,
                for_patient=options["for_patient"],
            )
        except IntegrityError:
            raise CommandError(f"the username {options['username']!r} is taken") from None
        self.stdout.write(f"created {account.user.username} ({account.fhir_reference or kind})")


def _kind(options: dict[str, Any]) -> tuple[str, str]:
    for kind, option in (
        (AccountKind.PATIENT, "patient"),
        (AccountKind.PRACTITIONER, "practitioner"),
        (AccountKind.RELATED_PERSON, "related_person"),
    ):
        if options[option]:
            return kind, options[option]
    return AccountKind.STAFF, ""
