"""GET and PATCH /v1/tenant/settings, and the TTL bounds that creates, forks and patches take from them.

Any member of the tenant reads the settings (they bound that member's own requests); only role admin
changes them (role service acts for users, never for the tenant). A create or fork reads them in the
request (one eventually consistent GetItem, half a read unit), so a change holds for the next request
in every container: no cache to wait out.
"""

from __future__ import annotations

from typing import Any

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import Forbidden, VersionMismatch
from sessions.core.retrying import back_off, write_attempts
from sessions.domain.identity import Identity
from sessions.domain.tenant_settings import (
    StoredTenantSettings,
    UpdateTenantSettingsRequest,
    effective,
    patched,
    set_fields,
)
from sessions.store import TenantSettingsChanged
from sessions.usecases.access import store


def tenant_settings(tenant_id: str) -> dict[str, Any]:
    """The settings in effect for a tenant (the stack's where it set none)."""
    return effective(tenant_id, store().get_tenant_settings(tenant_id))


def get_tenant_settings(identity: Identity) -> dict[str, Any]:
    return effective(identity.tenant_id, store().get_tenant_settings(identity.tenant_id, consistent=True))


def update_tenant_settings(
    identity: Identity, patch: UpdateTenantSettingsRequest, if_match: int | None
) -> dict[str, Any]:
    """Apply the merge patch (admins only); the settings as written, or as they were when nothing changes."""
    if not identity.is_admin:
        raise Forbidden("changing the tenant's settings needs the admin role")
    for attempt in write_attempts():
        stored = store().get_tenant_settings(identity.tenant_id, consistent=True)
        version = stored["version"] if stored else 0
        if if_match is not None and if_match != version:
            raise VersionMismatch(version)
        values = patched(stored, patch)
        if values == set_fields(stored):
            return effective(identity.tenant_id, stored)  # nothing differs: no write, no new version
        written: StoredTenantSettings = {
            "tenant_id": identity.tenant_id,
            "version": version + 1,
            "updated_at": format_ms(now_ms()),
            "updated_by": identity.principal,
            **values,  # type: ignore[typeddict-item]
        }
        try:
            store().put_tenant_settings(written, read_version=version)
        except TenantSettingsChanged:
            if if_match is not None:  # another admin's change won: the If-Match names a version gone
                latest = store().get_tenant_settings(identity.tenant_id, consistent=True)
                raise VersionMismatch(latest["version"] if latest else 0) from None
            back_off(attempt)
            continue
        return effective(identity.tenant_id, written)
    raise VersionMismatch(0, "the tenant's settings kept changing; retry")
