"""GET|PATCH /v1/tenant/settings: who reads and changes them, and the TTL bounds creates, forks and patches keep."""

from __future__ import annotations

from sessions.core.clock import parse_timestamp
from sessions.core.settings import get_settings
from sessions.domain.identity import Identity
from sessions.domain.tenant_settings import UpdateTenantSettingsRequest
from sessions.usecases.tenant_settings import update_tenant_settings
from tests.integration.conftest import concurrently, set_env

ADMIN = {"user": "boss", "roles": ["admin"]}


def _patch(gateway, body, **caller):
    return gateway.request("PATCH", "/v1/tenant/settings", body, **(caller or ADMIN))


def _lifetime(session) -> int:
    return (parse_timestamp(session["expires_at"]) - parse_timestamp(session["created_at"])) // 1000


def test_a_tenant_without_settings_has_the_stacks(gateway):
    response = gateway.request("GET", "/v1/tenant/settings")
    assert response.status == 200, response.body
    stack = get_settings()
    assert response.body == {
        "tenant_id": "acme",
        "max_session_ttl_seconds": stack.max_ttl_seconds,
        "default_session_ttl_seconds": stack.default_ttl_seconds,
        "history_retention_days": None,
        "version": 0,
        "updated_at": None,
        "updated_by": None,
    }
    assert response.headers["etag"] == '"0"'


def test_an_admin_changes_them_and_every_member_reads_them(gateway):
    changed = _patch(gateway, {"max_session_ttl_seconds": 3600, "history_retention_days": 30})
    assert changed.status == 200, changed.body
    assert changed.body["max_session_ttl_seconds"] == 3600
    assert changed.body["default_session_ttl_seconds"] == 3600  # the stack's default, lowered to the maximum
    assert changed.body["history_retention_days"] == 30
    assert changed.body["version"] == 1 and changed.headers["etag"] == '"1"'
    read = gateway.request("GET", "/v1/tenant/settings", user="someone")
    assert read.body == changed.body
    other_tenant = gateway.request("GET", "/v1/tenant/settings", tenant="globex")
    assert other_tenant.body["version"] == 0 and other_tenant.body["history_retention_days"] is None


def test_only_an_admin_changes_them(gateway):
    for caller in ({"user": "u-1"}, {"user": "svc", "roles": ["service"]}):
        refused = _patch(gateway, {"history_retention_days": 1}, **caller)
        assert refused.status == 403 and refused.body["code"] == "forbidden"
    assert gateway.request("GET", "/v1/tenant/settings").body["version"] == 0  # nothing written


def test_null_puts_a_setting_back_to_the_stacks_and_a_patch_that_changes_nothing_writes_nothing(gateway):
    _patch(gateway, {"history_retention_days": 7, "default_session_ttl_seconds": 600})
    same = _patch(gateway, {"history_retention_days": 7})
    assert same.body["version"] == 1
    reset = _patch(gateway, {"history_retention_days": None})
    assert reset.body["history_retention_days"] is None and reset.body["default_session_ttl_seconds"] == 600
    assert reset.body["version"] == 2


def test_bad_settings_are_refused_with_nothing_written(gateway):
    stack = get_settings()
    for body in (
        {"max_session_ttl_seconds": 59},
        {"max_session_ttl_seconds": stack.max_ttl_seconds + 1},
        {"history_retention_days": 0},
        {"history_retention_days": "7"},
        {"retention": 7},  # unknown field
        {"max_session_ttl_seconds": 600, "default_session_ttl_seconds": 601},
    ):
        refused = _patch(gateway, body)
        assert refused.status == 422, (body, refused.body)
        assert refused.body["code"] == "validation_error"
    assert gateway.request("GET", "/v1/tenant/settings").body["version"] == 0


def test_if_match_guards_a_change(gateway):
    _patch(gateway, {"history_retention_days": 7})
    stale = _patch(gateway, {"history_retention_days": 8}, headers={"If-Match": '"0"'}, **ADMIN)
    assert stale.status == 412 and stale.body["current_version"] == 1
    fresh = _patch(gateway, {"history_retention_days": 8}, headers={"If-Match": '"1"'}, **ADMIN)
    assert fresh.status == 200 and fresh.body["version"] == 2


