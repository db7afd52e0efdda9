"""get_tenant_settings and update_tenant_settings, in-process and over the dev server (each test its own tenant)."""

from __future__ import annotations

import pytest
from conftest import SessionsBackend

import sessions_client as sc


def test_an_admin_bounds_the_tenants_sessions_and_members_read_the_bounds(sessions_backend: SessionsBackend) -> None:
    member = sessions_backend.client()
    admin = sessions_backend.client(identity=sessions_backend.identity(user="boss", roles=("admin",)))
    before = member.get_tenant_settings()
    assert isinstance(before, sc.TenantSettings) and before.version == 0 and before.history_retention_days is None

    with pytest.raises(sc.Forbidden):
        member.update_tenant_settings(history_retention_days=30)
    changed = admin.update_tenant_settings(
        max_session_ttl_seconds=3600, default_session_ttl_seconds=600, history_retention_days=30, if_match=0
    )
    assert (changed.max_session_ttl_seconds, changed.default_session_ttl_seconds) == (3600, 600)
    assert changed.history_retention_days == 30 and changed.version == 1 and changed.updated_by == "boss"
    assert member.get_tenant_settings() == changed
    with pytest.raises(sc.VersionMismatch):
        admin.update_tenant_settings(history_retention_days=7, if_match=0)

    session = member.create_session(title="bounded")
    assert (session.expires_at - session.created_at).total_seconds() == pytest.approx(600, abs=1)
    with pytest.raises(sc.TtlAboveTenantMax) as refused:
        member.create_session(title="too long", ttl_seconds=3601)
    assert refused.value.status == 422 and refused.value.max_session_ttl_seconds == 3600
    with pytest.raises(sc.TtlAboveTenantMax):
        member.update_session(session.session_id, ttl_seconds=7200)

    reset = admin.update_tenant_settings(history_retention_days=None)  # None: back to the stack's (keep)
    assert reset.history_retention_days is None and reset.version == 2
