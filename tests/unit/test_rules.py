"""Pure rules: merge patch, title sanitizing, JSON limits, value conversion, identity and bodies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sessions.core import errors
from sessions.core.attribute_values import from_attribute, to_attribute
from sessions.core.settings import get_settings
from sessions.domain.limits import MAX_NESTING, ObjectTooLarge, check_json_object
from sessions.domain.merge_patch import apply_merge_patch
from sessions.domain.text import sanitize_title
from sessions.http.identity import identity_of
from sessions.http.parameters import parse_if_match, parse_json_body
from sessions.store import key_part, session_pk, user_pk

# RFC 7396, Appendix A
RFC_7396_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7396_EXAMPLES)
def test_merge_patch_follows_rfc_7396(target, patch, result):
    snapshot = repr(target)
    assert apply_merge_patch(target, patch) == result
    assert repr(target) == snapshot  # the stored value is never modified in place


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Code review", "Code review"),
        ("  padded  ", "padded"),
        ("tab\tand\nnewline", "tab and newline"),
        ("zero\u200bwidth", "zerowidth"),
        ("\ufeffBOM first", "BOM first"),
        ("bidi \u202eoverride\u202c", "bidi override"),
        ("bell\u0007 and null\u0000", "bell and null"),
        ("many     spaces", "many spaces"),
        ("x" * 60, "x" * 60),
        ("  " + "y" * 60 + "\u200b\u200b  ", "y" * 60),
        ("émoji 🙂 kept", "émoji 🙂 kept"),
    ],
)
def test_title_sanitizing(raw, clean):
    assert sanitize_title(raw) == clean


@pytest.mark.parametrize("raw", ["", "   ", "\u200b\u200c\u200d\ufeff", "\u202e\u0000", "x" * 61, "\ud800"])
def test_unusable_titles_are_refused(raw):
    with pytest.raises(ValueError, match="title"):
        sanitize_title(raw)


def test_json_object_limits():
    assert check_json_object({"a": [1, 2.5, "x", None, True]}) == {"a": [1, 2.5, "x", None, True]}
    with pytest.raises(ObjectTooLarge):
        check_json_object({"a": "x" * 70_000})
    deep: dict = {}
    cursor = deep
    for _ in range(MAX_NESTING):
        cursor["n"] = {}
        cursor = cursor["n"]
    with pytest.raises(ValueError, match="nested"):
        check_json_object(deep)
    with pytest.raises(ValueError, match="finite"):
        check_json_object({"n": float("nan")})


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1, "0.1"),
        (1.5e-100, "0." + "0" * 99 + "15"),
        (123456789012345678901234567890, "123456789012345678901234567890"),
        (-7, "-7"),
        (2.5e-8, "0.000000025"),
        (1 / 3, "0.3333333333333333"),
        (1e-05, "0.00001"),
        (1e20, "100000000000000000000"),
        (-0.0, "-0.0"),
        (Decimal("1E-10"), "0.0000000001"),
    ],
)
def test_numbers_go_to_dynamodb_in_positional_notation_exactly(value, text):
    # one canonical form, which DynamoDB and the emulator's arithmetic both take (no 1e-05)
    stored = to_attribute({"n": [value]})
    assert stored["M"]["n"]["L"][0]["N"] == text
    assert from_attribute(stored) == {"n": [float(value) if isinstance(value, Decimal) else value]}


def test_decimals_from_dynamodb_become_ints_or_floats():
    assert from_attribute({"N": "5"}) == 5 and isinstance(from_attribute({"N": "5"}), int)
    assert from_attribute({"N": "0.1"}) == 0.1
    assert from_attribute({"N": "9.99E+125"}) == 9.99e125
    assert from_attribute({"N": "1E+2"}) == 100 and isinstance(from_attribute({"N": "1E+2"}), int)
    assert from_attribute({"N": "-" + "9" * 38}) == -int("9" * 38)
    assert from_attribute({"M": {"a": {"L": [{"NULL": True}, {"BOOL": False}, {"S": ""}]}}}) == {"a": [None, False, ""]}


def test_keys_escape_separators():
    assert key_part("a#b%c") == "a%23b%25c"
    assert session_pk("acme#S#x", "y") != session_pk("acme", "x#S#y")
    assert user_pk("t", "u#1") == "T#t#U#u%231"


def test_strict_json_bodies():
    assert parse_json_body('{"a": 1.5}') == {"a": 1.5}
    assert parse_json_body("") == {}
    assert parse_json_body('{"s": "\\ud83d\\ude42"}') == {"s": "🙂"}  # a proper pair is fine
    for bad in ('{"a": NaN}', '{"a": -Infinity}', "{", '{"s": "\\udc00"}', "[" * 50_000):
        with pytest.raises(errors.MalformedRequest):
            parse_json_body(bad)


def test_if_match_parsing():
    assert parse_if_match(None) is None
    assert parse_if_match("*") is None
    assert parse_if_match('"7"') == 7
    assert parse_if_match('W/"7"') == 7
    assert parse_if_match("nonsense") == -1


def _event(claims):
    return {"requestContext": {"authorizer": {"jwt": {"claims": claims}}}}


@pytest.fixture
def default_tenant(monkeypatch):
    def use(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("DEFAULT_TENANT", raising=False)
        else:
            monkeypatch.setenv("DEFAULT_TENANT", value)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def test_identity_comes_from_jwt_claims_only(default_tenant):
    default_tenant(None)
    identity = identity_of(_event({"sub": "u", "tenant_id": "acme", "cognito:groups": "[admin dev]"}))
    assert (identity.tenant_id, identity.user_id, identity.is_admin) == ("acme", "u", True)
    assert not identity_of(_event({"sub": "u", "tenant_id": "t", "cognito:groups": "[administrators]"})).is_admin
    assert identity_of(_event({"sub": "u", "tenant_id": "t", "cognito:groups": ["admin"]})).is_admin
    headers_only = {"headers": {"x-user-id": "u", "x-roles": "admin"}, "requestContext": {}}
    with pytest.raises(errors.Unauthenticated):
        identity_of(headers_only)


@pytest.mark.parametrize("configured", [None, "", "  "])
def test_without_a_default_tenant_a_token_must_name_its_tenant(default_tenant, configured):
    default_tenant(configured)
    for claims in ({"sub": "u"}, {"sub": "u", "tenant_id": ""}, {"sub": "u", "tenant_id": " "}):
        with pytest.raises(errors.Unauthenticated):
            identity_of(_event(claims))


def test_a_single_tenant_stack_names_the_tenant_of_tokens_without_the_claim(default_tenant):
    default_tenant("solo")
    assert identity_of(_event({"sub": "u"})).tenant_id == "solo"
    assert identity_of(_event({"sub": "u", "tenant_id": "acme"})).tenant_id == "acme"
