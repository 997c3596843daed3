"""`manage.py issue_token --client NAME --scope "system/*.*" [--hours N]`: print a token.

For operators wiring a trusted integration by hand, and for load tests against a production-mode
server. The token is printed once and not logged.
"""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from access.services import system_token_issue


class Command(BaseCommand):
    help = "Issue a bearer token with system/ scopes for a named confidential client."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--client", required=True, help="client name (created if new)")
        parser.add_argument("--scope", default="system/*.*", help='scopes, e.g. "system/*.rs"')
        parser.add_argument("--hours", type=int, default=1, help="token lifetime in hours")

    def handle(self, *args: Any, **options: Any) -> None:
        token = system_token_issue(
            client_name=options["client"],
            scope=options["scope"],
            lifetime=timedelta(hours=options["hours"]),
        )
        self.stdout.write(token)
