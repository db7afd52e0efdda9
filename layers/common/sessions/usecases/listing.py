"""Listing sessions page by page: a user's, or (roles service, admin) every user's of an app."""

from __future__ import annotations

from typing import Any

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import Forbidden, InvalidField
from sessions.domain.filters import timestamp_param
from sessions.domain.identity import Identity
from sessions.domain.models import SUMMARY_FIELDS
from sessions.domain.records import SessionSummaryRecord
from sessions.domain.status import Status
from sessions.store import SessionQuery
from sessions.usecases.access import store
from sessions.usecases.cursors import decode_cursor, encode_cursor


def summary_view(record: SessionSummaryRecord) -> dict[str, Any]:
    return {field: record.get(field) for field in SUMMARY_FIELDS}


def list_view(record: SessionSummaryRecord, include_context: bool) -> dict[str, Any]:
    view = summary_view(record)
    if include_context:
        view["context"] = record.get("context") or {}
    return view


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


# With include_context a page holds at most this many sessions: 20 contexts of 64 KiB, escaped twice over by
# Lambda's proxy response at worst, stay within its 6 MB response limit beside the summaries.
CONTEXT_PAGE_MAX = 20


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
    all_users: bool = False,
    order_by: str = "created_at",
    metadata: tuple[tuple[str, str], ...] = (),
    include_context: bool = False,
) -> dict[str, Any]:
    owner = user_id or identity.user_id
    if owner != identity.user_id and not identity.is_admin:
        raise Forbidden("listing another user's sessions needs the admin role")
    if all_users and not (identity.is_service or identity.is_admin):
        raise Forbidden("listing every user's sessions of an app needs the service or admin role")
    statuses = _statuses(status)
    after, before = timestamp_param("created_after", created_after), timestamp_param("created_before", created_before)
    binding: dict[str, Any] = {
        "kind": "list",
        "caller": [identity.tenant_id, identity.user_id],
        "query": [owner, agent_id, statuses, session_type, app_name, after, before, ascending],
    }
    if all_users or order_by != "created_at" or metadata or include_context:
        # added later: a cursor of a query without them stays valid
        binding["more"] = [all_users, order_by, [list(pair) for pair in metadata], include_context]
    page = store().list_sessions(
        SessionQuery(
            tenant_id=identity.tenant_id,
            user_id=owner,
            now=format_ms(now_ms()),
            limit=min(limit, CONTEXT_PAGE_MAX) if include_context else limit,
            ascending=ascending,
            agent_id=agent_id,
            statuses=statuses,
            session_type=session_type,
            app_name=app_name,
            created_after=after,
            created_before=before,
            start=decode_cursor(cursor, binding) if cursor else None,
            all_users=all_users,
            by_activity=order_by == "last_active_at",
            metadata=metadata,
            include_context=include_context,
        )
    )
    return {
        "sessions": [list_view(record, include_context) for record in page.records],
        "next_cursor": encode_cursor(page.next_position, binding) if page.next_position else None,
    }
