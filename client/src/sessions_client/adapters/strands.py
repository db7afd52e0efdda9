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
- `update_message` (a guardrail's redaction) is `PATCH /events/{seq}`: the payload's
  `redact_message` is set, and `content` becomes the redacted text, so the original text is no longer
  what readers of the history see (the original stays in `payload.message`, as Strands keeps it).
- `list_messages(limit, offset)` pages through the agent's history oldest first.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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


def agent_event_type(agent_id: str) -> str:
    """The event type of one agent's messages (at most 32 characters of `[a-z0-9_.-]`)."""
    if _PLAIN_AGENT_ID.fullmatch(agent_id):
        return f"strands.{agent_id}"
    return "strands.h." + hashlib.sha256(agent_id.encode("utf-8")).hexdigest()[:22]


class ServiceSessionRepository(SessionRepository):
    """Strands' `SessionRepository` over the session service (sync client).

    `create_options`: fields for `create_session` when Strands creates a session (`title`,
    `app_name`, `metadata`, `ttl_seconds`, ...). `user_id`: a `service` caller acting for that user.
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
        if self._get(session.session_id) is not None:
            raise SessionException(f"Session {session.session_id} already exists")
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
        self.client.create_session(
            session_id=session.session_id, context=context, metadata=metadata, user_id=self.user_id, **options
        )
        return session

    def read_session(self, session_id: str, **kwargs: Any) -> Session | None:
        stored = self._get(session_id)
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
        if self._get(session_id) is None:
            raise SessionException(f"Session {session_id} does not exist")
        self.client.delete_session(session_id, user_id=self.user_id)
        self._seqs = {key: seq for key, seq in self._seqs.items() if key[0] != session_id}

    # --- agents ---------------------------------------------------------------------------------

    def create_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        self._put_record(session_id, "agents", session_agent.agent_id, session_agent.to_dict())

    def read_agent(self, session_id: str, agent_id: str, **kwargs: Any) -> SessionAgent | None:
        record = self._record(session_id, "agents", agent_id)
        return SessionAgent.from_dict(record) if record is not None else None

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        previous = self.read_agent(session_id, session_agent.agent_id)
        if previous is None:
            raise SessionException(f"Agent {session_agent.agent_id} in session {session_id} does not exist")
        session_agent.created_at = previous.created_at
        self._put_record(session_id, "agents", session_agent.agent_id, session_agent.to_dict())

    # --- messages -------------------------------------------------------------------------------

    def create_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        record = session_message.to_dict()
        event: dict[str, Any] = {
            "type": agent_event_type(agent_id),
            "metadata": {"framework": FRAMEWORK},
            "payload": {
                "agent_id": agent_id,
                "message_id": session_message.message_id,
                "created_at": record["created_at"],
                "updated_at": record["updated_at"],
                **pack("message", record["message"]),
                **(pack("redact_message", record["redact_message"]) if record["redact_message"] is not None else {}),
            },
        }
        role = session_message.message.get("role")
        if role in _ROLES:
            event["role"] = role
        text = _text_view(session_message.to_message())
        if text is not None:
            event["content"] = text
        try:
            stored = self.client.append_event(session_id, event, user_id=self.user_id)
        except errors.SessionNotFound:
            raise SessionException(f"Session {session_id} does not exist") from None
        self._seqs[(session_id, agent_id, session_message.message_id)] = stored.seq

    def read_message(self, session_id: str, agent_id: str, message_id: int, **kwargs: Any) -> SessionMessage | None:
        event = self._find(session_id, agent_id, message_id)
        return _message_of(event) if event is not None else None

    def update_message(self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any) -> None:
        """Replace a stored message (Strands calls it to redact the latest message after a guardrail)."""
        message_id = session_message.message_id
        event = self._find(session_id, agent_id, message_id)
        if event is None:
            raise SessionException(f"Message {message_id} does not exist")
        previous = event.payload or {}
        session_message.created_at = str(previous.get("created_at", session_message.created_at))
        session_message.updated_at = datetime.now(UTC).isoformat()
        record = session_message.to_dict()
        payload_patch: dict[str, Any] = {"updated_at": record["updated_at"], "created_at": record["created_at"]}
        for name in ("message", "redact_message"):
            payload_patch.update(_replacement(previous, name, record[name]))
        text = _text_view(session_message.to_message())
        self.client.update_event(
            session_id, event.seq, {"payload": payload_patch, "content": text}, user_id=self.user_id
        )

    def list_messages(
        self, session_id: str, agent_id: str, limit: int | None = None, offset: int = 0, **kwargs: Any
    ) -> list[SessionMessage]:
        if self._record(session_id, "agents", agent_id) is None:
            raise SessionException(f"Agent {agent_id} does not exist in session {session_id}")
        if limit is not None and limit <= 0:
            return []
        messages: list[SessionMessage] = []
        skipped = 0
        for event in self._agent_events(session_id, agent_id, page_size=min(PAGE_SIZE, offset + (limit or PAGE_SIZE))):
            if skipped < offset:
                skipped += 1
                continue
            messages.append(_message_of(event))
            if limit is not None and len(messages) == limit:
                break
        return messages

    # --- multi-agent state ----------------------------------------------------------------------

    def create_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        self._put_record(session_id, "multi_agents", multi_agent.id, multi_agent.serialize_state())

    def read_multi_agent(self, session_id: str, multi_agent_id: str, **kwargs: Any) -> dict[str, Any] | None:
        return self._record(session_id, "multi_agents", multi_agent_id)

    def update_multi_agent(self, session_id: str, multi_agent: MultiAgentBase, **kwargs: Any) -> None:
        if self._record(session_id, "multi_agents", multi_agent.id) is None:
            raise SessionException(f"MultiAgent state {multi_agent.id} in session {session_id} does not exist")
        self._put_record(session_id, "multi_agents", multi_agent.id, multi_agent.serialize_state())

    # --- plumbing -------------------------------------------------------------------------------

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
        return json.loads(text) if isinstance(text, str) else None

    def _put_record(self, session_id: str, kind: str, record_id: str, record: dict[str, Any]) -> None:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        try:
            self.client.update_session(
                session_id, {"context": {CONTEXT_KEY: {kind: {record_id: text}}}}, user_id=self.user_id
            )
        except errors.SessionNotFound:
            raise SessionException(f"Session {session_id} does not exist") from None

    def _agent_events(self, session_id: str, agent_id: str, page_size: int = PAGE_SIZE) -> Iterator[Event]:
        """The agent's message events, oldest first."""
        try:
            # parts too large to inline in a response (presigned URLs) are fetched by the client
            for event in self.client.iter_history(
                session_id,
                page_size=max(1, page_size),
                order="asc",
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
        if not isinstance(message_id, int):
            raise ValueError(f"message_id=<{message_id}> | message id must be an integer")
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
        for event in self._agent_events(session_id, agent_id):
            if (event.payload or {}).get("message_id") == message_id:
                return event
        return None


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
    payload = event.payload or {}
    return SessionMessage.from_dict(
        {
            "message": unpack("message", payload),
            "redact_message": unpack("redact_message", payload),
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
