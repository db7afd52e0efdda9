"""Google ADK session backend: `SessionsAdkService`, a drop-in `BaseSessionService` on the session service.

    from google.adk.runners import Runner
    from sessions_client import AsyncSessionsClient
    from sessions_client.adapters.adk import SessionsAdkService

    service = SessionsAdkService(AsyncSessionsClient(url, token=token))
    runner = Runner(agent=agent, app_name="my_app", session_service=service)

How ADK's model maps onto the service:
- An ADK session is a session of the service with `app_name` = ADK's app name and the same id
  (ADK ids must then match the service's id pattern; ids are unique per tenant, not per app).
- ADK's user is the session's user: the client's own user, or any user of its tenant when the
  client's identity has the `service` role (sent as the `user_id` query parameter).
- State: keys without a prefix are the session's `context`; `app:` keys the app's state document,
  `user:` keys the user's state document (without their prefix); `temp:` keys are never stored
  (neither in a document nor in the stored event).
- Events: one history event per ADK event: the whole ADK event as JSON in `payload.adk_event`,
  its text in `content`, `timestamp` = the ADK event's timestamp, `type`/`role` derived from it
  (`message` user/assistant, `tool` for function calls and responses, `system` without content).
  State deltas ride on the same append (`context_patch`, `state_patch`), so an event and its
  state changes are stored atomically.
- Stale sessions: the service's session `version` is remembered per ADK `Session` object and sent
  as `If-Match` on every append; an append on a session object that another writer has moved on
  from raises `StaleSessionError` (a `ValueError`, as ADK's database service raises), nothing stored.
- An append to a session that does not exist (or no longer does) raises ADK's own
  `SessionNotFoundError` ("Session <id> not found."), as ADK's in-memory, database and SQLite
  services do.
- `get_session` with a `GetSessionConfig` selects events as ADK's database and SQLite services do:
  `num_recent_events=0` returns none, `after_timestamp` is inclusive, both together give the most
  recent events among those at or after it.
- Loading: `get_session` reads the session with its app and user state documents in one request
  (`?include=state`), then the history from its latest base, a page of 100 events at a time.
- Compaction: an ADK compaction event (`actions.compaction`) that covers every event the session
  shows (each one's timestamp, or a compaction's whole range, within its range, in its branch, no
  function call left without its response) is appended as the new base of the history (`base: true`):
  later loads start at it, whatever came before, and show what ADK's own compaction shows the model.
  Only for a session object that holds its whole history (created, or read without `num_recent_events`
  or `after_timestamp`); the append's `If-Match` makes sure nothing else was appended meanwhile.
"""

from __future__ import annotations

import json
import math
import weakref
from datetime import UTC, datetime
from typing import Any

from google.adk.errors import StaleSessionError as _AdkStaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError as _AdkAlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event as AdkEvent
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig, ListSessionsResponse
from google.adk.sessions.session import Session as AdkSession
from google.adk.sessions.state import State
from typing_extensions import override

from sessions_client import errors
from sessions_client._async import AsyncSessionsClient
from sessions_client._core import as_identity
from sessions_client.models import Event, Session

PAYLOAD_KEY = "adk_event"
CONTENT_LIMIT = 32 * 1024  # bytes of UTF-8 the service takes inline in `content`
METADATA_VALUE_LIMIT = 512


class StaleSessionError(_AdkStaleSessionError, ValueError):
    """The ADK session object is behind the stored session (another writer appended or changed it)."""


class AlreadyExistsError(_AdkAlreadyExistsError, ValueError):
    """create_session with a `session_id` the user already has."""


