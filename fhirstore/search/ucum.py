"""UCUM units in canonical form, for comparing quantities written in different units.

`canonical(value, code)` converts a value in a UCUM unit to base units (g, m, s, mol, K and
their products: "mg/dL" -> "g.m-3", "kPa" -> "g.m-1.s-2", "Cel" -> "K"), or answers None for
a unit it cannot convert (enzyme units, arbitrary units, unknown atoms). Mass and amount of
substance are different dimensions, so mg/dL and mmol/L never compare: converting between
them needs the analyte's molar mass. Both the index and the query side use this function so
their canonical codes agree. https://ucum.org/ucum, https://hl7.org/fhir/R4/search.html#quantity
"""

import re
from functools import lru_cache

UCUM = "http://unitsofmeasure.org"
BASES = ("g", "m", "s", "mol", "K")
Dims = tuple[int, int, int, int, int]
_NONE: Dims = (0, 0, 0, 0, 0)
_PREFIXES = {
    "G": 1e9, "M": 1e6, "k": 1e3, "h": 1e2, "da": 1e1, "d": 1e-1, "c": 1e-2, "m": 1e-3,
    "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15,
}  # fmt: skip
_PA: Dims = (1, -1, -2, 0, 0)
# Metric atoms take prefixes; factors convert to the base dimensions above.
_METRIC: dict[str, tuple[float, Dims]] = {
    "g": (1.0, (1, 0, 0, 0, 0)),
    "m": (1.0, (0, 1, 0, 0, 0)),
    "s": (1.0, (0, 0, 1, 0, 0)),
    "mol": (1.0, (0, 0, 0, 1, 0)),
    "K": (1.0, (0, 0, 0, 0, 1)),
    "L": (1e-3, (0, 3, 0, 0, 0)),
    "l": (1e-3, (0, 3, 0, 0, 0)),
    "Pa": (1e3, _PA),
    "bar": (1e8, _PA),
}
_SPECIAL: dict[str, tuple[float, Dims]] = {
    "min": (60.0, (0, 0, 1, 0, 0)),
    "h": (3600.0, (0, 0, 1, 0, 0)),
    "d": (86400.0, (0, 0, 1, 0, 0)),
    "wk": (604800.0, (0, 0, 1, 0, 0)),
    "mo": (2629800.0, (0, 0, 1, 0, 0)),
    "a": (31557600.0, (0, 0, 1, 0, 0)),
    "[lb_av]": (453.59237, (1, 0, 0, 0, 0)),
    "[oz_av]": (28.349523125, (1, 0, 0, 0, 0)),
    "[in_i]": (0.0254, (0, 1, 0, 0, 0)),
    "[ft_i]": (0.3048, (0, 1, 0, 0, 0)),
    "mm[Hg]": (133322.387415, _PA),
    "cm[H2O]": (98066.5, _PA),
    "%": (0.01, _NONE),
    "1": (1.0, _NONE),
}
# Temperatures on offset scales convert only on their own, never inside a product.
_AFFINE = {"Cel": (1.0, 273.15), "[degF]": (5 / 9, 459.67 * 5 / 9)}
_ANNOTATION = re.compile(r"\{[^}]*\}")
_TERM = re.compile(r"(?P<atom>.*?)(?P<exp>[+-]?\d+)?")
_POWER = re.compile(r"10[*^](?P<exp>[+-]?\d+)")


def canonical(value: float, code: str) -> tuple[float, str] | None:
    """`value` in `code` expressed in base units, with the canonical unit code; None if unknown."""
    if code in _AFFINE:
        scale, offset = _AFFINE[code]
        return value * scale + offset, "K"
    parsed = _parse(code)
    if parsed is None:
        return None
    factor, dims = parsed
    return value * factor, _code(dims)


@lru_cache(maxsize=1024)
def _parse(code: str) -> tuple[float, Dims] | None:
    text = _ANNOTATION.sub("", code).strip()
    if not text:
        return 1.0, _NONE
    parts = re.split(r"([./])", "1" + text if text.startswith("/") else text)
    factor, dims = 1.0, list(_NONE)
    sign = 1
    for part in parts:
        if part in (".", "/"):
            sign = -1 if part == "/" else 1
            continue
        term = _term(part)
        if term is None:
            return None
        factor *= term[0] ** sign
        dims = [d + sign * t for d, t in zip(dims, term[1], strict=True)]
    return factor, (dims[0], dims[1], dims[2], dims[3], dims[4])


def _term(text: str) -> tuple[float, Dims] | None:
    power = _POWER.fullmatch(text)
    if power:
        return 10.0 ** int(power["exp"]), _NONE
    if text.isdigit():
        return float(text), _NONE
    match = _TERM.fullmatch(text)
    if match is None:
        return None
    unit = _atom(match["atom"])
    if unit is None:
        return None
    exp = int(match["exp"] or 1)
    return unit[0] ** exp, (
        unit[1][0] * exp, unit[1][1] * exp, unit[1][2] * exp, unit[1][3] * exp, unit[1][4] * exp
    )  # fmt: skip


def _atom(text: str) -> tuple[float, Dims] | None:
    if text in _SPECIAL:
        return _SPECIAL[text]
    if text in _METRIC:
        return _METRIC[text]
    for prefix, scale in _PREFIXES.items():
        rest = text[len(prefix) :]
        if text.startswith(prefix) and rest in _METRIC:
            factor, dims = _METRIC[rest]
            return factor * scale, dims
    return None


def _code(dims: Dims) -> str:
    parts = [
        base if exp == 1 else f"{base}{exp}" for base, exp in zip(BASES, dims, strict=True) if exp
    ]
    return ".".join(parts) or "1"
