"""SMART scopes in plain words, for the consent screen.

`describe("patient/Observation.rs")` → "Read and search your observations". The person approving an
app must understand what they grant, so every scope the server accepts has a sentence here.
https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html
"""

import re

from access.smart_scopes import parse_scope

NON_RESOURCE_SCOPES: dict[str, str] = {
    "openid": "Know who you are when you sign in",
    "fhirUser": "Know which person in the health record you are",
    "profile": "See your name on your login",
    "launch": "Open with the patient (and visit) chosen in your clinical system",
    "launch/patient": "Know which person's record you chose",
    "launch/encounter": "Know which visit you are working in",
    "offline_access": "Keep access after you close the app, until you revoke it",
    "online_access": "Keep access while you are using the app",
}
_VERBS = (("c", "create"), ("r", "read"), ("u", "change"), ("d", "delete"), ("s", "search"))
_WHOSE = {"patient": "your", "user": "your patients'", "system": "all"}


def _type_words(resource_type: str) -> str:
    if resource_type == "*":
        return "health records of every kind"
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", resource_type).lower()
    return words if words.endswith("s") else f"{words}s"


def _verbs(permissions: frozenset[str]) -> str:
    verbs = [word for letter, word in _VERBS if letter in permissions]
    text = ", ".join(verbs[:-1]) + (" and " if len(verbs) > 1 else "") + verbs[-1]
    return text[0].upper() + text[1:]


def describe(scope: str) -> str:
    """One sentence saying what `scope` lets an app do."""
    if scope in NON_RESOURCE_SCOPES:
        return NON_RESOURCE_SCOPES[scope]
    parsed = parse_scope(scope)
    if parsed is None:
        return scope
    sentence = (
        f"{_verbs(parsed.permissions)} {_WHOSE[parsed.context]} {_type_words(parsed.resource_type)}"
    )
    return f"{sentence}, only where {parsed.query}" if parsed.query else sentence


class ScopeDescriptions(dict[str, str]):
    """A scope → sentence mapping that describes any valid scope on demand (DOT indexes it)."""

    def __missing__(self, scope: str) -> str:
        return describe(scope)
