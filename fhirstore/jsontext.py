"""Lossless JSON for FHIR: decimals keep the digits the client sent.

FHIR decimals carry precision in their text (`1.50` is not `1.5`; http://hl7.org/fhir/R4/datatypes.html#decimal).
Parsing turns JSON fractions into `Decimal`, and dumping writes them back verbatim, so what an
integrator writes it reads back unchanged. Everything else goes through orjson.
"""

import json
import re
from decimal import Decimal
from typing import Any

import orjson

from fhirstore.errors import InvalidRequest

# A Decimal is written as a marked string, then unquoted: orjson cannot emit raw number text.
_MARK = "\ue000"
_MARKED = re.compile(f'"{_MARK}([^"{_MARK}]*){_MARK}"'.encode())


def _decimal_text(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{_MARK}{value}{_MARK}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: bytes | str) -> Any:
    """Parse JSON text, keeping fractions as Decimal. Raises InvalidRequest on malformed input."""
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise InvalidRequest(f"Body is not valid JSON: {error}", code="structure") from None


def dumps(value: Any) -> bytes:
    """Serialise to compact JSON bytes, writing Decimals with their original digits."""
    data = orjson.dumps(value, default=_decimal_text)
    if _MARK.encode() in data:
        data = _MARKED.sub(rb"\1", data)
    return data


def dumps_pretty(value: Any) -> bytes:
    data = orjson.dumps(value, default=_decimal_text, option=orjson.OPT_INDENT_2)
    if _MARK.encode() in data:
        data = _MARKED.sub(rb"\1", data)
    return data