def test_creates_forks_and_patches_keep_within_the_tenants_maximum(gateway):
    _patch(gateway, {"max_session_ttl_seconds": 3600, "default_session_ttl_seconds": 600})
    created = gateway.request("POST", "/v1/sessions", {"session_id": "s1"})
    assert created.status == 201 and _lifetime(created.body) == 600  # the tenant's default
    longest = gateway.request("POST", "/v1/sessions", {"session_id": "s2", "ttl_seconds": 3600})
    assert longest.status == 201 and _lifetime(longest.body) == 3600
    for method, path, body in (
        ("POST", "/v1/sessions", {"session_id": "s3", "ttl_seconds": 3601}),
        ("POST", "/v1/sessions/s1/fork", {"session_id": "f1", "ttl_seconds": 3601}),
        ("PATCH", "/v1/sessions/s1", {"ttl_seconds": 3601}),
    ):
        refused = gateway.request(method, path, body)
        assert refused.status == 422, (path, refused.body)
        assert refused.body["code"] == "ttl_above_tenant_max" and refused.body["max_session_ttl_seconds"] == 3600
    assert gateway.request("GET", "/v1/sessions/s3").status == 404
    assert gateway.request("GET", "/v1/sessions/s1").body["version"] == 1
    fork = gateway.request("POST", "/v1/sessions/s1/fork", {"session_id": "f2"})
    assert fork.status == 201 and _lifetime(fork.body) == 600
    # another tenant keeps the stack's bounds
    other = gateway.request("POST", "/v1/sessions", {"ttl_seconds": 7200}, tenant="globex")
    assert other.status == 201


def test_a_lowered_maximum_leaves_existing_sessions_as_they_are_until_patched(gateway):
    long_lived = gateway.request("POST", "/v1/sessions", {"session_id": "old", "ttl_seconds": 7200}).body
    _patch(gateway, {"max_session_ttl_seconds": 3600})
    assert gateway.request("GET", "/v1/sessions/old").body["expires_at"] == long_lived["expires_at"]
    titled = gateway.request("PATCH", "/v1/sessions/old", {"title": "kept"})
    assert titled.status == 200 and titled.body["expires_at"] == long_lived["expires_at"]
    assert gateway.request("PATCH", "/v1/sessions/old", {"ttl_seconds": 7200}).status == 422


def test_of_two_admins_racing_on_one_version_exactly_one_wins(gateway):
    boss = Identity("acme", "boss", roles=frozenset({"admin"}))
    results = concurrently(
        6,
        lambda i: update_tenant_settings(boss, UpdateTenantSettingsRequest(history_retention_days=i + 1), if_match=0),
    )
    assert sorted(status for status, _ in results) == [200] + [412] * 5
    (winner,) = [result for status, result in results if status == 200]
    assert gateway.request("GET", "/v1/tenant/settings").body == winner
    assert winner["version"] == 1


def test_unconditional_patches_racing_all_apply(gateway):
    boss = Identity("acme", "boss", roles=frozenset({"admin"}))
    patches = [
        UpdateTenantSettingsRequest(max_session_ttl_seconds=7200),
        UpdateTenantSettingsRequest(default_session_ttl_seconds=600),
        UpdateTenantSettingsRequest(history_retention_days=9),
    ]
    results = concurrently(3, lambda i: update_tenant_settings(boss, patches[i], if_match=None))
    assert [status for status, _ in results] == [200, 200, 200]
    settings = gateway.request("GET", "/v1/tenant/settings").body
    assert (settings["max_session_ttl_seconds"], settings["default_session_ttl_seconds"]) == (7200, 600)
    assert settings["history_retention_days"] == 9 and settings["version"] == 3


def test_a_stack_redeployed_with_a_lower_maximum_bounds_every_tenant(gateway, monkeypatch):
    _patch(gateway, {"max_session_ttl_seconds": 7200, "default_session_ttl_seconds": 7200})
    set_env(monkeypatch, MAX_TTL_SECONDS="3600", DEFAULT_TTL_SECONDS="600")
    settings = gateway.request("GET", "/v1/tenant/settings").body
    assert (settings["max_session_ttl_seconds"], settings["default_session_ttl_seconds"]) == (3600, 3600)
    assert gateway.request("POST", "/v1/sessions", {"ttl_seconds": 3601}).status == 422
    # a patch of another setting is not refused for the stored maximum the stack outgrew
    retained = _patch(gateway, {"history_retention_days": 30})
    assert retained.status == 200 and retained.body["max_session_ttl_seconds"] == 3600
    assert _patch(gateway, {"max_session_ttl_seconds": 3601}).status == 422


def test_a_patch_that_unsets_what_was_never_set_writes_nothing(gateway):
    unchanged = _patch(gateway, {"history_retention_days": None})
    assert unchanged.status == 200 and unchanged.body["version"] == 0
