"""Typed configuration from environment variables, read once per container, on first use."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    table_name: str
    tenant_claim: str
    default_tenant: str  # "" = a token without the tenant claim is refused
    roles_claim: str
    max_open_sessions_per_user: int  # 0 = no cap
    default_ttl_seconds: int
    max_ttl_seconds: int
    max_history_events: int
    idempotency_table_name: str
    cursor_secret_arn: str
    inactivity_timeout_seconds: int  # 0 = off
    event_timestamp_max_age_days: int  # 0 = an event's timestamp may name any past instant
    event_blobs_bucket: str  # where event parts too large for their item go ("" where no function needs it)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@functools.cache
def get_settings() -> Settings:
    return Settings(
        table_name=os.environ.get("TABLE_NAME", "sessions"),
        tenant_claim=os.environ.get("TENANT_CLAIM", "tenant_id"),
        default_tenant=os.environ.get("DEFAULT_TENANT", "").strip(),
        roles_claim=os.environ.get("ROLES_CLAIM", "cognito:groups"),
        max_open_sessions_per_user=_int("MAX_OPEN_SESSIONS_PER_USER", 10),
        default_ttl_seconds=_int("DEFAULT_TTL_SECONDS", 30 * 24 * 3600),
        max_ttl_seconds=_int("MAX_TTL_SECONDS", 365 * 24 * 3600),
        max_history_events=_int("MAX_HISTORY_EVENTS", 10_000),
        idempotency_table_name=os.environ.get("IDEMPOTENCY_TABLE_NAME", "sessions-idempotency"),
        cursor_secret_arn=os.environ.get("CURSOR_SECRET_ARN", ""),
        inactivity_timeout_seconds=_int("INACTIVITY_TIMEOUT_SECONDS", 0),
        event_timestamp_max_age_days=_int("EVENT_TIMESTAMP_MAX_AGE_DAYS", 0),
        event_blobs_bucket=os.environ.get("EVENT_BLOBS_BUCKET", ""),
    )
