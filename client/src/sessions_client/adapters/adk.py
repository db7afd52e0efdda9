"""Google ADK session backend: `SessionsAdkService`, a drop-in `BaseSessionService` on the session service.

    from google.adk.runners import Runner
    from sessions_client import AsyncSessionsClient
    from sessions_client.adapters.adk import SessionsAdkService

    service = SessionsAdkService(AsyncSessionsClient(url, token=token))
    runner = Runner(agent=agent, app_name="my_app", session_service=service)

How ADK's model maps onto the service:
- An ADK session is a session of the service with `app_name` = ADK's app name. ADK keys sessions by
  (app, user, id), the service by id within the tenant: the service's id is `adk-` and a SHA-256 of
  the three (`service_session_id`), and the ADK id is kept in the session's `metadata`
  (`adk_session_id`) and answered as `Session.id`. So two users (or apps) may each have a session
  `s1`, and an ADK id may be any string ADK takes, up to 512 characters (a metadata value's limit).
  Ids ADK generates are uuid4 strings, as ADK's own services make them.
- ADK's user is the session's user: the client's own user, or any user of its tenant when the
  client's identity has the `service` role (sent as the `user_id` query parameter).
- State: keys without a prefix are the session's `context`; `app:` keys the app's state document,
  `user:` keys the user's state document (without their prefix); `temp:` keys are never stored
  (neither in a document nor in the stored event).
- Events: one history event per ADK event: the whole ADK event as JSON in `payload.adk_event`,
  its text in `content`, `timestamp` = the ADK event's timestamp, `type`/`role` derived from it
  (`message` user/assistant, `tool` for function calls and responses, `system` without content).
  State deltas ride on the same append as sets (`context_set`, `state_set`: each key's value
  replaced, None stored and read back as None, as ADK's own services store it), so an event and
  its state changes are stored atomically. `create_session(state=...)` writes the session and its
  `app:` and `user:` keys in one transaction too (the create's `state_set`).
- Stale sessions: the service's session `version` is kept in the ADK `Session` (in the slot ADK's
  database service keeps its storage revision in, so copies carry it) and sent as `If-Match` on
  every append; an append on a session object that another writer has moved on from raises
  `StaleSessionError` (a `ValueError`, with ADK's database service's message), nothing stored.
- An equal re-delivery of an event already in the session object is not stored again (as ADK's
  in-memory service); state values JSON cannot hold (a callable) are stored as their text (as
  ADK's database and SQLite services store them).
- An append to a session that does not exist (or no longer does) raises ADK's own
  `SessionNotFoundError` ("Session <id> not found."), as ADK's in-memory, database and SQLite
  services do.
- `last_update_time` is the timestamp of the last event appended (the service's `last_event_at`), or
  the creation time before the first, as ADK's services keep `update_time` (to the millisecond).
- `list_sessions` answers each session's whole state (its own keys, `app:` and `user:` keys) without
  events, ordered as ADK's database and SQLite services order it: by `last_update_time`, then user,
  then id, oldest first. Without `user_id` it lists every user's sessions of the app: the client's
  identity then needs the `service` (or `admin`) role.
- `get_session` with a `GetSessionConfig` selects events as ADK's database and SQLite services do:
  `num_recent_events=0` returns none, `after_timestamp` is inclusive, both together give the most
  recent events among those at or after it.
- Loading: `get_session` reads the session with its app and user state documents in one request
  (`?include=state`), then the history from its latest base, a page of 100 events at a time.
- Forks (not part of ADK's interface: ADK 2.13 has no fork; this is the shape google/adk-python#4010
  proposes): `fork_session(app_name=, user_id=, session_id=, new_session_id=None,
  before_invocation_id=None)` makes a new ADK session of the same app and user whose events are the
  session's up to its latest event, or up to just before the first event of `before_invocation_id`
  (where `Runner.rewind_async` cuts), through the service's O(1) fork. Its session-scoped state is the
  state at that point as ADK's rewind computes it (`compute_state_delta_for_rewind` over the stored
  events, applied to the state now), written in the fork's one transaction; `app:` and `user:` state
  are the app's and user's documents, shared as always. Artifacts are not forked: they live in ADK's
  artifact service under the parent's session id.
- Compaction: an ADK compaction event (`actions.compaction`) that covers every event the session
  shows (each one's timestamp, or a compaction's whole range, within its range, in its branch, no
  function call left without its response) is appended as the new base of the history (`base: true`):
  later loads start at it, whatever came before, and show what ADK's own compaction shows the model.
  Only for a session object that holds its whole history (created, or read without `num_recent_events`
  or `after_timestamp`); the append's `If-Match` makes sure nothing else was appended meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from google.adk.errors import InvocationNotFoundError
from google.adk.errors import StaleSessionError as _AdkStaleSessionError
from google.adk.errors.already_exists_error import AlreadyExistsError as _AdkAlreadyExistsError
from google.adk.errors.session_not_found_error import SessionNotFoundError
from google.adk.events.event import Event as AdkEvent
from google.adk.sessions._rewind_utils import compute_state_delta_for_rewind
from google.adk.sessions._session_util import make_json_safe_state
from google.adk.sessions.base_session_service import BaseSessionService, GetSessionConfig, ListSessionsResponse
from google.adk.sessions.session import Session as AdkSession
from google.adk.sessions.state import State
from typing_extensions import override

from sessions_client import errors
from sessions_client._async import AsyncSessionsClient
from sessions_client._core import as_identity
from sessions_client.models import Event, Session, SessionSummary

PAYLOAD_KEY = "adk_event"
ADK_SESSION_ID_KEY = "adk_session_id"  # the session's metadata key holding its ADK id
CONTENT_LIMIT = 32 * 1024  # bytes of UTF-8 the service takes inline in `content`
METADATA_VALUE_LIMIT = 512
PARTIAL_MARK = "~partial"  # a session object read in part: it cannot tell whether a compaction covers everything
FORK_READ_ATTEMPTS = 3  # reads of a parent that keeps changing while its events are read, before giving up


class StaleSessionError(_AdkStaleSessionError, ValueError):
    """The ADK session object is behind the stored session (another writer appended or changed it)."""


class AlreadyExistsError(_AdkAlreadyExistsError, ValueError):
    """create_session with a `session_id` the user already has."""


def service_session_id(app_name: str, user_id: str, session_id: str) -> str:
    """The service's id of ADK's session `session_id` of `user_id` in `app_name` (ADK scopes ids by app and user)."""
    digest = hashlib.sha256(json.dumps([app_name, user_id, session_id]).encode()).hexdigest()
    return f"adk-{digest[:40]}"


def _is_adk_session(stored: Session, app_name: str, user_id: str, session_id: str) -> bool:
    """`stored` is ADK's session `session_id` of that app and user (never another's under a colliding id)."""
    return (
        stored.app_name == app_name
        and stored.user_id == user_id
        and stored.metadata.get(ADK_SESSION_ID_KEY) == session_id
    )


def last_update_time(stored: Session | SessionSummary) -> float:
    """ADK's `last_update_time`: the last appended event's timestamp, the creation time before one."""
    return (stored.last_event_at or stored.created_at).timestamp()


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

    # --- bookkeeping ----------------------------------------------------------------------------

    def _for(self, user_id: str) -> str | None:
        """The `user_id` parameter for ADK's user: none for the client's own user."""
        return None if user_id == self._own_user else user_id

    @staticmethod
    def _remember(session: AdkSession, version: int | None, *, whole: bool | None = None) -> None:
        # in ADK's own slot for a storage revision (its database service keeps one there), so that
        # copies of the session (model_copy) carry it too, and two sessions read at one version are equal;
        # a session read in part (num_recent_events, after_timestamp) is marked so, and stays so (whole=None)
        if version is not None:
            if whole is None:
                whole = not (session._storage_update_marker or "").endswith(PARTIAL_MARK)
            session._storage_update_marker = str(version) + ("" if whole else PARTIAL_MARK)

    @staticmethod
    def version_of(session: AdkSession) -> int | None:
        """The service's session version this ADK session object (or a copy) was read or last written at."""
        marker = (session._storage_update_marker or "").removesuffix(PARTIAL_MARK)
        return int(marker) if marker and marker.isascii() and marker.isdigit() else None

    @staticmethod
    def holds_whole_history(session: AdkSession) -> bool:
        """Whether the ADK session object (or a copy) holds every event from its history's base on: created here,
        or read without `num_recent_events` or `after_timestamp`."""
        marker = session._storage_update_marker
        return marker is not None and not marker.endswith(PARTIAL_MARK)

    @staticmethod
    def _scoped_state(stored: Session) -> dict[str, Any]:
        """The `app:` and `user:` keys of a session read with `include_state=True`."""
        if stored.state is None:
            return {}
        merged = {State.APP_PREFIX + key: value for key, value in stored.state.app.state.items()}
        merged.update({State.USER_PREFIX + key: value for key, value in stored.state.user.state.items()})
        return merged

    def _to_adk(
        self, stored: Session, state: dict[str, Any], events: list[AdkEvent], *, whole: bool = True
    ) -> AdkSession:
        session = AdkSession(
            id=stored.metadata.get(ADK_SESSION_ID_KEY, stored.session_id),
            app_name=stored.app_name or "",
            user_id=stored.user_id,
            state={**stored.context, **state},
            events=events,
            last_update_time=last_update_time(stored),
        )
        self._remember(session, stored.version, whole=whole)
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
        adk_id = session_id or str(uuid.uuid4())
        if len(adk_id) > METADATA_VALUE_LIMIT:
            raise ValueError(f"a session id is at most {METADATA_VALUE_LIMIT} characters here (it is kept in metadata)")
        app_delta, user_delta, session_state = split_state(state or {})
        try:
            stored = await self.client.create_session(
                session_id=service_session_id(app_name, user_id, adk_id),
                app_name=app_name,
                context=session_state,
                metadata={"framework": "google-adk", ADK_SESSION_ID_KEY: adk_id},
                ttl_seconds=self.session_ttl_seconds,
                user_id=acting_for,
                state_set=_state_set(app_delta, user_delta),  # in the create's transaction
                only_new=True,  # of two concurrent creates of one id, one wins and the other raises
            )
        except errors.VersionMismatch as exists:
            raise AlreadyExistsError(f"Session with id {adk_id} already exists.") from exists
        # ADK's session holds the app's and user's state too: read with the session, in one request. The
        # session itself is the create's answer: its version is the one this object holds no event past
        read = await self.client.get_session(stored.session_id, include_state=True, user_id=acting_for)
        return self._to_adk(stored, self._scoped_state(read), [])

    @override
    async def get_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        config: GetSessionConfig | None = None,
    ) -> AdkSession | None:
        session_id = session_id.strip()  # as ADK's in-memory and SQLite services normalize ids
        acting_for = self._for(user_id)
        scoped_id = service_session_id(app_name, user_id, session_id)
        try:
            # the session with its app's and user's state documents: one request
            stored = await self.client.get_session(scoped_id, include_state=True, user_id=acting_for)
        except errors.SessionNotFound:
            return None
        if not _is_adk_session(stored, app_name, user_id, session_id):
            return None
        events = await self._events(scoped_id, acting_for, config)
        whole = config is None or (config.num_recent_events is None and not config.after_timestamp)
        return self._to_adk(stored, self._scoped_state(stored), events, whole=whole)

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
        """The sessions of the app (of every user when `user_id` is None), with their whole state, no events.

        Ordered as ADK's database and SQLite services order them: by `last_update_time`, user, id.
        Every user's sessions need a client with the `service` (or `admin`) role.
        """
        if user_id is None:
            listed = self.client.iter_sessions(app_name=app_name, all_users=True, include_context=True, page_size=100)
        else:
            listed = self.client.iter_sessions(
                app_name=app_name, include_context=True, page_size=100, user_id=self._for(user_id)
            )
        app_state = {
            State.APP_PREFIX + key: value for key, value in (await self.client.get_app_state(app_name)).state.items()
        }
        user_states: dict[str, dict[str, Any]] = {}
        sessions = []
        async for summary in listed:
            adk_id = summary.metadata.get(ADK_SESSION_ID_KEY)
            if adk_id is None or summary.session_id != service_session_id(app_name, summary.user_id, adk_id):
                continue  # not a session this adapter made
            if summary.user_id not in user_states:
                user = await self.client.get_user_state(app_name, summary.user_id)
                user_states[summary.user_id] = {State.USER_PREFIX + key: value for key, value in user.state.items()}
            sessions.append(
                AdkSession(
                    id=adk_id,
                    app_name=app_name,
                    user_id=summary.user_id,
                    state={**(summary.context or {}), **app_state, **user_states[summary.user_id]},
                    last_update_time=last_update_time(summary),
                )
            )
        sessions.sort(key=lambda session: (session.last_update_time, session.user_id, session.id))
        return ListSessionsResponse(sessions=sessions)

    async def get_user_state(self, *, app_name: str, user_id: str) -> dict[str, Any]:
        """The user's state document of the app, keys without `user:` (ADK 2's optional method)."""
        return dict((await self.client.get_user_state(app_name, user_id)).state)

    @override
    async def delete_session(self, *, app_name: str, user_id: str, session_id: str) -> None:
        session_id = session_id.strip()  # as ADK's in-memory and SQLite services normalize ids
        acting_for = self._for(user_id)
        scoped_id = service_session_id(app_name, user_id, session_id)
        try:
            stored = await self.client.get_session(scoped_id, user_id=acting_for)
        except errors.SessionNotFound:
            return
        if _is_adk_session(stored, app_name, user_id, session_id):
            await self.client.delete_session(scoped_id, user_id=acting_for)

    async def fork_session(
        self,
        *,
        app_name: str,
        user_id: str,
        session_id: str,
        new_session_id: str | None = None,
        before_invocation_id: str | None = None,
    ) -> AdkSession:
        """A new ADK session of the same app and user holding the session's events up to a point (not an ADK method).

        The point: the latest event, or just before the first event of `before_invocation_id`, where
        `Runner.rewind_async(rewind_before_invocation_id=...)` cuts (`InvocationNotFoundError` when no
        event has it). The fork's session-scoped state is the state at that point as ADK's rewind
        computes it; `app:`/`user:` state is shared; artifacts are not forked. The parent is unchanged.
        `new_session_id`: a uuid4 string when absent, as `create_session` makes ids. Raises
        `SessionNotFoundError` (no such session), `AlreadyExistsError` (the id is taken) and
        `StaleSessionError` (the parent kept changing while it was read).
        """
        session_id = session_id.strip()
        new_session_id = new_session_id.strip() if new_session_id and new_session_id.strip() else None
        adk_id = new_session_id or str(uuid.uuid4())
        if len(adk_id) > METADATA_VALUE_LIMIT:
            raise ValueError(f"a session id is at most {METADATA_VALUE_LIMIT} characters here (it is kept in metadata)")
        acting_for = self._for(user_id)
        parent_id = service_session_id(app_name, user_id, session_id)
        parent, stored_events = await self._read_for_fork(parent_id, acting_for, app_name, user_id, session_id)
        events = [from_stored(stored) for stored in stored_events]
        cut = len(events)
        if before_invocation_id is not None:
            cut = next((i for i, event in enumerate(events) if event.invocation_id == before_invocation_id), -1)
            if cut == -1:
                raise InvocationNotFoundError(f"Invocation ID not found: {before_invocation_id}")
        # the seq before the cut: seqs of a fork are its parent's, so the fork's history is exactly events[:cut]
        at_seq = stored_events[cut].seq - 1 if cut < len(events) else _last_seq(stored_events)
        context = dict(parent.context)  # at the latest event: the state as it is now, all of it
        if cut < len(events):
            context = await _state_before(parent, events, cut)
        try:
            forked = await self.client.fork_session(
                parent_id,
                at_seq=at_seq,
                new_session_id=service_session_id(app_name, user_id, adk_id),
                metadata={"framework": "google-adk", ADK_SESSION_ID_KEY: adk_id},
                context=context,
                ttl_seconds=self.session_ttl_seconds,
                user_id=acting_for,
            )
        except errors.SessionNotFound as missing:
            raise SessionNotFoundError(f"Session {session_id} not found.") from missing
        except errors.SessionIdTaken as taken:
            raise AlreadyExistsError(f"Session with id {adk_id} already exists.") from taken
        # what get_session shows of the fork: its events from its history's base on, with no read of them
        base = forked.history_base_seq
        shown = [
            event
            for stored, event in zip(stored_events[:cut], events[:cut], strict=True)
            if base is None or stored.seq >= base
        ]
        return self._to_adk(forked, self._scoped_state(parent), shown)

    async def _read_for_fork(
        self, parent_id: str, acting_for: str | None, app_name: str, user_id: str, session_id: str
    ) -> tuple[Session, list[Event]]:
        """The parent (with its app's and user's state) and every stored event, read at one version of it.

        Every stored event, compacted ones included, as ADK's rewind replays the whole history. The version
        read again after the events tells that the context and the events belong together.
        """
        for _ in range(FORK_READ_ATTEMPTS):
            try:
                parent = await self.client.get_session(parent_id, include_state=True, user_id=acting_for)
            except errors.SessionNotFound:
                parent = None
            if parent is None or not _is_adk_session(parent, app_name, user_id, session_id):
                raise SessionNotFoundError(f"Session {session_id} not found.")
            stored_events = [
                stored
                async for stored in self.client.iter_history(
                    parent_id, include_payload=True, include_compacted=True, page_size=100, user_id=acting_for
                )
            ]
            try:
                again = await self.client.get_session(parent_id, user_id=acting_for)
            except errors.SessionNotFound:
                raise SessionNotFoundError(f"Session {session_id} not found.") from None
            if again.version == parent.version and again.created_at == parent.created_at:
                return parent, stored_events
        raise StaleSessionError(
            f"Session {session_id!r} kept changing while it was read for a fork ({FORK_READ_ATTEMPTS} reads); retry."
        )

    @override
    async def append_event(self, session: AdkSession, event: AdkEvent) -> AdkEvent:
        if event.partial:
            return event
        if any(known == event for known in session.events if known.id == event.id):
            return event  # an equal re-delivery (a retry): stored once, applied once, as ADK's in-memory service
        body = to_stored(event)
        # values JSON cannot hold (a callable) are stored as their text, as ADK's database service stores them
        delta = make_json_safe_state(dict(event.actions.state_delta)) if event.actions.state_delta else {}
        app_delta, user_delta, session_delta = split_state(delta)
        # ADK sets each key (dict.update): a set, not a merge patch, so an object replaces and None is stored
        if session_delta:
            body["context_set"] = session_delta
        state_set = _state_set(app_delta, user_delta)
        if state_set:
            body["state_set"] = state_set
        if self.holds_whole_history(session) and compacts_everything(event, session.events):
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
                service_session_id(session.app_name, session.user_id, session.id),
                body,
                if_match=version,
                user_id=self._for(session.user_id),
            )
        except errors.SessionNotFound as missing:
            # as ADK's own services (in-memory, database, SQLite) raise it, with their message
            raise SessionNotFoundError(f"Session {session.id} not found.") from missing
        except errors.VersionMismatch as mismatch:
            raise StaleSessionError(
                # ADK's database service's words (callers match on them), then the versions
                "The session has been modified in storage since it was loaded. Please reload the session"
                f" before appending more events. (Session {session.id!r}: loaded at version {version},"
                f" stored {mismatch.current_version}.)"
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


async def _state_before(parent: Session, events: list[AdkEvent], cut: int) -> dict[str, Any]:
    """The session-scoped state before `events[cut]`: ADK's own rewind arithmetic, applied to the state now.

    `compute_state_delta_for_rewind` replays the state deltas of the events before the cut and sets
    every other key to None (a key given at creation too), as `Runner.rewind_async` leaves the state.
    """
    replayed = AdkSession(
        id="fork", app_name=parent.app_name or "", user_id=parent.user_id, state=dict(parent.context), events=events
    )
    return {**parent.context, **await compute_state_delta_for_rewind(replayed, cut)}


def _last_seq(stored_events: list[Event]) -> int:
    """The seq of the last stored event (0 for none): a fork there holds every one of them."""
    return stored_events[-1].seq if stored_events else 0


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


def _state_set(app: dict[str, Any], user: dict[str, Any]) -> dict[str, Any] | None:
    """The service's `state_set` for `app:` and `user:` keys (prefixes removed), None when there are none."""
    parts = {part: values for part, values in (("app", app), ("user", user)) if values}
    return parts or None


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
    document = json.loads(event.model_dump_json(exclude_none=True, by_alias=True, fallback=str))
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
    "service_session_id",
    "to_stored",
]
