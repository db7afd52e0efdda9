"""The dev server's subset of Lambda's filter patterns: exact values and prefixes, as EventBridge matches them."""

from __future__ import annotations

import pytest

from local.event_sources.event_filters import EventFilter, UnsupportedPattern, accepted, filters_of

RECORD = {
    "eventName": "MODIFY",
    "dynamodb": {
        "Keys": {"PK": {"S": "T#acme#S#s1"}, "SK": {"S": "#SESSION"}},
        "NewImage": {"version": {"N": "3"}, "tags": ["a", "b"], "gone": None, "done": True},
    },
}


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ('{"eventName": ["MODIFY"]}', True),
        ('{"eventName": ["INSERT", "MODIFY"]}', True),  # any value of the list
        ('{"eventName": ["modify"]}', False),  # exact, case included
        ('{"dynamodb": {"Keys": {"SK": {"S": ["#SESSION"]}}}}', True),
        ('{"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "T#acme#"}]}}}}', True),
        ('{"dynamodb": {"Keys": {"PK": {"S": [{"prefix": "T#other#"}]}}}}', False),
        ('{"eventName": ["MODIFY"], "dynamodb": {"Keys": {"SK": {"S": ["E#"]}}}}', False),  # every field must match
        ('{"dynamodb": {"OldImage": {"version": {"N": ["3"]}}}}', False),  # a missing field matches nothing
        ('{"dynamodb": {"NewImage": {"version": {"N": [3]}}}}', False),  # "3" is a string, not the number 3
        ('{"dynamodb": {"NewImage": {"tags": ["b"]}}}', True),  # an array matches when any element does
        ('{"dynamodb": {"NewImage": {"gone": [null]}}}', True),
        ('{"dynamodb": {"NewImage": {"done": [true]}}}', True),
        ('{"dynamodb": {"NewImage": {"done": [1]}}}', False),
        ('{"eventName": {"nested": ["x"]}}', False),  # an object where the record has a string
    ],
)
def test_patterns_match_like_eventbridge(pattern, matches):
    assert EventFilter(pattern).matches(RECORD) is matches


def test_no_filters_pass_everything_and_several_filters_pass_what_any_matches():
    assert accepted((), RECORD)
    assert accepted(
        filters_of({"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}, {"Pattern": '{"eventName": ["MODIFY"]}'}]}),
        RECORD,
    )
    assert not accepted(filters_of({"Filters": [{"Pattern": '{"eventName": ["REMOVE"]}'}]}), RECORD)
    assert filters_of(None) == ()


@pytest.mark.parametrize(
    "pattern",
    [
        '{"eventName": [{"anything-but": ["REMOVE"]}]}',
        '{"eventName": [{"exists": true}]}',
        '{"eventName": [{"prefix": "MO", "suffix": "FY"}]}',
        '{"eventName": "MODIFY"}',  # a value, not a list of values
        '{"eventName": []}',
        "{}",
        '["eventName"]',
        "not json",
    ],
)
def test_syntax_the_dev_server_does_not_implement_is_refused(pattern):
    with pytest.raises(UnsupportedPattern):
        EventFilter(pattern)
