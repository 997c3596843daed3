"""Parsing of search values by parameter type, into the values of `request.py`.

Escapes follow https://hl7.org/fhir/R4/search.html#escaping: `\\,` `\\$` `\\|` and `\\\\` stand
for the literal characters. Dates without a time zone are taken as UTC (the index does the same).
Numbers carry the range implied by their precision (`100` is 99.5..100.5, `1e2` is 50..150) as
https://hl7.org/fhir/R4/search.html#number asks. Every failure is an `InvalidRequest` (400).
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from fhirstore.errors import InvalidRequest
from fhirstore.search.request import (
    DateValue,
    NumberValue,
    QuantityValue,
    ReferenceValue,
    TokenValue,
)

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d{1,9})?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")


def bad(diagnostics: str, name: str) -> InvalidRequest:
    """The 400 answered for a value the client sent wrong, pointing at the parameter."""
    return InvalidRequest(diagnostics, code="invalid", expression=(name,))


def split_escaped(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not escaped with a backslash; escapes stay in the parts."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    """Drop the backslash of `\\,` `\\$` `\\|` `\\\\`; other backslashes are kept as written."""
    return re.sub(r"\\([,$|\\])", r"\1", text)


def split_prefix(text: str) -> tuple[str, str]:
    """A leading comparison prefix (default `eq`) and the rest."""
    if len(text) > 2 and text[:2] in PREFIXES and not text[:2].isdigit():
        return text[:2], text[2:]
    return "eq", text


def parse_date_range(text: str, name: str) -> tuple[datetime, datetime]:
    """The inclusive UTC instant range a FHIR date/dateTime/instant denotes at its precision."""
    match = _DATE.fullmatch(text)
    if not match:
        raise bad(f"Invalid date '{text}' for parameter '{name}'", name)
    g = match.groupdict()
    try:
        low = datetime(
            int(g["y"]),
            int(g["m"] or 1),
            int(g["d"] or 1),
            int(g["H"] or 0),
            int(g["M"] or 0),
            int(g["S"] or 0),
            int(((g["f"] or ".0")[1:] + "000000")[:6]),
            tzinfo=UTC,
        )
    except ValueError:
        raise bad(f"Invalid date '{text}' for parameter '{name}'", name) from None
    low -= _offset(g["tz"])
    return low, _range_end(low, g) - timedelta(microseconds=1)


def _offset(tz: str | None) -> timedelta:
    if not tz or tz == "Z":
        return timedelta(0)
    sign = -1 if tz[0] == "-" else 1
    return sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))


def _range_end(low: datetime, g: dict[str, str | None]) -> datetime:
    """The first instant after the value's precision."""
    if g["f"]:
        return low + timedelta(microseconds=1)
    if g["S"]:
        return low + timedelta(seconds=1)
    if g["M"]:
        return low + timedelta(minutes=1)
    if g["d"]:
        return low + timedelta(days=1)
    if g["m"]:
        return low.replace(year=low.year + (low.month == 12), month=low.month % 12 + 1)
    return low.replace(year=low.year + 1)


def parse_date(text: str, name: str) -> DateValue:
    prefix, rest = split_prefix(text)
    low, high = parse_date_range(rest, name)
    return DateValue(prefix=prefix, low=low, high=high)


def parse_decimal(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise bad(f"Invalid number '{text}' for parameter '{name}'", name) from None
    if not value.is_finite():
        raise bad(f"Invalid number '{text}' for parameter '{name}'", name)
    return value


def parse_number(text: str, name: str) -> NumberValue:
    """`[prefix]number` with the half-unit range of its last significant digit."""
    prefix, rest = split_prefix(text)
    value = parse_decimal(rest, name)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite values only, checked above
    half = Decimal(5).scaleb(exponent - 1)
    return NumberValue(prefix=prefix, value=value, low=value - half, high=value + half)


def parse_quantity(text: str, name: str) -> QuantityValue:
    """`[prefix]number|system|code`, `number||code` or plain `number`."""
    parts = split_escaped(text, "|")
    if len(parts) not in (1, 3):
        raise bad(f"Invalid quantity '{text}' for parameter '{name}'", name)
    number = parse_number(parts[0], name)
    if len(parts) == 1:
        return QuantityValue(number=number, system=None, code=None)
    system, code = unescape(parts[1]) or None, unescape(parts[2]) or None
    return QuantityValue(number=number, system=system, code=code)


def parse_token(text: str, name: str) -> TokenValue:
    """`code`, `system|code`, `|code` (no system) or `system|` (any code of system)."""
    parts = split_escaped(text, "|")
    if len(parts) == 1:
        return TokenValue(system=None, code=unescape(text))
    if len(parts) != 2:
        raise bad(f"Invalid token '{text}' for parameter '{name}'", name)
    system, code = unescape(parts[0]), unescape(parts[1])
    if not system and not code:
        raise bad(f"Invalid token '{text}' for parameter '{name}'", name)
    return TokenValue(system=system, code=code or None)


def parse_reference(
    text: str, name: str, *, targets: tuple[str, ...], base_url: str, type_hint: str | None
) -> ReferenceValue:
    """`id`, `Type/id`, `Type/id/_history/v` or an absolute/canonical URL.

    An absolute URL under our own base is a local reference; other URLs match by URL.
    """
    value = unescape(text)
    if base_url and value.startswith(base_url + "/"):
        value = value[len(base_url) + 1 :]
    if "://" in value or value.startswith("urn:"):
        return ReferenceValue(target_type=None, target_id=None, url=value)
    parts = value.split("/")
    if len(parts) == 1 and _ID.fullmatch(value):
        single = targets[0] if len(targets) == 1 else None
        return ReferenceValue(target_type=type_hint or single, target_id=value)
    if len(parts) in (2, 4) and _TYPE.fullmatch(parts[0]) and _ID.fullmatch(parts[1]):
        if type_hint and parts[0] != type_hint:
            raise bad(f"Reference '{text}' is not a {type_hint} for '{name}'", name)
        return ReferenceValue(target_type=parts[0], target_id=parts[1])
    raise bad(f"Invalid reference '{text}' for parameter '{name}'", name)
