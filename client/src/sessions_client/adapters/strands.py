"""A `SessionRepository` for Strands Agents: `RepositorySessionManager(session_id, session_repository=ours)`.

    from strands import Agent
    from strands.session.repository_session_manager import RepositorySessionManager
    from sessions_client import SessionsClient
    from sessions_client.adapters.strands import ServiceSessionRepository

    repository = ServiceSessionRepository(SessionsClient("http://127.0.0.1:3000", token=...))
    agent = Agent(session_manager=RepositorySessionManager("support-42", session_repository=repository))

How Strands' records map onto the service (the repository is synchronous: the sync client):

- A Strands session is a service session with the same id (created with `create_options`, e.g.
  `title`, `app_name`, `ttl_seconds`); `context.strands` keeps Strands' session type and its own
  `created_at` and `updated_at`, so `read_session` returns the `Session` exactly as created (as the
  file and S3 repositories return their session.json).
- An agent (`SessionAgent`: state, conversation manager state, internal state) is kept in the
  session's `context` under `strands.agents.<agent_id>`, as its JSON text: a merge patch replaces a
  string whole, so an update never leaves keys of the previous state behind, and state values the
  service could not hold as JSON (null members, empty keys, huge numbers) round-trip exactly.
  Multi-agent state (`create/read/update_multi_agent`) likewise under `strands.multi_agents.<id>`.
- A message is one event: `type` `strands.<agent_id>` (or `strands.h.<digest>` for ids that are not
  `[a-z0-9_-]{1,24}`), so one agent's messages are listed with the history's `type` filter; `role`
  and `content` (the message's text, readable by any consumer) from the message; the `SessionMessage`
  in `payload` (`message`, `redact_message`, `message_id`, timestamps). In a session with one agent,
  message `n` is the event with seq `n + 1` ("message_id as seq"): reads and updates go straight to
  `GET/PATCH /events/{seq}`; otherwise (several agents, or a history that did not start with this
  repository) the event is found by its `message_id` in the agent's history.
- `create_message` with an id the agent already has replaces that message (`PATCH /events/{seq}`), as
  the file and S3 repositories overwrite `message_<id>.json`; the event keeps its `role` (the
  service cannot change it), the message read back is the new one.
- `update_message` (a guardrail's redaction) is `PATCH /events/{seq}`: the payload's
  `redact_message` is set, and `content` becomes the redacted text, so the original text is no longer
  what readers of the history see (the original stays in `payload.message`, as Strands keeps it).
- `list_messages(limit, offset)` returns the agent's messages sorted by id, as the file and S3
  repositories do. Each message's append also writes, in the same atomic step, the agent's message
  count, highest id and whether ids came in order (`context.strands.messages.<agent_id>`): when they
  are 0 … count - 1 in seq order (as the session manager writes them), the messages from `offset` on
  are read newest first, so a restore after a conversation manager removed most of them reads only
  the rest; otherwise (or when what is read disagrees: a rewind by another caller) the history is
  read from the oldest.
- Forks (Strands' `SessionRepository` has none; `SnapshotSessionManager` time-travels in memory, in place):
  `fork_session(session_id, new_session_id)` makes a new session holding everything the session holds
  now, through the service's O(1) fork: its messages (same ids, same seqs), every agent's state and
  conversation manager state, and the message bookkeeping, all as of one instant; only the Strands
  `Session` record's `created_at`/`updated_at` are the fork's own. At the latest message only: Strands
  keeps no history of agent state, so the state at an earlier message cannot be rebuilt.
- Errors are Strands': ids with path separators, session ids the service cannot hold and non-integer
  message ids are `ValueError`; the service's refusals and failures are `SessionException`, the
  client's typed error being its `__cause__`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal

from strands.session.session_repository import SessionRepository
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from sessions_client import SessionsClient, errors
from sessions_client.adapters._storable import pack, storable, unpack
from sessions_client.models import Event

if TYPE_CHECKING:
    from strands.multiagent.base import MultiAgentBase

__all__ = ["ServiceSessionRepository", "agent_event_type"]

CONTEXT_KEY = "strands"
FRAMEWORK = "strands"
PAGE_SIZE = 100
_ROLES = ("user", "assistant", "system", "tool")
_CONTENT_VIEW_LIMIT = 32 * 1024
_PLAIN_AGENT_ID = re.compile(r"[a-z0-9_-]{1,24}")
_SESSION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def agent_event_type(agent_id: str) -> str:
    """The event type of one agent's messages (at most 32 characters of `[a-z0-9_.-]`)."""
    if _PLAIN_AGENT_ID.fullmatch(agent_id):
        return f"strands.{agent_id}"
    return "strands.h." + hashlib.sha256(agent_id.encode("utf-8")).hexdigest()[:22]


