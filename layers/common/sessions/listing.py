"""Listing a user's sessions, newest first, page by page."""

from __future__ import annotations

from typing import Any

from sessions.clock import format_ms, now_ms
from sessions.cursors import decode_cursor, encode_cursor
from sessions.errors import Forbidden, InvalidField
from sessions.lifecycle import Status
from sessions.models import SUMMARY_FIELDS
from sessions.queries import timestamp_param
from sessions.service import Identity, store
from sessions.store import SessionQuery


def summary_view(record: dict[str, Any]) -> dict[str, Any]:
    return {field: record.get(field) for field in SUMMARY_FIELDS}


_STATUS = "(?:" + "|".join(status.value for status in Status) + ")"
# What the OpenAPI document states for ?status=: a comma list of statuses, spaces allowed around commas.
STATUS_LIST_PATTERN = f"^ *{_STATUS} *(?:, *{_STATUS} *)*$"


def _statuses(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    parts = [part.strip(" ") for part in raw.split(",")]
    unknown = [part for part in parts if part not in Status.__members__.values()]
    if unknown:
        allowed = ", ".join(status.value for status in Status)
        raise InvalidField(("query", "status"), f"status is a comma list of {allowed}")
    return tuple(dict.fromkeys(parts))


def list_sessions(
    identity: Identity,
    *,
    limit: int,
    cursor: str | None,
    ascending: bool,
    user_id: str | None = None,
    agent_id: str | None = None,
    status: str | None = None,
    session_type: str | None = None,
    app_name: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
) -> dict[str, Any]:
    owner = user_id or identity.user_id
    if owner != identity.user_id and not identity.is_admin:
        raise Forbidden("listing another user's sessions needs the admin role")
    statuses = _statuses(status)
    after, before = timestamp_param("created_after", created_after), timestamp_param("created_before", created_before)
    binding = {
        "kind": "list",
        "caller": [identity.tenant_id, identity.user_id],
        "query": [owner, agent_id, statuses, session_type, app_name, after, before, ascending],
    }
    page = store().list_sessions(
        SessionQuery(
            tenant_id=identity.tenant_id,
            user_id=owner,
            now=format_ms(now_ms()),
            limit=limit,
            ascending=ascending,
            agent_id=agent_id,
            statuses=statuses,
            session_type=session_type,
            app_name=app_name,
            created_after=after,
            created_before=before,
            start=decode_cursor(cursor, binding) if cursor else None,
        )
    )
    return {
        "sessions": [summary_view(record) for record in page.records],
        "next_cursor": encode_cursor(page.next_position, binding) if page.next_position else None,
    }
