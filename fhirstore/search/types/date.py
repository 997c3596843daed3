"""Date parameters: https://hl7.org/fhir/R4/search.html#date

Index side: every date, dateTime and instant becomes the inclusive UTC range its precision
denotes ("2024" is 2024-01-01T00:00:00 .. 2024-12-31T23:59:59.999999, "2024-03-05T10:00:00+01:00"
is that second in UTC); a Period is start's low .. end's high, an open side being MIN_DATE or
MAX_DATE; a Timing is min..max of its events, else its repeat.boundsPeriod. Date-times without a
time zone are taken as UTC (the spec leaves it to the server). Unreadable values are skipped:
the resource was validated on write, so they can only be unusual, never client errors here.
"""

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fhirstore.models.index import MAX_DATE, MIN_DATE
from fhirstore.search.fhirpath import Item

COLUMNS = ("low", "high")
DateRange = tuple[datetime, datetime]
_DATE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
_MICRO = timedelta(microseconds=1)


def rows(items: list[Item]) -> list[tuple[Any, ...]]:
    """(low, high) rows for the extracted date, dateTime, instant, Period and Timing values."""
    out: list[tuple[Any, ...]] = []
    for value, _ in items:
        found = _range(value)
        if found is not None:
            out.append(found)
    return out


@functools.lru_cache(maxsize=4096)
def date_range(text: str) -> DateRange | None:
    """The inclusive UTC range of a FHIR date/dateTime/instant, or None if it is not one.

    Remembered: a Bundle's resources share their lastUpdated, and most of their dates recur
    (an encounter's observations are all taken at its start)."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    g = match.groupdict()
    try:
        low = _low(g)
    except (ValueError, OverflowError):
        return None
    return low, _high(low, g)


def _range(value: Any) -> DateRange | None:
    if isinstance(value, str):
        return date_range(value)
    if not isinstance(value, dict):
        return None
    if "event" in value or "repeat" in value:
        return _timing(value)
    if "start" in value or "end" in value:
        return _period(value)
    return None


def _period(period: dict) -> DateRange | None:
    start = date_range(period["start"]) if isinstance(period.get("start"), str) else None
    end = date_range(period["end"]) if isinstance(period.get("end"), str) else None
    if start is None and end is None:
        return None
    return (start[0] if start else MIN_DATE), (end[1] if end else MAX_DATE)


def _timing(timing: dict) -> DateRange | None:
    events = [date_range(e) for e in timing.get("event") or () if isinstance(e, str)]
    ranges = [r for r in events if r is not None]
    if ranges:
        return min(r[0] for r in ranges), max(r[1] for r in ranges)
    repeat = timing.get("repeat")
    if isinstance(repeat, dict) and isinstance(repeat.get("boundsPeriod"), dict):
        return _period(repeat["boundsPeriod"])
    return None


def _low(g: dict[str, str | None]) -> datetime:
    fraction = (g["f"] or ".0")[1:7].ljust(6, "0")
    local = datetime(
        int(g["y"] or 0),
        int(g["m"] or 1),
        int(g["d"] or 1),
        int(g["H"] or 0),
        int(g["M"] or 0),
        int(g["S"] or 0),
        int(fraction),
        tzinfo=UTC,
    )
    return local - _offset(g["tz"])


def _offset(tz: str | None) -> timedelta:
    if not tz or tz == "Z":
        return timedelta(0)
    sign = -1 if tz[0] == "-" else 1
    return sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))


def _high(low: datetime, g: dict[str, str | None]) -> datetime:
    """The last microsecond the value's precision covers (its own instant if it has a fraction)."""
    if g["f"]:
        return low
    if g["S"]:
        return low + timedelta(seconds=1) - _MICRO
    if g["M"]:
        return low + timedelta(minutes=1) - _MICRO
    if g["d"]:
        return low + timedelta(days=1) - _MICRO
    try:
        if g["m"]:
            month = low.month % 12 + 1
            return low.replace(year=low.year + (low.month == 12), month=month) - _MICRO
        return low.replace(year=low.year + 1) - _MICRO
    except ValueError:  # the year 9999
        return MAX_DATE
