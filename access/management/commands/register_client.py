"""`python manage.py register_client --name NAME --redirect-uri URI [--redirect-uri ...]
(--public | --confidential | --backend --jwks FILE_OR_URL) --scope "SCOPES"`: register an app.

Prints JSON with `client_id` (and `client_secret` for a confidential client: shown once, stored
hashed). A backend client (SMART Backend Services) authenticates with its keys: an inline JWKS read
from FILE, or a JWKS URL fetched when it asks for a token.
"""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.services import client_register
from access.smart_scopes import parse_scope


class Command(BaseCommand):
    help = "Register an OAuth client (SMART app or backend service) and print its credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--public", action="store_const", const="public", dest="kind")
        kind.add_argument("--confidential", action="store_const", const="confidential", dest="kind")
        kind.add_argument("--backend", action="store_const", const="backend", dest="kind")
        parser.add_argument("--jwks", default="", help="JWKS file, or https URL serving the JWKS")
        parser.add_argument(
            "--scope", required=True, help='e.g. "launch/patient openid patient/*.rs"'
        )
        parser.add_argument(
            "--allowed-origin",
            action="append",
            default=None,
            dest="origins",
            help="browser origin allowed by CORS (default: the redirect URIs' origins)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kind, scope = options["kind"], options["scope"]
        self._check(kind, options["redirect_uris"], scope, options["jwks"])
        jwks, jwks_url = _keys(options["jwks"]) if kind == "backend" else (None, "")
        application, secret = client_register(
            name=options["name"],
            redirect_uris=options["redirect_uris"],
            kind=kind,
            scope=scope,
            jwks=jwks,
            jwks_url=jwks_url,
            allowed_origins=options["origins"],
        )
        shown = {
            "client_id": application.client_id,
            "name": application.name,
            "kind": kind,
            "scope": scope,
        }
        if secret:
            shown["client_secret"] = secret
        self.stdout.write(json.dumps(shown, indent=2))

    def _check(self, kind: str, redirect_uris: list[str], scope: str, jwks: str) -> None:
        if kind == "backend":
            if not jwks:
                raise CommandError("--backend needs --jwks FILE_OR_URL")
            if any(
                (parsed := parse_scope(s)) is None or parsed.context != "system"
                for s in scope.split()
            ):
                raise CommandError("a backend client may only have system/ scopes")
        elif not redirect_uris:
            raise CommandError("an interactive app needs at least one --redirect-uri")


def _keys(source: str) -> tuple[dict[str, Any] | None, str]:
    if source.startswith(("https://", "http://")):
        return None, source
    try:
        jwks = json.loads(Path(source).read_text())
    except (OSError, ValueError) as error:
        raise CommandError(f"cannot read a JWKS from {source}: {error}") from None
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise CommandError("the JWKS must be a JSON object with a 'keys' list")
    return jwks, ""
