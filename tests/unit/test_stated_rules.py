"""Rules the OpenAPI document states are the rules the code enforces."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from sessions.domain.limits import NotStorable, check_json_object
from sessions.domain.text import INVISIBLE_CLASS, TITLE_PATTERN, sanitize_title
from sessions.http.idempotency import KEY_PATTERN
from sessions.usecases.listing import STATUS_LIST_PATTERN, _statuses


def test_the_invisible_class_is_exactly_what_sanitizing_removes_or_collapses():
    invisible = re.compile(f"[{INVISIBLE_CLASS}]")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) == "Cs":
            continue  # lone surrogates are not JSON: refused before any rule
        removed = unicodedata.category(char) in ("Cc", "Cf") or char.isspace()
        assert bool(invisible.fullmatch(char)) == removed, hex(code)


@pytest.mark.parametrize("title", ["a", " a ", "\u200ba\u200b", "\t\n x", "é" * 60, "\U0001f642"])
def test_a_title_the_pattern_accepts_sanitizes_to_a_usable_title(title):
    assert re.search(TITLE_PATTERN, title) and len(title) <= 60
    assert sanitize_title(title)


@pytest.mark.parametrize("title", ["", "   ", "\u200b\ufeff", "\u202e\u0000", "\U000e0001"])
def test_a_title_the_pattern_refuses_is_refused(title):
    assert not re.search(TITLE_PATTERN, title)
    with pytest.raises(ValueError):
        sanitize_title(title)


@pytest.mark.parametrize("raw", ["active", "active,paused", " paused , crashed ", "completed,completed"])
def test_status_lists_the_pattern_accepts_are_accepted(raw):
    assert re.fullmatch(STATUS_LIST_PATTERN, raw)
    assert _statuses(raw)


@pytest.mark.parametrize("raw", ["", ",", "active,", "active,,paused", "Active", "open"])
def test_status_lists_the_pattern_refuses_are_refused(raw):
    assert not re.fullmatch(STATUS_LIST_PATTERN, raw)
    with pytest.raises(Exception, match="comma list"):
        _statuses(raw)


def test_idempotency_keys_are_visible_ascii_with_inner_spaces():
    for good in ("k", "turn-2", "a b", "~" * 255):
        assert re.fullmatch(KEY_PATTERN, good)
    for bad in ("", " a", "a ", "é", "a\tb", "x" * 256):
        assert not re.fullmatch(KEY_PATTERN, bad)


@pytest.mark.parametrize(
    ("value", "where"),
    [({"": 1}, "the top"), ({"a": [{"b": {"": None}}]}, "/a/0/b"), ({"a/b": {"": 1}}, "/a~1b")],
)
def test_an_empty_key_is_refused_with_where_it_is(value, where):
    with pytest.raises(NotStorable, match=re.escape(where)):
        check_json_object(value)


@pytest.mark.parametrize("number", [10**38, -(10**38), 1e38 * 10, 1e-131, -5e-324])
def test_numbers_dynamodb_cannot_hold_are_refused(number):
    with pytest.raises(NotStorable):
        check_json_object({"n": number})


@pytest.mark.parametrize("number", [10**38 - 1, 2.0, 1e37, 1e-130, -0.0, 0, 0.1, 1 / 3])
def test_numbers_dynamodb_holds_are_accepted(number):
    assert check_json_object({"n": number}) == {"n": number}