class ServiceSessionRepository(SessionRepository):
    """Strands' `SessionRepository` over the session service (sync client).

    `create_options`: fields for `create_session` when Strands creates a session (`title`,
    `app_name`, `metadata`, `ttl_seconds`, ...). `user_id`: a `service` caller acting for that user.

    Errors are Strands' own, as FileSessionManager and S3SessionManager raise them: an id with a path
    separator (or a session id the service cannot hold) or a `message_id` that is not an integer is a
    `ValueError`; any refusal or failure of the service is a `SessionException` whose `__cause__` is
    the client's typed error (`HistoryFull`, `Forbidden`, `TransportError`, ...).
    """

    def __init__(
        self,
        client: SessionsClient,
        *,
        create_options: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.create_options = dict(create_options or {})
        self.user_id = user_id
        self._owns_client = owns_client
        self._seqs: dict[tuple[str, str, int], int] = {}  # (session, agent, message_id) -> seq seen
        self._meta: dict[tuple[str, str], dict[str, Any]] = {}  # (session, agent) -> messages' bookkeeping
        self._fresh: set[str] = set()  # sessions this repository created

    @classmethod
    def from_url(
        cls,
        base_url: str,
        *,
        create_options: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        **client_options: Any,
    ) -> ServiceSessionRepository:
        """A repository with a client of its own (closed by `close()`); `client_options` go to `SessionsClient`."""
        return cls(
            SessionsClient(base_url, **client_options),
            create_options=create_options,
            user_id=user_id,
            owns_client=True,
        )

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    # --- sessions -------------------------------------------------------------------------------

    def create_session(self, session: Session, **kwargs: Any) -> Session:
        session_id = _session_id(session.session_id)
        with _service_errors(f"creating session {session_id}"):
            options = dict(self.create_options)
            context = dict(options.pop("context", None) or {})
            # the Session as Strands made it, read back field for field (as the file and S3 repositories keep
            # session.json): its own created_at and updated_at, not the service's
            context[CONTEXT_KEY] = {
                "session_type": _session_type_value(session.session_type),
                "created_at": session.created_at,
                "updated_at": session.updated_at,
            }
            metadata = {"framework": FRAMEWORK, **(options.pop("metadata", None) or {})}
            try:
                self.client.create_session(
                    session_id=session_id,
                    context=context,
                    metadata=metadata,
                    user_id=self.user_id,
                    only_new=True,  # If-None-Match: *: the caller's own session under the id is an error too
                    **options,
                )
            except (errors.VersionMismatch, errors.SessionIdTaken) as held:
                # the caller's session, or another user's of the tenant: to this caller, as to Strands, it exists
                raise SessionException(f"Session {session_id} already exists") from held
        self._forget(session_id)
        self._fresh.add(session_id)
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        with _service_errors(f"reading session {session_id}"):
            stored = self._get(_session_id(session_id))
        if stored is None:
            return None
        kept = _strands_context(stored.context)
        session_type = kept.get("session_type") or SessionType.AGENT.value
        # a session created before the repository kept Strands' own timestamps: the service's
        created_at, updated_at = kept.get("created_at"), kept.get("updated_at")
        return Session(
            session_id=stored.session_id,
            session_type=SessionType(session_type),
            created_at=created_at if isinstance(created_at, str) else stored.created_at.isoformat(),
            updated_at=updated_at if isinstance(updated_at, str) else stored.updated_at.isoformat(),
        )

    def delete_session(self, session_id: str, **kwargs: Any) -> None:
        """Delete the session and everything in it (as FileSessionManager.delete_session does)."""
        with _service_errors(f"deleting session {session_id}"):
            if self._get(_session_id(session_id)) is None:
                raise SessionException(f"Session {session_id} does not exist")
            self.client.delete_session(session_id, user_id=self.user_id)
        self._forget(session_id)

    def fork_session(self, session_id: str, new_session_id: str, **kwargs: Any) -> Session:
        """A new session `new_session_id` holding what `session_id` holds now (not a `SessionRepository` method).

        The service forks in O(1): messages, agents' state and the message bookkeeping, copied as of
        one instant (the fork's one write), so an Agent loaded from the fork (`RepositorySessionManager(
        new_session_id, ...)`) starts where the parent's agent stands; the two then go on on their own.
        At the latest message only (the agent state of an earlier message is kept nowhere). The returned
        `Session` is the fork's, created now. `SessionException` when the session does not exist or
        `new_session_id` does.
        """
        _session_id(session_id)
        new_session_id = _session_id(new_session_id)
        with _service_errors(f"forking session {session_id} into {new_session_id}"):
            try:
                self.client.fork_session(session_id, new_session_id=new_session_id, user_id=self.user_id)
            except errors.SessionNotFound as missing:
                raise SessionException(f"Session {session_id} does not exist") from missing
            except errors.SessionIdTaken as held:
                raise SessionException(f"Session {new_session_id} already exists") from held
            forked = Session(session_id=new_session_id, session_type=SessionType.AGENT)
            try:
                # the copied Strands record's type, with the fork's own times (version 1: nobody else wrote it yet)
                stored = self.client.get_session(new_session_id, user_id=self.user_id)
                session_type = _strands_context(stored.context).get("session_type") or SessionType.AGENT.value
                forked = Session(session_id=new_session_id, session_type=SessionType(session_type))
                record = {
                    "session_type": session_type,
                    "created_at": forked.created_at,
                    "updated_at": forked.updated_at,
                }
                self.client.update_session(
                    new_session_id, {"context": {CONTEXT_KEY: record}}, if_match=stored.version, user_id=self.user_id
                )
            except BaseException:
                # a fork whose record could not be finished is removed: no half-made session stays behind
                self.client.delete_session(new_session_id, user_id=self.user_id)
                raise
        self._forget(new_session_id)
        return forked

    # --- agents ---------------------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        _session_id(session_id)
        agent_id = _identifier(session_agent.agent_id, "agent")
        with _service_errors(f"creating agent {agent_id} in session {session_id}"):
            self._put_record(session_id, "agents", agent_id, session_agent.to_dict())

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        _session_id(session_id)
        _identifier(agent_id, "agent")
        with _service_errors(f"reading agent {agent_id} in session {session_id}"):
            record = self._record(session_id, "agents", agent_id)
        return SessionAgent.from_dict(record) if record is not None else None

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        previous = self.read_agent(session_id, session_agent.agent_id)
        if previous is None:
            raise SessionException(f"Agent {session_agent.agent_id} in session {session_id} does not exist")
        session_agent.created_at = previous.created_at
        with _service_errors(f"updating agent {session_agent.agent_id} in session {session_id}"):
            self._put_record(session_id, "agents", session_agent.agent_id, session_agent.to_dict())

    # --- messages -------------------------------------------------------------------------------

    def create_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Store the message; one with the same id is replaced (as the file and S3 repositories overwrite it)."""
        message_id = _message_id(session_message.message_id)
        _session_id(session_id)
        _identifier(agent_id, "agent")
        with _service_errors(f"creating message {message_id} of agent {agent_id} in session {session_id}"):
            meta = self._messages_meta(session_id, agent_id)
            if message_id <= meta["last"]:  # it may exist: then it is overwritten in place
                existing = self._find(session_id, agent_id, message_id)
                if existing is not None:
                    self._overwrite(session_id, existing, session_message)
                    return
            record = session_message.to_dict()
            new_meta = {
                "count": meta["count"] + 1,
                "last": max(meta["last"], message_id),
                "ordered": bool(meta["ordered"]) and message_id > meta["last"],
            }
            event: dict[str, Any] = {
                "type": agent_event_type(agent_id),
                "metadata": {"framework": FRAMEWORK},
                "payload": {
                    "agent_id": agent_id,
                    "message_id": message_id,
                    "created_at": record["created_at"],
                    "updated_at": record["updated_at"],
                    **pack("message", record["message"]),
                    **(
                        pack("redact_message", record["redact_message"]) if record["redact_message"] is not None else {}
                    ),
                },
                # the agent's messages' bookkeeping, in the same atomic step as the message
                "context_patch": {CONTEXT_KEY: {"messages": {agent_id: new_meta}}},
            }
            role = session_message.message.get("role")
            if role in _ROLES:
                event["role"] = role
            text = _text_view(session_message.to_message())
            if text is not None:
                event["content"] = text
            try:
                stored = self.client.append_event(session_id, event, user_id=self.user_id)
            except errors.SessionNotFound as missing:
                raise SessionException(f"Session {session_id} does not exist") from missing
        self._meta[(session_id, agent_id)] = new_meta
        self._seqs[(session_id, agent_id, message_id)] = stored.seq

    def read_message(self, session_id: str, agent_id: str, message_id: int, **kwargs: Any) -> SessionMessage | None:
        _message_id(message_id)
        _session_id(session_id)
        _identifier(agent_id, "agent")
        with _service_errors(f"reading message {message_id} of agent {agent_id} in session {session_id}"):
            event = self._find(session_id, agent_id, message_id)
        return _message_of(event) if event is not None else None

    def update_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Replace a stored message (Strands calls it to redact the latest message after a guardrail).

        As the file and S3 repositories do: the stored message's `created_at` is kept (and set on
        `session_message`), everything else is written as given.
        """
        message_id = _message_id(session_message.message_id)
        _session_id(session_id)
        _identifier(agent_id, "agent")
        with _service_errors(f"updating message {message_id} of agent {agent_id} in session {session_id}"):
            event = self._find(session_id, agent_id, message_id)
            if event is None:
                raise SessionException(f"Message {message_id} does not exist")
            session_message.created_at = str((event.payload or {}).get("created_at", session_message.created_at))
            self._overwrite(session_id, event, session_message)

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        """The agent's messages sorted by message id, `offset` of them skipped, at most `limit`.

        The messages the session manager writes (ids 0, 1, 2 ... in order) are read from the newest
        back to `offset` when that is fewer than from the oldest on (a restore after a conversation
        manager removed most of them), so the skipped messages are not read at all.
        """
        _session_id(session_id)
        _identifier(agent_id, "agent")
        with _service_errors(f"listing messages of agent {agent_id} in session {session_id}"):
            stored = self._get(session_id)
            agents = _strands_context(stored.context if stored is not None else None).get("agents") or {}
            if agent_id not in agents:
                raise SessionException(f"Agent {agent_id} does not exist in session {session_id}")
            if limit == 0:
                return []
            meta = _stored_meta(_strands_context(stored.context), agent_id)
            if meta is not None:
                self._meta[(session_id, agent_id)] = meta
                newest = self._newest_messages(session_id, agent_id, meta, limit, offset)
                if newest is not None:
                    return newest
            ordered = meta is not None and meta["ordered"]
            messages: dict[int, SessionMessage] = {}
            # in id order already: no need to read past offset + limit
            wanted = offset + limit if ordered and limit is not None and limit > 0 else None
            page_size = min(PAGE_SIZE, wanted or PAGE_SIZE)
            ids: list[int] = []
            for event in self._agent_events(session_id, agent_id, page_size=page_size):
                message = _message_of(event)
                messages[message.message_id] = message  # a duplicate (of an older version): the latest wins
                ids.append(message.message_id)
                if wanted is not None and len(messages) >= wanted:
                    break
            if meta is None and wanted is None:  # written before the bookkeeping: now known, as a scan would tell
                self._meta[(session_id, agent_id)] = _meta_of(ids)
            listed = [messages[key] for key in sorted(messages)]
            return listed[offset : offset + limit] if limit is not None else listed[offset:]

    # --- multi-agent state ----------------------------------------------------------------------

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        _session_id(session_id)
        multi_agent_id = _identifier(multi_agent.id, "agent")
        with _service_errors(f"creating multi-agent {multi_agent_id} in session {session_id}"):
            self._put_record(session_id, "multi_agents", multi_agent_id, multi_agent.serialize_state())

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        _session_id(session_id)
        _identifier(multi_agent_id, "agent")
        with _service_errors(f"reading multi-agent {multi_agent_id} in session {session_id}"):
            return self._record(session_id, "multi_agents", multi_agent_id)

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        state = multi_agent.serialize_state()
        if self.read_multi_agent(session_id, multi_agent.id) is None:
            raise SessionException(f"MultiAgent state {multi_agent.id} in session {session_id} does not exist")
        with _service_errors(f"updating multi-agent {multi_agent.id} in session {session_id}"):
            self._put_record(session_id, "multi_agents", multi_agent.id, state)

    # --- plumbing -------------------------------------------------------------------------------

    def _forget(self, session_id: str) -> None:
        """Drop what was remembered of a session (deleted, or created anew)."""
        self._seqs = {key: seq for key, seq in self._seqs.items() if key[0] != session_id}
        self._meta = {key: meta for key, meta in self._meta.items() if key[0] != session_id}
        self._fresh.discard(session_id)

    def _get(self, session_id: str) -> Any:
        try:
            return self.client.get_session(session_id, user_id=self.user_id)
        except errors.SessionNotFound:
            return None

    def _record(self, session_id: str, kind: str, record_id: str) -> dict[str, Any] | None:
        stored = self._get(session_id)
        if stored is None:
            return None
        text = (_strands_context(stored.context).get(kind) or {}).get(record_id)
        if text is None:
            return None
        try:
            record = json.loads(text) if isinstance(text, str) else None
        except json.JSONDecodeError as error:
            raise SessionException(f"Invalid JSON in {kind} {record_id} of session {session_id}: {error}") from error
        if not isinstance(record, dict):
            raise SessionException(f"Invalid JSON in {kind} {record_id} of session {session_id}: not an object")
        return record

    def _put_record(self, session_id: str, kind: str, record_id: str, record: dict[str, Any]) -> None:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        try:
            self.client.update_session(
                session_id, {"context": {CONTEXT_KEY: {kind: {record_id: text}}}}, user_id=self.user_id
            )
        except errors.SessionNotFound as missing:
            raise SessionException(f"Session {session_id} does not exist") from missing

    def _messages_meta(self, session_id: str, agent_id: str) -> dict[str, Any]:
        """How many messages the agent has, the highest id, whether they were appended in id order."""
        known = self._meta.get((session_id, agent_id))
        if known is not None:
            return known
        if session_id in self._fresh:  # created by this repository: no messages but those it wrote
            return {"count": 0, "last": -1, "ordered": True}
        stored = self._get(session_id)
        if stored is None:
            raise SessionException(f"Session {session_id} does not exist")
        meta = _stored_meta(_strands_context(stored.context), agent_id)
        if meta is None:  # messages written before the repository kept count (or none yet): count them
            meta = _meta_of([(event.payload or {})["message_id"] for event in self._agent_events(session_id, agent_id)])
        self._meta[(session_id, agent_id)] = meta
        return meta

    def _newest_messages(
        self, session_id: str, agent_id: str, meta: Mapping[str, Any], limit: int | None, offset: int
    ) -> list[SessionMessage] | None:
        """The messages from `offset` on, read newest first, when ids are 0 … count - 1 in seq order.

        None when that is not cheaper than reading from the oldest, or when what is read is not what
        the bookkeeping says (a rewind, or other writers): then the caller reads from the oldest.
        """
        count = meta["count"]
        if not meta["ordered"] or meta["last"] != count - 1 or offset <= 0 or (limit is not None and limit < 0):
            return None
        remaining = count - offset
        if remaining <= 0:
            return None
        if limit is not None and remaining >= offset + limit:
            return None  # reading offset + limit from the oldest is cheaper
        newest: list[SessionMessage] = []
        events = self._agent_events(session_id, agent_id, page_size=min(PAGE_SIZE, remaining), order="desc")
        for event in events:
            newest.append(_message_of(event))
            if len(newest) == remaining:
                break  # before the iterator asks for a page it would not use
        newest.reverse()
        if [message.message_id for message in newest] != list(range(offset, count)):
            return None
        return newest[:limit] if limit is not None else newest

    def _overwrite(self, session_id: str, event: Event, session_message: SessionMessage) -> None:
        """Make the event hold `session_message` as given (its payload and text replaced whole)."""
        previous = event.payload or {}
        record = session_message.to_dict()
        payload_patch: dict[str, Any] = {"created_at": record["created_at"], "updated_at": record["updated_at"]}
        for name in ("message", "redact_message"):
            payload_patch.update(_replacement(previous, name, record[name]))
        text = _text_view(session_message.to_message())
        self.client.update_event(
            session_id, event.seq, {"payload": payload_patch, "content": text}, user_id=self.user_id
        )

    def _agent_events(
        self, session_id: str, agent_id: str, page_size: int = PAGE_SIZE, order: Literal["asc", "desc"] = "asc"
    ) -> Iterator[Event]:
        """The agent's message events, oldest first (or newest first)."""
        try:
            # parts too large to inline in a response (presigned URLs) are fetched by the client
            for event in self.client.iter_history(
                session_id,
                page_size=max(1, page_size),
                order=order,
                type=agent_event_type(agent_id),
                include_payload=True,
                user_id=self.user_id,
            ):
                payload = event.payload or {}
                if payload.get("agent_id") != agent_id or not isinstance(payload.get("message_id"), int):
                    continue
                self._seqs[(session_id, agent_id, payload["message_id"])] = event.seq
                yield event
        except errors.SessionNotFound:
            return

    def _find(self, session_id: str, agent_id: str, message_id: int) -> Event | None:
        """The event of one message: the seq seen before, else seq `message_id + 1`, else a search."""
        guesses = [self._seqs.get((session_id, agent_id, message_id)), message_id + 1]
        for seq in dict.fromkeys(guess for guess in guesses if guess is not None and guess >= 1):
            try:
                event = self.client.get_event(session_id, seq, user_id=self.user_id)
            except errors.SessionNotFound:
                return None
            except errors.NotFound:
                continue
            if _is_message(event, agent_id, message_id):
                return event
        found = None
        for event in self._agent_events(session_id, agent_id):
            if (event.payload or {}).get("message_id") == message_id:
                found = event  # the latest, should an older version have left a duplicate
        return found


# --- ids and errors -----------------------------------------------------------------------------


def _identifier(value: str, kind: str) -> str:
    """Strands' own check (strands._identifier.validate): no path separators, as the file and S3 repositories."""
    if not isinstance(value, str) or os.path.basename(value) != value:
        raise ValueError(f"{kind}_id={value} | id cannot contain path separators")
    return value


def _session_id(session_id: str) -> str:
    """A session id Strands accepts and the service can hold (`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)."""
    _identifier(session_id, "session")
    if not _SESSION_ID.fullmatch(session_id):
        raise ValueError(
            f"session_id={session_id} | id must match ^[A-Za-z0-9][A-Za-z0-9._:-]{{0,127}}$ (the service's session ids)"
        )
    return session_id


def _message_id(message_id: Any) -> int:
    if not isinstance(message_id, int):
        raise ValueError(f"message_id=<{message_id}> | message id must be an integer")
    return message_id


@contextmanager
def _service_errors(action: str) -> Iterator[None]:
    """The service's refusals and failures as Strands' SessionException (as S3SessionManager wraps S3's)."""
    try:
        yield
    except errors.SessionsError as error:
        raise SessionException(f"Service error {action}: {error}") from error


def _meta_of(ids: list[int]) -> dict[str, Any]:
    """The bookkeeping of an agent whose message events, in seq order, hold these message ids."""
    return {"count": len(set(ids)), "last": max(ids, default=-1), "ordered": all(a < b for a, b in pairwise(ids))}


def _stored_meta(kept: Mapping[str, Any], agent_id: str) -> dict[str, Any] | None:
    meta = (kept.get("messages") or {}).get(agent_id)
    if not isinstance(meta, dict):
        return None
    count, last, ordered = meta.get("count"), meta.get("last"), meta.get("ordered")
    if not isinstance(count, int) or not isinstance(last, int) or not isinstance(ordered, bool):
        return None
    return {"count": count, "last": last, "ordered": ordered}


# --- records <-> events -------------------------------------------------------------------------


def _session_type_value(session_type: Any) -> str:
    return session_type.value if isinstance(session_type, SessionType) else str(session_type)


def _strands_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    value = (context or {}).get(CONTEXT_KEY)
    return value if isinstance(value, dict) else {}


def _is_message(event: Event, agent_id: str, message_id: int) -> bool:
    payload = event.payload or {}
    return (
        event.type == agent_event_type(agent_id)
        and payload.get("agent_id") == agent_id
        and payload.get("message_id") == message_id
    )


def _message_of(event: Event) -> SessionMessage:
    """The SessionMessage an event holds; one spoiled by another writer is a SessionException (as FileSessionManager
    raises "Invalid JSON" for a message file that is not JSON)."""
    payload = event.payload or {}
    try:
        message, redact_message = unpack("message", payload), unpack("redact_message", payload)
    except json.JSONDecodeError as error:
        raise SessionException(f"Invalid JSON in the message of event {event.seq}: {error}") from error
    if not isinstance(message, dict) or not (redact_message is None or isinstance(redact_message, dict)):
        raise SessionException(f"Invalid message in event {event.seq}: not a message object")
    return SessionMessage.from_dict(
        {
            "message": message,
            "redact_message": redact_message,
            "message_id": payload["message_id"],
            "created_at": payload.get("created_at") or event.created_at.isoformat(),
            "updated_at": payload.get("updated_at") or event.created_at.isoformat(),
        }
    )


def _text_view(message: Mapping[str, Any]) -> str | None:
    """The message's text blocks, joined (None when it has none or it is too long to inline)."""
    blocks = message.get("content")
    if not isinstance(blocks, list):
        return None
    texts = [block["text"] for block in blocks if isinstance(block, dict) and isinstance(block.get("text"), str)]
    text = "\n".join(texts)
    if not texts or len(text.encode("utf-8")) > _CONTENT_VIEW_LIMIT:
        return None
    return text


def _replacement(previous: Mapping[str, Any], name: str, value: Any) -> dict[str, Any]:
    """The payload merge patch that makes `name` hold `value` (and nothing of what it held)."""
    if value is None:
        return {name: None, f"{name}_json": None}
    old = previous.get(name)
    if storable(value) and not _has_null_member(value):
        return {name: merge_diff(old, value), f"{name}_json": None}
    return {name: None, f"{name}_json": json.dumps(value, ensure_ascii=False)}


def merge_diff(old: Any, new: Any) -> Any:
    """A JSON merge patch (RFC 7396) turning `old` into `new` (`new` holds no null object member)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old or old[key] != value:
            patch[key] = merge_diff(old.get(key), value)
    return patch


def _has_null_member(value: Any) -> bool:
    """Whether an object member anywhere outside arrays is null (a merge patch would remove it)."""
    if isinstance(value, dict):
        return any(member is None or _has_null_member(member) for member in value.values())
    return False