class SessionsAdkService(BaseSessionService):
    """ADK's `BaseSessionService` backed by the session service (see the module documentation).

    `client`: an `AsyncSessionsClient`. Its own user (its `user_id`, else its identity's user) is
    addressed without a `user_id` parameter; any other ADK user needs the `service` role.
    `session_ttl_seconds`: passed as `ttl_seconds` when creating sessions (default: the service's).
    """

    def __init__(self, client: AsyncSessionsClient, *, session_ttl_seconds: int | None = None) -> None:
        self.client = client
        self.session_ttl_seconds = session_ttl_seconds
        identity = as_identity(getattr(client, "identity", None))
        self._own_user = client.user_id or (identity.user_id if identity else None)
        self._versions: dict[int, int] = {}
        self._whole: set[int] = set()  # ADK session objects that hold every event since the history's base

    # --- bookkeeping ----------------------------------------------------------------------------

    def _for(self, user_id: str) -> str | None:
        """The `user_id` parameter for ADK's user: none for the client's own user."""
        return None if user_id == self._own_user else user_id

    def _remember(self, session: AdkSession, version: int | None) -> None:
        if version is None:
            return
        key = id(session)
        if key not in self._versions:
            weakref.finalize(session, self._versions.pop, key, None)
        self._versions[key] = version

    def _holds_whole_history(self, session: AdkSession, whole: bool) -> None:
        key = id(session)
        if not whole:
            self._whole.discard(key)
        elif key not in self._whole:
            self._whole.add(key)
            weakref.finalize(session, self._whole.discard, key)

    def version_of(self, session: AdkSession) -> int | None:
        """The service's session version this ADK session object was read or last written at."""
        return self._versions.get(id(session))

    async def _scoped_state(self, app_name: str, user_id: str) -> dict[str, Any]:
        app = await self.client.get_app_state(app_name)
        user = await self.client.get_user_state(app_name, user_id)
        merged = {State.APP_PREFIX + key: value for key, value in app.state.items()}
        merged.update({State.USER_PREFIX + key: value for key, value in user.state.items()})
        return merged

    def _to_adk(self, stored: Session, state: dict[str, Any], events: list[AdkEvent]) -> AdkSession:
        session = AdkSession(
            id=stored.session_id,
            app_name=stored.app_name or "",
            user_id=stored.user_id,
            state={**stored.context, **state},
            events=events,
            last_update_time=stored.updated_at.timestamp(),
        )
        self._remember(session, stored.version)
        return session

    # --- BaseSessionService ---------------------------------------------------------------------

    @override
    async def create_session(
        self,
        *,
        app_name: str,
        user_id: str,
        state: dict[str, Any] | None = None,
        session_id: str | None = None,
    ) -> AdkSession:
        session_id = session_id.strip() if session_id and session_id.strip() else None
        acting_for = self._for(user_id)
        if session_id is not None:
            try:
                await self.client.get_session(session_id, user_id=acting_for)
            except errors.SessionNotFound:
                pass
            else:
                raise AlreadyExistsError(f"session {session_id!r} already exists")
        app_delta, user_delta, session_state = split_state(state or {})
        if app_delta:
            await self.client.update_app_state(app_name, replace_patch({}, app_delta))
        if user_delta:
            await self.client.update_user_state(app_name, replace_patch({}, user_delta), user_id=user_id)
        stored = await self.client.create_session(
            session_id=session_id,
            app_name=app_name,
            context=session_state,
            metadata={"framework": "google-adk"},
            ttl_seconds=self.session_ttl_seconds,
            user_id=acting_for,
        )
        session = self._to_adk(stored, await self._scoped_state(app_name, user_id), [])
        self._holds_whole_history(session, True)
        return session

    @override
    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> AdkSession | None:
        acting_for = self._for(user_id)
        try:
            # the session with its app's and user's state documents: one request
            stored = await self.client.get_session(session_id, include_state=True, user_id=acting_for)
        except errors.SessionNotFound:
            return None
        if stored.app_name != app_name or stored.user_id != user_id:
            return None
        events = await self._events(session_id, acting_for, config)
        state: dict[str, Any] = {}
        if stored.state is not None:
            state = {State.APP_PREFIX + key: value for key, value in stored.state.app.state.items()}
            state.update({State.USER_PREFIX + key: value for key, value in stored.state.user.state.items()})
        session = self._to_adk(stored, state, events)
        whole = config is None or (config.num_recent_events is None and not config.after_timestamp)
        self._holds_whole_history(session, whole)
        return session

    async def _events(self, session_id: str, acting_for: str | None, config: GetSessionConfig | None) -> list[AdkEvent]:
        """The events `get_session` returns, as ADK's database and SQLite services select them.

        `num_recent_events=0`: none (not even read); `after_timestamp` (when truthy, as those services
        test it): events whose timestamp is at or after it (inclusive); both: the `num_recent_events`
        most recent of the events at or after it. Oldest first, in the order they were appended.
        """
        after = config.after_timestamp if config else None
        recent = config.num_recent_events if config else None
        if recent == 0:
            return []
        query: dict[str, Any] = {"include_payload": True, "user_id": acting_for}
        if after:
            # the service keeps milliseconds: ask from the millisecond floor, then select exactly
            query["after"] = datetime.fromtimestamp(math.floor(after * 1000) / 1000, UTC)

        def selected(event: AdkEvent) -> bool:
            return not after or event.timestamp >= after

        events: list[AdkEvent] = []
        if recent is not None:
            async for stored_event in self.client.iter_history(
                session_id, order="desc", page_size=min(recent, 100), **query
            ):
                event = from_stored(stored_event)
                if selected(event):
                    events.append(event)
                    if len(events) >= recent:
                        break
            events.reverse()
            return events
        async for stored_event in self.client.iter_history(session_id, page_size=100, **query):
            event = from_stored(stored_event)
            if selected(event):
                events.append(event)
        return events

    @override
    async def list_sessions(self, *, app_name: str, user_id: str | None = None) -> ListSessionsResponse:
        """The user's sessions of the app, oldest first (ADK 2 lists every user without `user_id`: not offered)."""
        if user_id is None:
            raise NotImplementedError("the session service lists one user's sessions at a time: name the user_id")
        sessions = [
            AdkSession(
                id=summary.session_id,
                app_name=app_name,
                user_id=summary.user_id,
                state={},
                last_update_time=summary.updated_at.timestamp(),
            )
            async for summary in self.client.iter_sessions(
                app_name=app_name, order="asc", page_size=100, user_id=self._for(user_id)
            )
        ]
        return ListSessionsResponse(sessions=sessions)

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user's state document of the app, keys without `user:` (ADK 2's optional method)."""
        return dict((await self.client.get_user_state(app_name, user_id)).state)

    @override
    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        acting_for = self._for(user_id)
        try:
            stored = await self.client.get_session(session_id, user_id=acting_for)
        except errors.SessionNotFound:
            return
        if stored.app_name == app_name and stored.user_id == user_id:
            await self.client.delete_session(session_id, user_id=acting_for)

    @override
    async def append_event(self, session: AdkSession, event: AdkEvent) -> AdkEvent:
        if event.partial:
            return event
        body = to_stored(event)
        delta = dict(event.actions.state_delta) if event.actions and event.actions.state_delta else {}
        app_delta, user_delta, session_delta = split_state(delta)
        if session_delta:
            body["context_patch"] = replace_patch(split_state(session.state)[2], session_delta)
        state_patch: dict[str, Any] = {}
        if app_delta:
            state_patch["app"] = replace_patch(_scoped(session.state, State.APP_PREFIX), app_delta)
        if user_delta:
            state_patch["user"] = replace_patch(_scoped(session.state, State.USER_PREFIX), user_delta)
        if state_patch:
            body["state_patch"] = state_patch
        if id(session) in self._whole and compacts_everything(event, session.events):
            body["base"] = True  # the compaction replaces everything the session shows: loads start at it
        stored = await self._append(session, body)
        self._remember(session, stored.session_version)
        await super().append_event(session=session, event=event)
        session.last_update_time = event.timestamp
        return event

    async def _append(self, session: AdkSession, body: dict[str, Any]) -> Event:
        version = self.version_of(session)
        try:
            return await self.client.append_event(
                session.id, body, if_match=version, user_id=self._for(session.user_id)
            )
        except errors.SessionNotFound as missing:
            # as ADK's own services (in-memory, database, SQLite) raise it, with their message
            raise SessionNotFoundError(f"Session {session.id} not found.") from missing
        except errors.VersionMismatch as mismatch:
            raise StaleSessionError(
                f"session {session.id!r} was changed since this session object was read (its version"
                f" {version}, stored {mismatch.current_version}): it is a stale session; get it again"
            ) from mismatch


# --- mapping ----------------------------------------------------------------------------------------


def compacts_everything(event: AdkEvent, shown: list[AdkEvent]) -> bool:
    """Whether `event` is an ADK compaction that hides every event of `shown` from ADK's model view.

    ADK's compaction processing (flows/llm_flows/context/_compaction.py) hides an event whose timestamp lies
    in a kept compaction's range and drops a compaction whose range another contains. So the new compaction
    covers the history when every earlier event of it lies in its range (a compaction: its whole range), all of
    them in its branch and isolation scope (the views ADK compacts per branch), and no function call among them
    waits for a response (ADK would bring a compacted call back for a response that comes after).
    """
    compaction = event.actions.compaction if event.actions else None
    if compaction is None or compaction.compacted_content is None or not shown:
        return False
    start, end = compaction.start_timestamp, compaction.end_timestamp
    if start is None or end is None or math.isnan(start) or math.isnan(end):
        return False
    calls: set[str | None] = set()
    responses: set[str | None] = set()
    for earlier in shown:
        if earlier.branch != event.branch or getattr(earlier, "isolation_scope", None) != getattr(
            event, "isolation_scope", None
        ):
            return False
        covered = earlier.actions.compaction if earlier.actions else None
        if covered is not None:
            if not (start <= covered.start_timestamp and covered.end_timestamp <= end):
                return False
            continue
        if not start <= earlier.timestamp <= end:
            return False
        calls.update(call.id for call in earlier.get_function_calls())
        responses.update(response.id for response in earlier.get_function_responses())
    return calls <= responses


def split_state(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(app, user, session) parts of an ADK state or state delta, prefixes removed, `temp:` keys dropped."""
    app: dict[str, Any] = {}
    user: dict[str, Any] = {}
    session: dict[str, Any] = {}
    for key, value in state.items():
        if key.startswith(State.APP_PREFIX):
            app[key.removeprefix(State.APP_PREFIX)] = value
        elif key.startswith(State.USER_PREFIX):
            user[key.removeprefix(State.USER_PREFIX)] = value
        elif not key.startswith(State.TEMP_PREFIX):
            session[key] = value
    return app, user, session


