"""Bearer-token lookup for every API request, kept to one small indexed query.

Building the DOT token with its application, user, account and launch context takes the ORM a
millisecond of CPU to compile and assemble, on every request. A token's row never changes in a
way that matters here while it lives (DOT rotates by issuing new tokens, and revokes by deleting
rows), so each process keeps the assembled token by its SHA-256 checksum and, per request, only
re-checks with one precompiled query that the row still exists and has not expired. Revocation
therefore takes effect on the next request, in every process.
"""

import hashlib
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from oauth2_provider.models import get_access_token_model

_MAX_ENTRIES = 2048
_tokens: "OrderedDict[str, Any]" = OrderedDict()


def _live_row(checksum: str) -> tuple[Any, ...] | None:
    """(id, expires, scope, user id, application id) of the token row, or None."""
    table = connection.ops.quote_name(get_access_token_model()._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, expires, scope, user_id, application_id FROM {table}"
            " WHERE token_checksum = %s",
            [checksum],
        )
        return cursor.fetchone()


def _aware(value: Any) -> datetime:
    """SQLite hands back text; PostgreSQL an aware datetime."""
    if isinstance(value, str):
        value = parse_datetime(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _assemble(checksum: str) -> Any:
    return (
        get_access_token_model()
        .objects.select_related("application", "user", "smart_context", "user__account")
        .filter(token_checksum=checksum)
        .first()
    )


def _matches(token: Any, row: tuple[Any, ...]) -> bool:
    token_id, _expires, scope, user_id, application_id = row
    return (token.pk, token.scope, token.user_id, token.application_id) == (
        token_id,
        scope,
        user_id,
        application_id,
    )


def live_token(token_text: str) -> Any:
    """The DOT AccessToken for `token_text` with its relations loaded, or None when it is
    unknown, revoked or expired. One query either way: the assembly on first sight, the
    liveness check after."""
    checksum = hashlib.sha256(token_text.encode()).hexdigest()
    token = _tokens.get(checksum)
    if token is None:
        return _first_sight(checksum, token_text)
    row = _live_row(checksum)
    if row is None:
        _tokens.pop(checksum, None)
        return None
    if _aware(row[1]) <= timezone.now():
        return None
    if not _matches(token, row):
        _tokens.pop(checksum, None)
        return _first_sight(checksum, token_text)
    return token


def _first_sight(checksum: str, token_text: str) -> Any:
    token = _assemble(checksum)
    if token is None or token.token != token_text or token.expires <= timezone.now():
        return None
    _remember(checksum, token)
    return token


def _remember(checksum: str, token: Any) -> None:
    _tokens[checksum] = token
    _tokens.move_to_end(checksum)
    while len(_tokens) > _MAX_ENTRIES:
        _tokens.popitem(last=False)


def forget_all() -> None:
    """Drop every cached token (tests that rewrite token rows in place use this)."""
    _tokens.clear()
