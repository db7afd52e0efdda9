"""A tenant's settings: its sessions' TTL bounds and its history retention, within the stack's (pure rules).

What is stored is what an admin set; every field unset (or set to null) falls back to the stack's:
the maximum TTL to MAX_TTL_SECONDS, the default TTL to DEFAULT_TTL_SECONDS, the retention to none
(events live as long as their session). The TTLs in effect never exceed the stack's maximum, nor the
default the tenant's maximum (a stack redeployed with a lower MaxTtlSeconds lowers them).
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from sessions.core.errors import InvalidField, TtlAboveTenantMax
from sessions.core.settings import DEFAULT_MAX_TTL_SECONDS, TTL_MIN_SECONDS, get_settings

RETENTION_DAYS_MAX = 3650  # ten years: any longer is "keep", which null says
SETTING_FIELDS = ("max_session_ttl_seconds", "default_session_ttl_seconds", "history_retention_days")


class StoredTenantSettings(TypedDict):
    """The tenant settings item as the service sees it (store/tenant_settings.py); absent fields are unset."""

    tenant_id: str
    version: int
    updated_at: str
    updated_by: str
    max_session_ttl_seconds: NotRequired[int]
    default_session_ttl_seconds: NotRequired[int]
    history_retention_days: NotRequired[int]


TtlSetting = Annotated[StrictInt, Field(ge=TTL_MIN_SECONDS, json_schema_extra={"maximum": DEFAULT_MAX_TTL_SECONDS})]


class UpdateTenantSettingsRequest(BaseModel):
    """Body of PATCH /v1/tenant/settings: a JSON merge patch (RFC 7396); null puts a field back to the stack's."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    max_session_ttl_seconds: TtlSetting | None = Field(
        None, description="The largest ttl_seconds a create, fork or patch may give: 60 to the stack's MaxTtlSeconds."
    )
    default_session_ttl_seconds: TtlSetting | None = Field(
        None, description="A new session's lifetime when its request gives none: 60 to the tenant's maximum."
    )
    history_retention_days: Annotated[StrictInt, Field(ge=1, le=RETENTION_DAYS_MAX)] | None = Field(
        None,
        description="The cleanup removes events appended longer ago than this many days; null keeps them as long "
        "as their session.",
    )


class TenantSettings(BaseModel):
    """The tenant's settings in effect (what is not set is the stack's)."""

    model_config = ConfigDict(defer_build=True)

    tenant_id: str
    max_session_ttl_seconds: int
    default_session_ttl_seconds: int
    history_retention_days: int | None
    version: int = Field(description="0 until an admin first changes them; the ETag")
    updated_at: str | None
    updated_by: str | None


def effective(tenant_id: str, stored: StoredTenantSettings | None) -> dict[str, Any]:
    """The settings in effect for a tenant, as GET answers them."""
    stack = get_settings()
    given: dict[str, Any] = dict(stored or {})
    # never above the stack's: a stack whose MaxTtlSeconds was lowered since bounds every tenant
    maximum = min(given.get("max_session_ttl_seconds") or stack.max_ttl_seconds, stack.max_ttl_seconds)
    default = min(given.get("default_session_ttl_seconds") or stack.default_ttl_seconds, maximum)
    return {
        "tenant_id": tenant_id,
        "max_session_ttl_seconds": maximum,
        "default_session_ttl_seconds": default,
        "history_retention_days": given.get("history_retention_days"),
        "version": given.get("version", 0),
        "updated_at": given.get("updated_at"),
        "updated_by": given.get("updated_by"),
    }


def set_fields(stored: StoredTenantSettings | None) -> dict[str, int]:
    """The settings an admin set (the others are the stack's)."""
    current: dict[str, Any] = dict(stored or {})
    return {name: current[name] for name in SETTING_FIELDS if name in current}


def patched(stored: StoredTenantSettings | None, patch: UpdateTenantSettingsRequest) -> dict[str, int]:
    """The fields set once the merge patch is applied (null unsets); InvalidField when they contradict."""
    values = set_fields(stored)
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if value is None:
            values.pop(name, None)
        else:
            values[name] = value
    stack = get_settings()
    given = patch.model_fields_set
    if "max_session_ttl_seconds" in given and values.get("max_session_ttl_seconds", 0) > stack.max_ttl_seconds:
        raise InvalidField(
            ("body", "max_session_ttl_seconds"), f"at most the stack's MaxTtlSeconds ({stack.max_ttl_seconds})"
        )
    # a maximum stored above a since lowered MaxTtlSeconds counts as the stack's (as `effective` reads it)
    maximum = min(values.get("max_session_ttl_seconds", stack.max_ttl_seconds), stack.max_ttl_seconds)
    default = values.get("default_session_ttl_seconds")
    if default is not None and default > maximum and given & {"max_session_ttl_seconds", "default_session_ttl_seconds"}:
        raise InvalidField(
            ("body", "default_session_ttl_seconds"), f"at most the tenant's max_session_ttl_seconds ({maximum})"
        )
    return values


def session_ttl(settings: dict[str, Any], requested: int | None) -> int:
    """The TTL a create or fork gives its session: the requested one within the tenant's maximum, else its default."""
    if requested is None:
        return int(settings["default_session_ttl_seconds"])
    check_ttl(settings, requested)
    return requested


def check_ttl(settings: dict[str, Any], requested: int) -> None:
    maximum = int(settings["max_session_ttl_seconds"])
    if requested > maximum:
        raise TtlAboveTenantMax(
            f"ttl_seconds {requested} is above the tenant's max_session_ttl_seconds ({maximum})",
            max_session_ttl_seconds=maximum,
        )