def _scoped(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {key.removeprefix(prefix): value for key, value in state.items() if key.startswith(prefix)}


def replace_patch(current: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch that SETS each key of `delta` (ADK replaces values; a merge patch merges objects).

    An object replacing an object becomes the patch that turns the current one into it (keys it
    lacks → null). A None value removes the key: a merge patch cannot store null.
    """
    patch: dict[str, Any] = {}
    for key, value in delta.items():
        old = current.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            patch[key] = replace_patch(old, value)
            for gone in old.keys() - value.keys():
                patch[key][gone] = None
        else:
            patch[key] = value
    return patch


def role_and_type(event: AdkEvent) -> tuple[str, str]:
    content = event.content
    if content is None or not content.parts:
        return "system", "system"
    if any(part.function_response for part in content.parts):
        return "tool", "tool"
    if any(part.function_call for part in content.parts):
        return "tool", "assistant"
    return "message", "user" if event.author == "user" else "assistant"


def _text(event: AdkEvent) -> str | None:
    if event.content is None or not event.content.parts:
        return None
    text = "".join(part.text for part in event.content.parts if part.text and not part.thought)
    if not text:
        return None
    encoded = text.encode()
    if len(encoded) > CONTENT_LIMIT:  # the whole text stays in the payload
        text = encoded[:CONTENT_LIMIT].decode(errors="ignore")
    return text


def to_stored(event: AdkEvent) -> dict[str, Any]:
    """The service's event body for an ADK event (the ADK event itself, `temp:` deltas removed, in the payload)."""
    document = json.loads(event.model_dump_json(exclude_none=True, by_alias=True))
    delta = document.get("actions", {}).get("stateDelta")
    if delta:
        document["actions"]["stateDelta"] = {
            key: value for key, value in delta.items() if not key.startswith(State.TEMP_PREFIX)
        }
    event_type, role = role_and_type(event)
    body: dict[str, Any] = {
        "type": event_type,
        "role": role,
        "payload": {PAYLOAD_KEY: document},
        "metadata": {
            "adk_author": event.author[:METADATA_VALUE_LIMIT],
            "adk_event_id": event.id[:METADATA_VALUE_LIMIT],
            "adk_invocation_id": event.invocation_id[:METADATA_VALUE_LIMIT],
        },
    }
    text = _text(event)
    if text is not None:
        body["content"] = text
    body["timestamp"] = datetime.fromtimestamp(event.timestamp, UTC).isoformat(timespec="milliseconds")
    usage = event.usage_metadata
    if usage is not None and usage.total_token_count:
        body["usage"] = {"tokens": usage.total_token_count}
    return body


def from_stored(event: Event) -> AdkEvent:
    """The ADK event a history event holds (one written by something else becomes a plain text event)."""
    payload = event.payload or {}
    if PAYLOAD_KEY in payload:
        return AdkEvent.model_validate_json(json.dumps(payload[PAYLOAD_KEY]))
    stamp = event.timestamp or event.created_at
    return AdkEvent.model_validate(
        {
            "id": event.event_id,
            "author": "user" if event.role == "user" else (event.metadata or {}).get("adk_author", "assistant"),
            "timestamp": stamp.timestamp(),
            "content": {"role": "user" if event.role == "user" else "model", "parts": [{"text": event.content or ""}]},
        }
    )


__all__ = [
    "AlreadyExistsError",
    "SessionNotFoundError",
    "SessionsAdkService",
    "StaleSessionError",
    "compacts_everything",
    "from_stored",
    "to_stored",
]
