"""LangChain chat history on the session service: `SessionsChatMessageHistory`, sync and async.

    from langchain_core.runnables.history import RunnableWithMessageHistory
    from sessions_client import SessionsClient
    from sessions_client.adapters.langchain import SessionsChatMessageHistory

    client = SessionsClient(url, token=token)
    chain = RunnableWithMessageHistory(
        prompt | model,
        lambda session_id: SessionsChatMessageHistory(session_id, client=client),
        input_messages_key="input",
        history_messages_key="history",
    )

One LangChain history is one session of the service (the same id; created on the first write,
with `app_name` when given). Each message is one history event: `type` `message` (`tool` for tool
messages), `role` user/assistant/system/tool, its text in `content`, and the whole message
(`message_to_dict`) in `payload.langchain_message`, so it reads back as the same message class
with the same fields. `add_messages` stores up to 20 messages per atomic batch.

`clear()` rewinds the session to empty (`DELETE .../events?from_seq=`, newest events first, at
most 90 per call) instead of deleting it and creating it again under the same id: the session
keeps its identity, app, metadata, TTL and context, consumers see `session.events_removed` rather
than a deletion followed by a creation, the open-session cap is never touched, and a delete would
leave the id's history to the asynchronous cleanup, racing with a re-creation under that id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict

from sessions_client import errors
from sessions_client._async import AsyncSessionsClient
from sessions_client._sync import SessionsClient
from sessions_client.models import Event

PAYLOAD_KEY = "langchain_message"
CONTENT_LIMIT = 32 * 1024  # bytes of UTF-8 the service takes inline in `content`
BATCH = 20  # events per atomic append
REWIND_BATCH = 90  # events per rewind call
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


class SessionsChatMessageHistory(BaseChatMessageHistory):
    """The messages of one session of the service (see the module documentation).

    `client` serves the sync methods, `async_client` the async ones (without it they run the sync
    methods in a thread, as LangChain's base class does). `user_id`: a `service` caller's user.
    `app_name`, `ttl_seconds`, `metadata`: used when the session is created by the first write.
    """

    def __init__(
        self,
        session_id: str,
        *,
        client: SessionsClient | None = None,
        async_client: AsyncSessionsClient | None = None,
        user_id: str | None = None,
        app_name: str | None = None,
        ttl_seconds: int | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        if client is None and async_client is None:
            raise ValueError("give a SessionsClient (client=) and/or an AsyncSessionsClient (async_client=)")
        self.session_id = session_id
        self.client = client
        self.async_client = async_client
        self.user_id = user_id
        self.app_name = app_name
        self.ttl_seconds = ttl_seconds
        self.metadata = metadata if metadata is not None else {"framework": "langchain"}
        self._created = False

    def _sync(self) -> SessionsClient:
        if self.client is None:
            raise RuntimeError("this history has only an async client: use aget_messages, aadd_messages, aclear")
        return self.client

    def _create_fields(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "app_name": self.app_name,
            "ttl_seconds": self.ttl_seconds,
            "metadata": self.metadata,
            "user_id": self.user_id,
        }

    # --- sync -----------------------------------------------------------------------------------

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        try:
            events = list(
                self._sync().iter_history(self.session_id, page_size=100, include_payload=True, user_id=self.user_id)
            )
        except errors.SessionNotFound:
            return []
        return [from_stored(event) for event in events]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        client = self._sync()
        if not self._created:
            client.create_session(**self._create_fields())  # the caller's live session with this id, if any
            self._created = True
        bodies = [to_stored(message) for message in messages]
        for start in range(0, len(bodies), BATCH):
            client.append_events(self.session_id, bodies[start : start + BATCH], user_id=self.user_id)

    def clear(self) -> None:
        client = self._sync()
        while True:
            try:
                page = client.get_history(self.session_id, order="desc", limit=REWIND_BATCH, user_id=self.user_id)
            except errors.SessionNotFound:
                return
            if not page.events:
                return
            client.delete_events(self.session_id, min(event.seq for event in page.events), user_id=self.user_id)
            if len(page.events) < REWIND_BATCH:
                return

    # --- async ----------------------------------------------------------------------------------

    async def aget_messages(self) -> list[BaseMessage]:
        if self.async_client is None:
            return await super().aget_messages()
        try:
            events = [
                event
                async for event in self.async_client.iter_history(
                    self.session_id, page_size=100, include_payload=True, user_id=self.user_id
                )
            ]
        except errors.SessionNotFound:
            return []
        return [from_stored(event) for event in events]

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        client = self.async_client
        if client is None:
            await super().aadd_messages(messages)
            return
        if not self._created:
            await client.create_session(**self._create_fields())
            self._created = True
        bodies = [to_stored(message) for message in messages]
        for start in range(0, len(bodies), BATCH):
            await client.append_events(self.session_id, bodies[start : start + BATCH], user_id=self.user_id)

    async def aclear(self) -> None:
        client = self.async_client
        if client is None:
            await super().aclear()
            return
        while True:
            try:
                page = await client.get_history(self.session_id, order="desc", limit=REWIND_BATCH, user_id=self.user_id)
            except errors.SessionNotFound:
                return
            if not page.events:
                return
            await client.delete_events(self.session_id, min(event.seq for event in page.events), user_id=self.user_id)
            if len(page.events) < REWIND_BATCH:
                return


def to_stored(message: BaseMessage) -> dict[str, Any]:
    """The service's event body for a LangChain message."""
    role = _ROLES.get(message.type)
    if role is None:  # ChatMessage with a free role
        given = getattr(message, "role", "")
        role = given if given in {"user", "assistant", "system", "tool"} else "assistant"
    body: dict[str, Any] = {
        "type": "tool" if role == "tool" else "message",
        "role": role,
        "payload": {PAYLOAD_KEY: message_to_dict(message)},
    }
    text = message.text if isinstance(message.text, str) else str(message.text)
    if text:
        encoded = text.encode()
        body["content"] = encoded[:CONTENT_LIMIT].decode(errors="ignore") if len(encoded) > CONTENT_LIMIT else text
    return body


def from_stored(event: Event) -> BaseMessage:
    """The message a history event holds (one written by something else becomes a message of its role)."""
    payload = event.payload or {}
    if PAYLOAD_KEY in payload:
        return messages_from_dict([payload[PAYLOAD_KEY]])[0]
    kind = {"user": "human", "assistant": "ai", "system": "system"}.get(event.role or "", "ai")
    return messages_from_dict([{"type": kind, "data": {"content": event.content or "", "type": kind}}])[0]


__all__ = ["SessionsChatMessageHistory", "from_stored", "to_stored"]
