"""The asynchronous client: the same methods as SessionsClient, awaited."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, Self, TypeVar

import httpx
from pydantic import BaseModel

from sessions_client import errors
from sessions_client._core import (
    DEFAULT_BACKOFF,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    RETRY_EXCEPTIONS,
    Call,
    ClientCore,
    DevIdentity,
    IfMatch,
    JsonObject,
    Token,
    async_bearer_token,
    create_body,
    event_body,
    finish,
    part_calls,
    patch_body,
    settings_from_env,
    with_parts,
)
from sessions_client.models import (
    AppState,
    Erasure,
    Event,
    Export,
    History,
    RemovedEvents,
    Session,
    SessionList,
    SessionSummary,
    Stats,
    TenantSettings,
    UserState,
)

T = TypeVar("T")


class AsyncSessionsClient(ClientCore):
    """The session service over HTTP, asynchronously (`token` may also be an async callable).

    Authentication: `token` (a bearer token, or a callable returning one, called before every
    request so it can refresh), or `identity` (the dev server's headers: `DevIdentity(user_id,
    tenant_id, roles)` or a dict of those). `user_id`: a caller with the `service` role acting for
    that user (sent as the `user_id` query parameter, and in the create body).

    Retries: 429 (throttling), 502/503/504, timeouts and connection errors are retried up to
    `retries` times with exponential back-off and full jitter; a 500 is not (the same request would
    fail again). POSTs are safe to retry: each logical call carries one `Idempotency-Key` (yours, or
    a new UUID) across its attempts.
    A retried PATCH is a merge patch applied again (same result), except with `if_match=`: when the
    first attempt's answer was lost after it was applied, the retry answers `VersionMismatch`. A
    retried rewind (`delete_events`) whose first answer was lost reports `removed=0`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: Token | None = None,
        identity: DevIdentity | Mapping[str, Any] | None = None,
        user_id: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            base_url,
            token=token,
            identity=identity,
            user_id=user_id,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            headers=headers,
        )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, transport=transport, headers=self.default_headers
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> AsyncSessionsClient:
        """A client configured by SESSIONS_URL, SESSIONS_TOKEN, SESSIONS_USER/TENANT/ROLES, SESSIONS_ACT_AS."""
        settings = settings_from_env(os.environ if environ is None else environ)
        settings.update(kwargs)
        return cls(settings.pop("base_url"), **settings)

    # --- plumbing -------------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    close = aclose

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def acting_for(self, user_id: str | None) -> AsyncSessionsClient:
        """A client on the same connection pool acting for `user_id` (a `service` caller's user)."""
        other = AsyncSessionsClient.__new__(AsyncSessionsClient)
        other.__dict__.update(self.__dict__)
        other.user_id = user_id
        other._owns_http = False
        return other

    async def _auth(self) -> dict[str, str]:
        if self.token is None:
            return {}
        return {"Authorization": f"Bearer {await async_bearer_token(self.token)}"}

    async def send(self, call: Call[T]) -> T:
        """Send one logical call, retrying what is safe to retry; its answer as a model, or an exception."""
        attempt = 0
        while True:
            headers = self.request_headers(call, {} if call.anonymous else await self._auth())
            try:
                # a finished Request and send(): no per-call URL, header and cookie merging in httpx
                request = httpx.Request(
                    call.method,
                    call.url or self.base_url + call.path,
                    params=call.params or None,
                    headers=headers,
                    content=call.body,
                    extensions={"timeout": self._http.timeout.as_dict()},
                )
                response = await self._http.send(request)
            except RETRY_EXCEPTIONS as exc:
                if attempt >= self.retries:
                    raise errors.TransportError(f"{type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(self.delay(attempt))
                attempt += 1
                continue
            if attempt < self.retries and self.should_retry(response):
                await asyncio.sleep(self.delay(attempt, response))
                attempt += 1
                continue
            return finish(call, response)

    # --- sessions -------------------------------------------------------------------------------

    async def create_session(
        self,
        *,
        session_id: str | None = None,
        app_name: str | None = None,
        agent_id: str | None = None,
        session_type: str | None = None,
        title: str | None = None,
        context: JsonObject | None = None,
        checkpoint: JsonObject | None = None,
        metadata: Mapping[str, str] | None = None,
        runtime_backend: str | None = None,
        runtime_metadata: JsonObject | None = None,
        token_budget: int | None = None,
        ttl_seconds: int | None = None,
        events: Iterable[JsonObject | BaseModel] | None = None,
        user_id: str | None = None,
        idempotency_key: str | None = None,
        state_patch: JsonObject | None = None,
        state_set: JsonObject | None = None,
        only_new: bool = False,
    ) -> Session:
        """Create a session (or get the caller's live one with this `session_id`).

        `state_patch` / `state_set` (`{"app": {...}, "user": {...}}`, needs `app_name`): merge patches,
        then top-level keys set (None stored as null), of the app's and the user's state, written in
        the create's own transaction; nothing is written when the session already exists.
        `only_new`: create only (`If-None-Match: *`): a `session_id` the caller already holds raises
        `VersionMismatch` instead of returning that session.
        """
        body = create_body(
            session_id=session_id,
            app_name=app_name,
            agent_id=agent_id,
            session_type=session_type,
            title=title,
            context=context,
            checkpoint=checkpoint,
            metadata=metadata,
            runtime_backend=runtime_backend,
            runtime_metadata=runtime_metadata,
            token_budget=token_budget,
            ttl_seconds=ttl_seconds,
            events=[event_body(event, {}) for event in events] if events is not None else None,
            state_patch=state_patch,
            state_set=state_set,
        )
        return await self.send(self._create_session(body, user_id, idempotency_key, only_new))

    async def fork_session(
        self,
        session_id: str,
        *,
        at_seq: int | None = None,
        new_session_id: str | None = None,
        title: str | None = None,
        metadata: Mapping[str, str] | None = None,
        context: JsonObject | None = None,
        user_id: str | None = None,
        ttl_seconds: int | None = None,
        idempotency_key: str | None = None,
    ) -> Session:
        """A new session whose history is this one's up to `at_seq` (default: its latest seq), then its own.

        The parent's events are read where they are, not copied: a fork costs the same whatever the
        parent's length, and nothing the parent does later changes what the fork reads. The new
        session's seqs continue at `at_seq + 1`; it takes an open-session slot like a create.
        `new_session_id`, `title`, `metadata`, `context`, `ttl_seconds`: of the new session (title,
        metadata and context default to the parent's as they are now; give `context` to fork an earlier
        point with the state that held there). Raises SessionNotFound, SessionIdTaken, ForkLineageTooLong,
        ValidationError (an `at_seq` past the parent's latest seq) or SessionLimitReached.
        """
        body = {
            "at_seq": at_seq,
            "session_id": new_session_id,
            "title": title,
            "metadata": dict(metadata) if metadata is not None else None,
            "context": context,
            "ttl_seconds": ttl_seconds,
        }
        return await self.send(self._fork_session(session_id, body, user_id, idempotency_key))

    async def get_session(self, session_id: str, *, include_state: bool = False, user_id: str | None = None) -> Session:
        """The session; `include_state=True`: with `state`, its app's and user's state documents, in one request."""
        return await self.send(self._get_session(session_id, user_id, include_state))

    async def update_session(
        self,
        session_id: str,
        patch: JsonObject | None = None,
        /,
        *,
        if_match: IfMatch | None = None,
        user_id: str | None = None,
        **fields: Any,
    ) -> Session:
        """Merge patch (RFC 7396) `patch` and/or keyword fields; a None value removes that field or key."""
        return await self.send(self._update_session(session_id, patch_body(patch, fields), if_match, user_id))

    async def delete_session(self, session_id: str, *, user_id: str | None = None) -> None:
        """Delete (idempotent: an unknown id is no error)."""
        await self.send(self._delete_session(session_id, user_id))

    async def list_sessions(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        order: Literal["desc", "asc"] | None = None,
        agent_id: str | None = None,
        status: str | Iterable[str] | None = None,
        session_type: str | None = None,
        app_name: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        all_users: bool | None = None,
        order_by: Literal["created_at", "last_active_at"] | None = None,
        metadata: Mapping[str, str] | None = None,
        include_context: bool | None = None,
        user_id: str | None = None,
    ) -> SessionList:
        """One page of the caller's sessions (newest first by default); `next_cursor` continues.

        `all_users` (roles service, admin): every user's sessions of `app_name`. `order_by`:
        `created_at` or `last_active_at`. `metadata`: pairs a session's metadata must all hold.
        `include_context`: each item carries its `context` (pages of at most 20).
        """
        filters = {
            "limit": limit,
            "cursor": cursor,
            "order": order,
            "agent_id": agent_id,
            "status": status if isinstance(status, str | None) else list(status),
            "session_type": session_type,
            "app_name": app_name,
            "created_after": created_after,
            "created_before": created_before,
            "all_users": all_users,
            "order_by": order_by,
            "metadata": metadata,
            "include_context": include_context,
        }
        return await self.send(self._list_sessions(filters, user_id))

    async def iter_sessions(
        self,
        *,
        page_size: int | None = None,
        order: Literal["desc", "asc"] | None = None,
        agent_id: str | None = None,
        status: str | Iterable[str] | None = None,
        session_type: str | None = None,
        app_name: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        all_users: bool | None = None,
        order_by: Literal["created_at", "last_active_at"] | None = None,
        metadata: Mapping[str, str] | None = None,
        include_context: bool | None = None,
        user_id: str | None = None,
    ) -> AsyncIterator[SessionSummary]:
        """Every matching session, page after page (following `next_cursor`)."""
        cursor: str | None = None
        while True:
            page = await self.list_sessions(
                limit=page_size,
                cursor=cursor,
                order=order,
                agent_id=agent_id,
                status=status,
                session_type=session_type,
                app_name=app_name,
                created_after=created_after,
                created_before=created_before,
                all_users=all_users,
                order_by=order_by,
                metadata=metadata,
                include_context=include_context,
                user_id=user_id,
            )
            for session in page.sessions:
                yield session
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def get_stats(self, *, scope: Literal["user", "tenant"] | None = None, user_id: str | None = None) -> Stats:
        """Counts and totals for the caller (or the user it acts for); admins may ask scope="tenant"."""
        return await self.send(self._get_stats(scope, user_id))

    # --- events ---------------------------------------------------------------------------------

    async def append_event(
        self,
        session_id: str,
        event: JsonObject | BaseModel | None = None,
        /,
        *,
        if_match: IfMatch | None = None,
        idempotency_key: str | None = None,
        user_id: str | None = None,
        **fields: Any,
    ) -> Event:
        """Append one event (`event` and/or keyword fields: type, role, content, payload, usage, ...).

        `context_patch` / `state_patch` merge (None removes a key); `context_set` / `state_set` set each
        top-level key to its value (None is stored as null), after the patches, in the same atomic step.
        """
        return await self.send(
            self._append_event(session_id, event_body(event, fields), if_match, idempotency_key, user_id)
        )

    async def append_events(
        self,
        session_id: str,
        events: Iterable[JsonObject | BaseModel],
        /,
        *,
        if_match: IfMatch | None = None,
        idempotency_key: str | None = None,
        user_id: str | None = None,
        replace_from_seq: int | None = None,
    ) -> list[Event]:
        """Append 1..20 events atomically (all or nothing).

        `replace_from_seq`: the events from that seq on are removed in the same atomic step (a tail replaced).
        """
        return await self.send(
            self._append_events(session_id, events, if_match, idempotency_key, user_id, replace_from_seq)
        )

    async def get_history(
        self,
        session_id: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        order: Literal["asc", "desc"] | None = None,
        type: str | None = None,
        after: datetime | str | None = None,
        before: datetime | str | None = None,
        include_payload: bool | None = None,
        include_compacted: bool | None = None,
        metadata: Mapping[str, str] | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
        user_id: str | None = None,
        inline_parts: bool = True,
    ) -> History:
        """One page of history; events too large to inline have their parts fetched (unless inline_parts=False).

        `metadata`: pairs an event's metadata must all hold (a filter: a page may be short, with a cursor).
        `from_seq`, `to_seq`: an inclusive seq range, the Query's key condition: only its events are read.
        """
        query = {
            "limit": limit,
            "cursor": cursor,
            "order": order,
            "type": type,
            "after": after,
            "before": before,
            "include_payload": include_payload,
            "include_compacted": include_compacted,
            "metadata": metadata,
            "from_seq": from_seq,
            "to_seq": to_seq,
        }
        page = await self.send(self._get_history(session_id, query, user_id))
        if inline_parts and any(event.content_url or event.payload_url for event in page.events):
            page.events = [await self.fetch_parts(event) for event in page.events]
        return page

    async def iter_history(
        self,
        session_id: str,
        *,
        page_size: int | None = None,
        order: Literal["asc", "desc"] | None = None,
        type: str | None = None,
        after: datetime | str | None = None,
        before: datetime | str | None = None,
        include_payload: bool | None = None,
        include_compacted: bool | None = None,
        metadata: Mapping[str, str] | None = None,
        from_seq: int | None = None,
        to_seq: int | None = None,
        user_id: str | None = None,
        inline_parts: bool = True,
    ) -> AsyncIterator[Event]:
        """Every matching event, page after page (following `next_cursor`)."""
        cursor: str | None = None
        while True:
            page = await self.get_history(
                session_id,
                limit=page_size,
                cursor=cursor,
                order=order,
                type=type,
                after=after,
                before=before,
                include_payload=include_payload,
                include_compacted=include_compacted,
                metadata=metadata,
                from_seq=from_seq,
                to_seq=to_seq,
                user_id=user_id,
                inline_parts=inline_parts,
            )
            for event in page.events:
                yield event
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def get_event(
        self, session_id: str, seq: int, *, user_id: str | None = None, inline_parts: bool = True
    ) -> Event:
        """One event, payload included; parts too large to inline come from their URLs (unless inline_parts=False)."""
        event = await self.send(self._get_event(session_id, seq, user_id))
        return await self.fetch_parts(event) if inline_parts else event

    async def fetch_parts(self, event: Event) -> Event:
        """The event with `content`/`payload` fetched from `content_url`/`payload_url` (presigned, 15 minutes)."""
        calls = part_calls(event)
        if not calls:
            return event
        return with_parts(event, {name: await self.send(call) for name, call in calls.items()})

    async def update_event(
        self,
        session_id: str,
        seq: int,
        patch: JsonObject | None = None,
        /,
        *,
        if_match: IfMatch | None = None,
        user_id: str | None = None,
        **fields: Any,
    ) -> Event:
        """Merge patch over `content`, `payload`, `metadata` (e.g. redaction); None removes."""
        return await self.send(self._update_event(session_id, seq, patch_body(patch, fields), if_match, user_id))

    async def delete_events(
        self,
        session_id: str,
        from_seq: int | None = None,
        *,
        seqs: Iterable[int] | None = None,
        return_events: bool = False,
        if_match: IfMatch | None = None,
        user_id: str | None = None,
    ) -> RemovedEvents:
        """Remove events, one of: every event with seq >= from_seq (a rewind: at most 90 at once, else
        RewindTooLarge), or exactly the events of `seqs` (1 to 90 distinct seqs; those holding no event are
        passed over). `removed` and `seqs` of the answer say what went."""
        return await self.send(self._delete_events(session_id, from_seq, seqs, return_events, if_match, user_id))

    # --- state ----------------------------------------------------------------------------------

    async def get_app_state(self, app_name: str) -> AppState:
        return await self.send(self._get_app_state(app_name))

    async def update_app_state(
        self, app_name: str, patch: JsonObject | None = None, /, *, if_match: IfMatch | None = None, **fields: Any
    ) -> AppState:
        return await self.send(self._update_app_state(app_name, patch_body(patch, fields), if_match))

    async def get_user_state(self, app_name: str, user_id: str | None = None) -> UserState:
        """A user's state in an app (default: the client's `user_id`, else its identity's user)."""
        return await self.send(self._get_user_state(app_name, user_id))

    async def update_user_state(
        self,
        app_name: str,
        patch: JsonObject | None = None,
        /,
        *,
        user_id: str | None = None,
        if_match: IfMatch | None = None,
        **fields: Any,
    ) -> UserState:
        return await self.send(self._update_user_state(app_name, patch_body(patch, fields), user_id, if_match))

    # --- tenant settings ------------------------------------------------------------------------

    async def get_tenant_settings(self) -> TenantSettings:
        """The tenant's session TTL bounds and history retention, as every member may read them."""
        return await self.send(self._get_tenant_settings())

    async def update_tenant_settings(
        self, patch: JsonObject | None = None, /, *, if_match: IfMatch | None = None, **fields: Any
    ) -> TenantSettings:
        """Change them with a JSON merge patch (role admin): `max_session_ttl_seconds`,
        `default_session_ttl_seconds`, `history_retention_days`; None puts a field back to the stack's."""
        return await self.send(self._update_tenant_settings(patch_body(patch, fields), if_match))

    # --- erasure --------------------------------------------------------------------------------

    async def erase_user(self, user_id: str | None = None) -> Erasure:
        """Start erasing everything of a user in the tenant (default: the client's `user_id`, else its
        identity's user); answers the erasure already running, if one is. The user themselves, or a caller
        with role service or admin. Follow it with `get_erasure(erasure.erasure_id)`."""
        return await self.send(self._erase_user(user_id))

    async def get_erasure(self, erasure_id: str) -> Erasure:
        """An erasure's status and counts (ErasureNotFound when there is none the caller may see)."""
        return await self.send(self._get_erasure(erasure_id))

    # --- export ---------------------------------------------------------------------------------

    async def export_user(self, user_id: str | None = None) -> Export:
        """Start exporting a user's data in the tenant as JSON Lines (default: the client's `user_id`, else its
        identity's user); answers the export already running, if one is. The user themselves, or a caller
        with role service or admin (UserErasureInProgress while the user is being erased). Follow it with
        `get_export(export.export_id)` until its `download_url` is there."""
        return await self.send(self._export_user(user_id))

    async def get_export(self, export_id: str) -> Export:
        """An export's status and counts, and once completed its download URL (ExportNotFound when there is
        none the caller may see)."""
        return await self.send(self._get_export(export_id))
