"""Bearer-token lookup for every API request, kept to one small indexed query.

Building the DOT token with its application, user, account and launch context takes the ORM a
millisecond of CPU to compile and assemble, on every request. A token's row never changes in a
way that matters here while it lives (DOT rotates by issuing new tokens, and revokes by deleting
rows), so each process keeps the assembled token by its SHA-256 checksum and, per request, only
re-checks with one precompiled query that the row still exists and has not expired. Revocation
therefore takes effect on the next request, in every process.
"""

import functools
import hashlib
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from oauth2_provider.models import get_access_token_model

from fhirstore.prepared import prepared_cursor

_MAX_ENTRIES = 2048
_tokens: "OrderedDict[str, Any]" = OrderedDict()


def _live_row(checksum: str) -> tuple[Any, ...] | None:
    """(id, expires, scope, user id, application id) of the token row, or None."""
    table = connection.ops.quote_name(get_access_token_model()._meta.db_table)
    with prepared_cursor() as cursor:
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


def remembered_token(token_text: str) -> Any:
    """The token this process has already assembled for `token_text`, unexpired by its own
    clock, without asking the database; None when it is not remembered. The caller must then
    check `liveness_condition` in a statement of its own before answering."""
    token = _tokens.get(hashlib.sha256(token_text.encode()).hexdigest())
    if token is None or token.expires <= timezone.now():
        return None
    return token


def liveness_condition(token: Any) -> tuple[str, tuple[Any, ...]]:
    """SQL true while `token`'s row still exists unchanged and unexpired (what `live_token`
    checks), with its parameters, for a statement that does other work too."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    params = (token.token_checksum, token.pk, token.scope, token.user_id or 0)
    return _liveness_sql(), (*params, token.application_id or 0, now)


@functools.cache
def _liveness_sql() -> str:
    table = connection.ops.quote_name(get_access_token_model()._meta.db_table)
    return (
        f"EXISTS (SELECT 1 FROM {table} t WHERE t.token_checksum = %s AND t.id = %s"
        " AND t.scope = %s AND COALESCE(t.user_id, 0) = %s"
        " AND COALESCE(t.application_id, 0) = %s AND t.expires > %s)"
    )


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
