"""`python manage.py grant_org_role --username U --organization ID [--revoke]`: let a clinician's
login see every patient of an organisation (Patient.managingOrganization or generalPractitioner),
or take that role away. Tokens already issued see the change within a minute (cached care set)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.roles import organisation_role_grant, organisation_role_revoke
from fhirstore.errors import FhirError


class Command(BaseCommand):
    help = "Grant (or with --revoke, remove) an organisation-wide role for a login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--organization", required=True, metavar="ID")
        parser.add_argument("--revoke", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        username, organization = options["username"], options["organization"]
        if options["revoke"]:
            removed = organisation_role_revoke(username=username, organization_id=organization)
            self.stdout.write(f"removed {removed} role(s) of {username} at {organization}")
            return
        try:
            organisation_role_grant(username=username, organization_id=organization)
        except (ValueError, FhirError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"granted {username} the role at Organization/{organization}")
