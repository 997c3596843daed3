"""The search parser: names, modifiers, chains, _has, values and result parameters; no database."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fhirstore.errors import InvalidRequest
from fhirstore.search.parse import parse_search
from fhirstore.search.request import (
    CompositeValue,
    DateValue,
    Forward,
    Include,
    MissingValue,
    QuantityValue,
    ReferenceValue,
    Reverse,
    SortKey,
    TextValue,
    TokenValue,
)


def parse(resource_type, query, *, strict=False):
    params = [tuple(part.split("=", 1)) for part in query.split("&") if part]
    return parse_search(resource_type=resource_type, params=params, strict=strict)


def only(resource_type, query):
    (criterion,) = parse(resource_type, query).criteria
    return criterion


def test_token_forms():
    values = only("Observation", "code=a,http://s|b,|c,http://s|").values
    assert values == (
        TokenValue(system=None, code="a"),
        TokenValue(system="http://s", code="b"),
        TokenValue(system="", code="c"),
        TokenValue(system="http://s", code=None),
    )


def test_escaped_comma_pipe_and_dollar_are_literal():
    assert only("Patient", r"name=a\,b").values == (TextValue("a,b"),)
    assert only("Observation", r"code=x\|y").values == (TokenValue(system=None, code="x|y"),)
    composite = only("Observation", r"code-value-string=a$b\$c").values[0]
    assert composite == CompositeValue((TokenValue(None, "a"), TextValue("b$c")))


def test_repeated_parameter_is_and_commas_are_or():
    request = parse("Observation", "code=a,b&code=c")
    assert [len(c.values) for c in request.criteria] == [2, 1]


def test_partial_date_is_a_range_and_zone_is_applied():
    (value,) = only("Observation", "date=ge2024-02").values
    assert value == DateValue(
        "ge",
        datetime(2024, 2, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    )
    (value,) = only("Observation", "date=2024-03-01T10:00:00%2B02:00".replace("%2B", "+")).values
    assert value.low == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "query", ["date=2024-13", "date=xx2024", "date=2024-02-30", "value-quantity=abc", "length=1e"]
)
def test_bad_values_are_invalid_requests_naming_the_parameter(query):
    resource_type = "Encounter" if query.startswith("length") else "Observation"
    with pytest.raises(InvalidRequest) as raised:
        parse(resource_type, query)
    assert raised.value.http_status == 400
    assert raised.value.expression == (query.split("=")[0],)


def test_number_precision_range():
    (value,) = only("RiskAssessment", "probability=100").values
    assert (value.low, value.high) == (Decimal("99.5"), Decimal("100.5"))


def test_quantity_with_system_and_code():
    (value,) = only("Observation", "value-quantity=le5.4|http://unitsofmeasure.org|mg").values
    assert isinstance(value, QuantityValue)
    assert (value.number.prefix, value.system, value.code) == (
        "le",
        "http://unitsofmeasure.org",
        "mg",
    )


def test_reference_forms(settings):
    settings.FHIR_STORE = {**settings.FHIR_STORE, "PUBLIC_BASE_URL": "https://ex.org/fhir"}
    values = only(
        "Observation", "subject=Patient/1,https://ex.org/fhir/Patient/2,http://o/P/3"
    ).values
    assert values == (
        ReferenceValue("Patient", "1"),
        ReferenceValue("Patient", "2"),
        ReferenceValue(None, None, "http://o/P/3"),
    )
    assert only("Observation", "subject:Patient=7").values == (ReferenceValue("Patient", "7"),)
    assert only("Observation", "patient=7").values == (ReferenceValue("Patient", "7"),)


def test_chain_of_several_levels_narrows_target_types():
    criterion = only("Observation", "subject:Patient.organization.name=acme")
    assert criterion.path == (
        Forward("subject", ("Patient",)),
        Forward("organization", ("Organization",)),
    )
    assert (criterion.resource_type, criterion.code, criterion.type) == (
        "Organization",
        "name",
        "string",
    )


def test_nested_has_and_has_inside_a_chain():
    criterion = only(
        "Patient", "_has:Observation:patient:_has:Provenance:target:agent=Practitioner/1"
    )
    assert criterion.path == (Reverse("Observation", "patient"), Reverse("Provenance", "target"))
    criterion = only("Observation", "subject:Patient._has:Condition:subject:code=x")
    assert criterion.path == (Forward("subject", ("Patient",)), Reverse("Condition", "subject"))


def test_missing_modifier_on_any_type():
    assert only("Observation", "value-quantity:missing=true").values == (MissingValue(True),)
    with pytest.raises(InvalidRequest):
        parse("Observation", "date:missing=maybe")


def test_unsupported_modifier_is_rejected_even_when_lenient():
    with pytest.raises(InvalidRequest, match="exact"):
        parse("Observation", "date:exact=2020")


def test_unknown_parameter_ignored_and_not_echoed_unless_strict():
    request = parse("Patient", "foo=1&name=x")
    assert [c.code for c in request.criteria] == ["name"]
    assert request.echo == (("name", "x"),)
    with pytest.raises(InvalidRequest) as raised:
        parse("Patient", "foo=1", strict=True)
    assert raised.value.expression == ("foo",)


def test_count_default_and_silent_cap(settings):
    settings.FHIR_STORE = {**settings.FHIR_STORE, "DEFAULT_COUNT": 20, "MAX_COUNT": 100}
    assert parse("Patient", "").count == 20
    assert parse("Patient", "_count=5000").count == 100
    with pytest.raises(InvalidRequest):
        parse("Patient", "_count=-1")


def test_sort_keys_and_unknown_sort_key():
    assert parse("Observation", "_sort=-date,code,_id").sort == (
        SortKey("date", "date", True),
        SortKey("code", "token", False),
        SortKey("_id", "token", False),
    )
    with pytest.raises(InvalidRequest, match="nope"):
        parse("Observation", "_sort=nope")


def test_includes_revincludes_iterate_and_wildcard():
    request = parse(
        "Observation",
        "_include=Observation:subject:Patient&_include:iterate=Patient:general-practitioner"
        "&_revinclude=Provenance:target&_include=*",
    )
    assert request.includes == (
        Include("Observation", "subject", "Patient"),
        Include("Patient", "general-practitioner", None, iterate=True),
        Include("*", "*"),
    )
    assert request.revincludes == (Include("Provenance", "target"),)
    with pytest.raises(InvalidRequest):
        parse("Observation", "_include=Observation:code")


def test_summary_elements_total_and_type():
    request = parse(None, "_type=Patient,Practitioner&_summary=true&_elements=name&_total=accurate")
    assert (request.types, request.summary, request.elements, request.total) == (
        ("Patient", "Practitioner"),
        "true",
        ("name",),
        "accurate",
    )
    with pytest.raises(InvalidRequest):
        parse(None, "_type=Nope")
    with pytest.raises(InvalidRequest):
        parse("Patient", "_total=maybe")
