"""Composite parameters: component rows share a group so they match only within one element."""

import pytest
from django.db.models import F

from fhirstore.models import SearchNumber, SearchQuantity, SearchReference, SearchToken
from tests.fhirstore.search.indexing import example, store

pytestmark = pytest.mark.django_db
LOINC = "http://loinc.org"


def pairs(resource, code, value_table, value_column):
    """(token code, value) pairs of composite `code` joined on group_no, as the query side does."""
    tokens = SearchToken.objects.filter(resource=resource, param=f"{code}$0")
    values = dict(
        value_table.objects.filter(resource=resource, param=f"{code}$1").values_list(
            "group_no", value_column
        )
    )
    return sorted((token.code, values[token.group_no]) for token in tokens)


def test_component_code_value_quantity_pairs_each_component_with_its_own_value():
    obs = store(example("observation-example-bloodpressure"))

    assert pairs(obs, "component-code-value-quantity", SearchQuantity, "value") == [
        ("271649006", 107.0),  # systolic: three codings, one value
        ("8462-4", 60.0),
        ("8480-6", 107.0),
        ("bp-s", 107.0),
    ]


def test_groups_are_distinct_per_element():
    obs = store(example("observation-example-bloodpressure"))

    groups = SearchToken.objects.filter(resource=obs, param="component-code-value-quantity$0")

    assert sorted(groups.values_list("group_no", flat=True).distinct()).__len__() == 2
    assert not SearchToken.objects.filter(resource=obs, group_no__gt=0, param="code").exists()


def test_no_rows_when_a_component_is_missing():
    obs = store(example("observation-example-bloodpressure"))  # no valueQuantity at the top

    assert not SearchToken.objects.filter(resource=obs, param="code-value-quantity$0").exists()


def test_code_value_quantity_on_the_resource_itself():
    obs = store(example("observation-example-f001-glucose"))

    assert pairs(obs, "code-value-quantity", SearchQuantity, "value") == [("15074-8", 6.3)]


def test_combo_includes_the_resource_and_its_components():
    obs = store(example("observation-example-bloodpressure"))

    codes = set(
        SearchToken.objects.filter(resource=obs, param="combo-code-value-quantity$0").values_list(
            "code", flat=True
        )
    )

    assert codes == {"8462-4", "8480-6", "271649006", "bp-s"}  # the panel code has no value


def test_three_components_with_a_resource_rooted_one():
    sequence = store(example("molecularsequence-example"))

    token = SearchToken.objects.get(resource=sequence, param="referenceseqid-variant-coordinate$0")
    start = SearchNumber.objects.get(resource=sequence, param="referenceseqid-variant-coordinate$1")
    end = SearchNumber.objects.get(resource=sequence, param="referenceseqid-variant-coordinate$2")

    assert token.code == "NC_000009.11"
    assert (start.value, end.value) == (22125503.0, 22125504.0)
    assert token.group_no == start.group_no == end.group_no > 0


def test_reference_and_token_composite():
    doc = example("documentreference-example")

    document = store(doc)

    target = SearchReference.objects.filter(resource=document, param="relationship$0").annotate(
        g=F("group_no")
    )
    assert [(r.target_type, r.target_id) for r in target] == [("DocumentReference", "example")]
    assert (
        SearchToken.objects.get(
            resource=document, param="relationship$1", group_no=target[0].g
        ).code
        == "appends"
    )
