"""Filters compile to one query and evaluate per record with the same answer."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm import filters, services
from crm.models import ObjectType, PropertyDefinition, PropertyType, Record


@pytest.fixture
def people(acme, rep_user):
    PropertyDefinition.objects.create(
        account=acme, object_type="contact", name="score", label="Score", type=PropertyType.NUMBER
    )
    PropertyDefinition.objects.create(
        account=acme,
        object_type="contact",
        name="last_seen",
        label="Last seen",
        type=PropertyType.DATETIME,
    )
    recent = (timezone.now() - dt.timedelta(days=2)).isoformat()
    old = (timezone.now() - dt.timedelta(days=40)).isoformat()
    rows = [
        {
            "email": "ann@acme.io",
            "first_name": "Ann",
            "state": "California",
            "score": "90",
            "lead_status": "new",
            "last_seen": recent,
            "owner": "rep",
        },
        {
            "email": "bob@globex.io",
            "first_name": "Bob",
            "state": "tex.",
            "score": "40",
            "lead_status": "open",
            "last_seen": old,
        },
        {"email": "cy@initech.io", "first_name": "Cy", "score": "65"},
        {"email": "di@acme.io", "first_name": "Di", "state": "WA", "lead_status": "unqualified"},
    ]
    for row in rows:
        services.record_create(account=acme, object_type=ObjectType.CONTACT, values=row)
    return {
        d.name: d for d in PropertyDefinition.objects.filter(account=acme, object_type="contact")
    }


CASES = [
    ([[{"property": "state", "operator": "is_known"}]], {"Ann", "Bob", "Di"}),
    ([[{"property": "state", "operator": "is_unknown"}]], {"Cy"}),
    (
        [[{"property": "state", "operator": "eq_any", "values": ["california", "WA"]}]],
        {"Ann", "Di"},
    ),
    ([[{"property": "state", "operator": "neq_any", "values": ["WA"]}]], {"Ann", "Bob", "Cy"}),
    ([[{"property": "email", "operator": "contains", "value": "ACME"}]], {"Ann", "Di"}),
    ([[{"property": "email", "operator": "not_contains", "value": "acme"}]], {"Bob", "Cy"}),
    ([[{"property": "first_name", "operator": "starts_with", "value": "b"}]], {"Bob"}),
    ([[{"property": "score", "operator": "gt", "value": "50"}]], {"Ann", "Cy"}),
    ([[{"property": "score", "operator": "lte", "value": "40"}]], {"Bob"}),
    ([[{"property": "score", "operator": "between", "values": ["70", "30"]}]], {"Bob", "Cy"}),
    (
        [[{"property": "lead_status", "operator": "eq_any", "values": ["New", "open"]}]],
        {"Ann", "Bob"},
    ),
    ([[{"property": "last_seen", "operator": "in_last_days", "value": 7}]], {"Ann"}),
    ([[{"property": "owner", "operator": "eq_any", "values": ["rep"]}]], {"Ann"}),
    # OR of AND groups
    (
        [
            [
                {"property": "score", "operator": "gt", "value": "50"},
                {"property": "state", "operator": "is_known"},
            ],
            [{"property": "lead_status", "operator": "eq_any", "values": ["unqualified"]}],
        ],
        {"Ann", "Di"},
    ),
    ([], {"Ann", "Bob", "Cy", "Di"}),
]


@pytest.mark.parametrize("raw,expected", CASES)
def test_sql_and_python_agree_on_every_operator(acme, people, raw, expected):
    groups = filters.parse_groups(people, raw)
    records = Record.objects.filter(account=acme, object_type="contact")
    in_sql = {r.properties["first_name"] for r in records.filter(filters.groups_q(groups))}
    in_python = {
        r.properties["first_name"] for r in records if filters.record_matches(r.properties, groups)
    }
    assert in_sql == expected
    assert in_python == expected


def test_a_filter_is_one_query_whatever_the_number_of_records(acme, people):
    groups = filters.parse_groups(
        people,
        [
            [
                {"property": "score", "operator": "gt", "value": "10"},
                {"property": "state", "operator": "not_contains", "value": "x"},
            ]
        ],
    )
    with CaptureQueriesContext(connection) as queries:
        list(Record.objects.filter(account=acme).filter(filters.groups_q(groups)))
    assert len(queries) == 1


@pytest.mark.parametrize(
    "raw,message",
    [
        ([[{"property": "nope", "operator": "is_known"}]], "There is no property “nope”"),
        (
            [[{"property": "score", "operator": "contains", "value": "1"}]],
            "cannot be used with Score",
        ),
        ([[{"property": "score", "operator": "gt", "value": "lots"}]], "is not a number"),
        ([[{"property": "score", "operator": "gt"}]], "Enter a value"),
        (
            [[{"property": "last_seen", "operator": "in_last_days", "value": "soon"}]],
            "whole number",
        ),
        ({"property": "score"}, "must be a list of groups"),
    ],
)
def test_bad_filters_are_explained(people, raw, message):
    with pytest.raises(ValidationError, match=message):
        filters.parse_groups(people, raw)
