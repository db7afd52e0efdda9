"""A session backend for the OpenAI Agents SDK: `Runner.run(agent, ..., session=ServiceSession(...))`.

Every conversation item is one event of a session of the service (the item's JSON in the event's
`payload`, under `item`), so the history is shared, durable, isolated per tenant and user, and
readable by anything else that reads the service.

    from agents import Agent, Runner
    from sessions_client import AsyncSessionsClient
    from sessions_client.adapters.openai_agents import ServiceSession

    client = AsyncSessionsClient("http://127.0.0.1:3000", token=...)
    session = ServiceSession("support-42", client)
    await Runner.run(agent, "Hello", session=session)

The SDK's `Session` protocol, mapped onto the API:

- `get_items(limit)`: the history newest first (`order=desc`), the `limit` latest items turned
  back into chronological order; all of them, oldest first, without a limit.
- `add_items(items)`: one append per call of at most 20 items (a single event, or the atomic
  batch `{"events": [...]}`); longer lists go in chunks of 20, each atomic, in order. The session
  is created (idempotently, with `session_id`) the first time it is written to.
- `pop_item()`: the last event read, then rewound (`DELETE .../events?from_seq=<its seq>`) with
  `If-Match` on the session version read with it, so the item returned is the one removed and a
  concurrent append is never removed by mistake (a lost race reads again and retries).
- `clear_session()`: the session is deleted and created again under the same id with the same
  attributes (title, metadata, context, app_name, ...). Why not a rewind from seq 1: a rewind removes
  at most 90 events in one transaction, so clearing a long conversation would take several
  transactions and could stop half-way; deleting is one write whatever the history holds, the
  session leaves every read at once, the new incarnation starts empty, and the old history is purged
  by the service's cleanup. (Lifecycle consumers see `session.deleted` then `session.created`.)

Forks (the SDK's `Session` protocol has none; `AdvancedSQLiteSession.create_branch_from_turn` branches inside one
session and switches to the branch): `fork(new_session_id=None, *, before_turn=None)` and
`create_branch_from_turn(turn_number, branch_name=None)` / `create_branch_from_content(search_term, branch_name=None)`
return a new `ServiceSession` on a new session of the service, made by its O(1) fork: the items before that
user turn (turn n: the n-th item with `role == "user"` among those `get_items()` returns, as AdvancedSQLiteSession
numbers turns; the turn itself is left out), or all of them. This object stays on the parent, which is unchanged;
the two go on independently. The branch name is the new session's id (a UUID v4 when absent); an id a live
session holds is refused (`ValueError`), one of a deleted or expired session is taken over.

Compaction (`OpenAIResponsesCompactionSession` over a `ServiceSession`): the session implements the two
hooks the SDK looks for on a store that replaces history atomically, as `SQLiteSession` and `RedisSession` do:

- `_get_compaction_snapshot(limit)` (automatic compaction after a turn): the latest `limit` items with the
  session version they were read at, whether they are the whole history (`complete`), and `replace_suffix(start,
  output)`, which replaces the items from `start` on with the compacted output in ONE append, with `If-Match` on
  that version (a history changed since the snapshot is left as it is, and the SDK is told so):
  the whole history (`start` 0, `complete`) becomes a new base of the history (`base: true` on the first output
  item: what came before is compacted, kept for audit, never read again by `get_items`, whatever its length);
  a suffix (a read limit hides older history, or the exchange matched only the latest items) is replaced with
  `replace_from_seq`, the older items kept, as SQLiteSession keeps them.
- `_atomic_replace_items(output)` (manual `run_compaction()`): the history replaced by `output` as a new base,
  in one append, instead of the SDK's clear-then-add with its restore-on-failure.

With `EncryptedSession(ttl=...)` over or under the compaction session, the snapshot's `prune_prefix` is honoured:
the expired items leading the history leave it with the replacement (the base moves past them), as SQLiteSession
deletes them in the same transaction. Writes of one `ServiceSession` object run one at a time and a cancelled write
is seen to its outcome (SQLiteSession's write lock and `_await_mutation`).

An empty output is stored as one marker event of no item (the base, or the replacement of the suffix), which
`get_items` and `pop_item` skip. Outputs of more than 20 items take one append per 20, each conditioned on
the version the previous one left (atomic for up to 20 items; real compactions return a few).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, cast

from agents.memory.session import _await_mutation, _CompactionSnapshot
from agents.memory.session_settings import SessionSettings, coerce_session_settings, resolve_session_limit

from sessions_client import AsyncSessionsClient, errors
from sessions_client.adapters._storable import pack, unpack

__all__ = ["ServiceSession"]

BATCH_SIZE = 20  # the most events one append takes (atomic)
PAGE_SIZE = 100  # the most events one history page returns
_PRUNE_RETAINED_MAX = 20  # the most retained items a pruning replacement appends again (see _pruned_replacement)
FRAMEWORK = "openai-agents"
_CONTENT_VIEW_LIMIT = 32 * 1024  # `content` is a readable copy of the text; left out past the inline limit
_TOOL_ITEM_SUFFIXES = ("_call", "_call_output")
_RECREATED_FIELDS = (
    "app_name",
    "agent_id",
    "session_type",
    "title",
    "context",
    "checkpoint",
    "metadata",
    "runtime_backend",
    "runtime_metadata",
    "token_budget",
)


class ServiceSession:
    """The OpenAI Agents SDK `Session` protocol over the session service (async client).

    `session_id` names the service session (`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`); it is created
    on the first write with `create_options` (any `create_session` fields: `title`, `app_name`,
    `metadata`, `ttl_seconds`, ...). `user_id`: a `service` caller acting for that user.
    """

    session_settings: SessionSettings | None = None

    def __init__(
        self,
        session_id: str,
        client: AsyncSessionsClient,
        *,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        create_options: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        owns_client: bool = False,
    ) -> None:
        self.session_id = session_id
        self.client = client
        self.session_settings = (
            coerce_session_settings(
                session_settings if isinstance(session_settings, SessionSettings) else dict(session_settings)
            )
            if session_settings is not None
            else SessionSettings()
        )
        self.create_options = dict(create_options or {})
        self.user_id = user_id
        self._owns_client = owns_client
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def _lock(self) -> asyncio.Lock:
        """This instance's write lock on the running loop (writes of one instance run one at a time)."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {known: held for known, held in self._locks.items() if not known.is_closed()}
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def _mutate(self, operation: Callable[[], Awaitable[Any]]) -> Any:
        """Run a write under the instance's lock and see it to its outcome despite cancellation.

        As SQLiteSession's writes do (its write lock, `_await_mutation`): a cancelled caller still waits until the
        request has settled (then the cancellation is raised), so a later write of the same instance never lands
        before it, and what the history holds when the caller resumes is what the write left.
        """

        async def locked() -> Any:
            async with self._lock():
                return await operation()

        return await _await_mutation(locked())

    @classmethod
    def from_url(
        cls,
        session_id: str,
        base_url: str,
        *,
        session_settings: SessionSettings | Mapping[str, Any] | None = None,
        create_options: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        **client_options: Any,
    ) -> ServiceSession:
        """A session with a client of its own (closed by `close()`); `client_options` go to `AsyncSessionsClient`."""
        client = AsyncSessionsClient(base_url, **client_options)
        return cls(
            session_id,
            client,
            session_settings=session_settings,
            create_options=create_options,
            user_id=user_id,
            owns_client=True,
        )

    async def close(self) -> None:
        """Close the client if this session opened it (`from_url`); a client passed in stays open."""
        if self._owns_client:
            await self.client.aclose()

    # --- the Session protocol -----------------------------------------------------------------

    async def get_items(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The history's items, oldest first; with `limit`, the latest `limit` of them (still oldest first)."""
        session_limit = resolve_session_limit(limit, self.session_settings)
        if session_limit is not None and session_limit == 0:
            return []
        try:
            if session_limit is None or session_limit < 0:  # negative: everything, as SQLiteSession does
                items: list[dict[str, Any]] = []
                async for event in self.client.iter_history(
                    self.session_id, page_size=PAGE_SIZE, order="asc", include_payload=True, user_id=self.user_id
                ):
                    if (item := item_of(event.payload)) is not None:
                        items.append(item)
                return items
            newest_first: list[dict[str, Any]] = []
            async for event in self.client.iter_history(
                self.session_id,
                page_size=min(session_limit, PAGE_SIZE),
                order="desc",
                include_payload=True,
                user_id=self.user_id,
            ):
                item = item_of(event.payload)
                if item is None:
                    continue  # not an item (another writer's event): limit counts items only
                newest_first.append(item)
                if len(newest_first) == session_limit:
                    break
        except errors.SessionNotFound:
            return []
        newest_first.reverse()
        return newest_first

    async def add_items(self, items: list[Any]) -> None:
        """Append `items` in order: one atomic append per 20 items."""
        if not items:
            return
        events = [event_of(item) for item in items]

        async def append() -> None:
            for start in range(0, len(events), BATCH_SIZE):
                await self._append(events[start : start + BATCH_SIZE])

        await self._mutate(append)

    async def pop_item(self) -> dict[str, Any] | None:
        """Remove the most recent item and return it (None when the history holds none).

        The last event is read (payload included) with the session's version, then rewound with
        `If-Match` on that version: what is returned is exactly what was removed, and an event
        appended meanwhile is never removed by mistake (the lost race reads again). The copy read
        first is returned rather than the rewind's echo, which leaves out (`parts_omitted`) parts too
        large for one response, their objects being deleted by the rewind.
        """
        return cast("dict[str, Any] | None", await self._mutate(self._pop_item))

    async def _pop_item(self) -> dict[str, Any] | None:
        while True:
            try:
                session = await self.client.get_session(self.session_id, user_id=self.user_id)
                page = await self.client.get_history(
                    self.session_id, limit=1, order="desc", include_payload=True, user_id=self.user_id
                )
            except errors.SessionNotFound:
                return None
            if not page.events:
                return None
            last = page.events[0]
            try:
                rewound = await self.client.delete_events(
                    self.session_id, last.seq, if_match=session.version, user_id=self.user_id
                )
            except errors.VersionMismatch:
                continue  # something changed the session since it was read: read the tail again
            except errors.SessionNotFound:
                return None
            if not rewound.removed:
                continue  # another pop took it first: read the tail again
            item = item_of(last.payload)
            if item is not None:
                return item
            # the last event was not an item (another writer's): it is gone, look at the one before

    async def clear_session(self) -> None:
        """Remove every item: delete the session, then create it again (empty) with the same attributes."""
        await self._mutate(self._clear_session)

    async def _clear_session(self) -> None:
        try:
            session = await self.client.get_session(self.session_id, user_id=self.user_id)
        except errors.SessionNotFound:
            return
        await self.client.delete_session(self.session_id, user_id=self.user_id)
        attributes = {name: getattr(session, name) for name in _RECREATED_FIELDS if getattr(session, name) is not None}
        if not attributes.get("context"):
            attributes.pop("context", None)
        if not attributes.get("metadata"):
            attributes.pop("metadata", None)
        if not attributes.get("runtime_metadata"):
            attributes.pop("runtime_metadata", None)
        options = {**attributes, **self.create_options}
        await self.client.create_session(session_id=self.session_id, user_id=self.user_id, **options)

    # --- forks (AdvancedSQLiteSession's branches, as new sessions) -----------------------------------

    async def fork(self, new_session_id: str | None = None, *, before_turn: int | None = None) -> ServiceSession:
        """A new `ServiceSession` whose history is this one's: all of it, or the items before user turn `before_turn`.

        The service forks in O(1) (the items are read where they are, not copied); this session is
        unchanged, and each goes on on its own. The new session has this one's attributes (title,
        metadata, context, ...) and this object's client, settings and `create_options`. A session
        never written forks into an empty one (nothing is written until the fork's first item).
        Raises `ValueError` when `before_turn` names no user message, `SessionIdTaken` when a live
        session holds `new_session_id`.
        """
        try:
            at_seq = None if before_turn is None else await self._seq_before_turn(before_turn)
            forked = await self.client.fork_session(
                self.session_id, at_seq=at_seq, new_session_id=new_session_id, user_id=self.user_id
            )
            fork_id = forked.session_id
        except errors.SessionNotFound:
            if before_turn is not None:
                raise ValueError(f"Turn {before_turn} does not contain a user message") from None
            fork_id = new_session_id or str(uuid.uuid4())  # nothing stored: the fork is empty too
        return ServiceSession(
            fork_id,
            self.client,
            session_settings=self.session_settings,
            create_options=self.create_options,
            user_id=self.user_id,
        )

    async def create_branch_from_turn(self, turn_number: int, branch_name: str | None = None) -> ServiceSession:
        """AdvancedSQLiteSession's `create_branch_from_turn` as a new session: the items before user turn `turn_number`.

        `branch_name`: the new session's id (a UUID v4 when None). Unlike AdvancedSQLiteSession, this
        object does not switch to the branch: the branch is the `ServiceSession` returned.
        """
        return await self._branch(_branch_id(branch_name), turn_number)

    async def create_branch_from_content(self, search_term: str, branch_name: str | None = None) -> ServiceSession:
        """A branch before the first user turn whose text contains `search_term` (case-insensitive)."""
        branch_id = _branch_id(branch_name)
        turn = 0
        async for _, item in self._items():
            if item.get("role") == "user":
                turn += 1
                if search_term.casefold() in (_text_of(item.get("content")) or "").casefold():
                    return await self._branch(branch_id, turn)
        raise ValueError(f"No user turns found containing '{search_term}'")

    async def _branch(self, branch_id: str | None, turn_number: int) -> ServiceSession:
        try:
            return await self.fork(branch_id, before_turn=turn_number)
        except errors.SessionIdTaken:
            # the SDK's words; a branch id is a session id here, so only a live session's id is refused
            raise ValueError(f"Branch ID '{branch_id}' has already been used. Choose a new branch ID.") from None

    async def _seq_before_turn(self, turn_number: int) -> int:
        """The seq just before the event of user turn `turn_number` (1-based, among the items `get_items` returns)."""
        turn = 0
        if turn_number >= 1:
            async for seq, item in self._items():
                if item.get("role") == "user":
                    turn += 1
                    if turn == turn_number:
                        return seq - 1
        raise ValueError(f"Turn {turn_number} does not contain a user message")

    async def _items(self) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """(seq, item) of every item `get_items()` returns, oldest first."""
        async for event in self.client.iter_history(
            self.session_id, page_size=PAGE_SIZE, order="asc", include_payload=True, user_id=self.user_id
        ):
            if (item := item_of(event.payload)) is not None:
                yield event.seq, item

    # --- compaction (the hooks OpenAIResponsesCompactionSession looks for) ---------------------------

    async def _get_compaction_snapshot(
        self, limit: int, *, prune_prefix: Callable[[Any], bool] | None = None
    ) -> _CompactionSnapshot | None:
        """The latest `limit` items, whether they are the whole history, and their atomic replacement.

        `prune_prefix` (passed by `EncryptedSession`: which items have expired): the replacement also leaves out
        the leading run of expired items before the suffix, as SQLiteSession deletes them in its transaction; see
        `_pruned_replacement`.
        """
        if type(self) is not ServiceSession:
            return None  # a subclass may transform items: it supplies its own snapshot
        try:
            session = await self.client.get_session(self.session_id, user_id=self.user_id)
        except errors.SessionNotFound:
            return _CompactionSnapshot([], True, _nothing_to_replace)
        rows: list[tuple[int, dict[str, Any]]] = []  # (seq, item), newest first
        foreign: list[int] = []  # seqs of events that hold no item (another writer's, markers)
        complete = True
        async for event in self.client.iter_history(
            self.session_id,
            page_size=min(limit + 1, PAGE_SIZE),
            order="desc",
            include_payload=True,
            user_id=self.user_id,
        ):
            item = item_of(event.payload)
            if item is None:
                if not _is_marker(event):
                    foreign.append(event.seq)
                continue
            if len(rows) == limit:
                complete = False  # an item before the window: the snapshot is not the whole history
                break
            rows.append((event.seq, item))
        rows.reverse()
        items = [item for _, item in rows]

        async def replace_suffix(start: int, output: list[Any]) -> bool:
            return bool(await self._mutate(lambda: replace(start, output)))

        async def replace(start: int, output: list[Any]) -> bool:
            expected = rows[start:]
            if not expected:
                return False
            events = [event_of(item) for item in output] or [_marker()]
            whole = start == 0 and complete
            if not whole and any(seq >= expected[0][0] for seq in foreign):
                return False  # events that hold no item among the suffix: not ours to replace
            try:
                replace_from: int | None = None if whole else expected[0][0]
                if not whole and prune_prefix is not None:
                    pruned = await self._pruned_replacement(expected[0][0], events, prune_prefix)
                    if pruned is not None:
                        replace_from, events = pruned
                        whole = True  # the batch's first event is the new base
                if whole:
                    events[0]["base"] = True
                version = await self._append_chained(
                    events[:BATCH_SIZE], if_match=session.version, replace_from_seq=replace_from
                )
            except (errors.VersionMismatch, errors.SessionNotFound, errors.RewindTooLarge):
                return False  # the history changed since the snapshot (or the suffix is too long to replace)
            # the replacement is committed: the rest of the output follows it, and a failure there is the
            # caller's to see (reporting "nothing replaced" would hide a history already changed)
            await self._append_chained(events[BATCH_SIZE:], if_match=version)
            return True

        return _CompactionSnapshot(cast(Any, items), complete, replace_suffix)

    async def _pruned_replacement(
        self, suffix_seq: int, output: list[dict[str, Any]], prune_prefix: Callable[[Any], bool]
    ) -> tuple[int | None, list[dict[str, Any]]] | None:
        """The replacement that also leaves out the expired items leading the history, or None (nothing to prune).

        SQLiteSession deletes, in the replacement's transaction, the leading run of items `prune_prefix` calls
        expired, up to the first one it does not (or cannot read). Here the history's base moves past them: when
        every item before the suffix is expired, the output's first event becomes the base (the suffix replaced as
        usual); when items the run stops at remain (`retained`, at most `_PRUNE_RETAINED_MAX` of them), they are
        appended again, unchanged, in the same batch before the output, the first of them the base, replacing from
        the first retained one. Anything else (an event of another writer among them, more retained items, or
        retained items and output that together pass one batch of 20) prunes nothing: the suffix alone is
        replaced, the expired items stay.
        """
        expired = 0
        retained: list[dict[str, Any]] = []
        retained_seq: int | None = None
        async for event in self.client.iter_history(
            self.session_id, page_size=PAGE_SIZE, order="asc", include_payload=True, user_id=self.user_id
        ):
            if event.seq >= suffix_seq:
                break
            item = item_of(event.payload)
            if item is None:
                if _is_marker(event):
                    continue  # an empty compaction's marker: nothing to keep
                return None  # another writer's event: not ours to copy or to leave out
            if retained_seq is None and prune_prefix(item):
                expired += 1
                continue
            if not expired:
                return None  # the first item is live: nothing to prune
            if retained_seq is None:
                retained_seq = event.seq
            retained.append(event_of(item))
            if len(retained) > _PRUNE_RETAINED_MAX:
                return None
        if not expired:
            return None
        if retained_seq is None:
            return suffix_seq, output
        if len(retained) + len(output) > BATCH_SIZE:
            return None  # the items kept and the output must go in the one atomic batch that drops the prefix
        return retained_seq, retained + output

    async def _atomic_replace_items(self, items: list[Any]) -> bool:
        """Replace the whole history with `items` in one append (a new base); the SDK's manual compaction."""
        if type(self) is not ServiceSession:
            return False
        events = [event_of(item) for item in items] or [_marker()]
        events[0]["base"] = True
        await self._mutate(lambda: self._replace_all(events))
        return True

    async def _replace_all(self, events: list[dict[str, Any]]) -> None:
        try:
            await self._append_chained(events, if_match=None)
        except errors.SessionNotFound:
            await self._append(events[:BATCH_SIZE])  # creates the session (nothing to compact away)
            if len(events) > BATCH_SIZE:
                await self._append_chained(events[BATCH_SIZE:], if_match=None)

    async def _append_chained(
        self, events: list[dict[str, Any]], *, if_match: int | None, replace_from_seq: int | None = None
    ) -> int | None:
        """Append in batches of 20, the first with `replace_from_seq`, each on the version the previous one left.

        Returns the session's version after the last batch (`if_match` when there was nothing to append).
        """
        version = if_match
        for start in range(0, len(events), BATCH_SIZE):
            stored = await self.client.append_events(
                self.session_id,
                events[start : start + BATCH_SIZE],
                if_match=version,
                user_id=self.user_id,
                replace_from_seq=replace_from_seq if start == 0 else None,
            )
            version = stored[-1].session_version
        return version

    # --- plumbing -------------------------------------------------------------------------------

    async def _append(self, events: list[dict[str, Any]]) -> None:
        for attempt in range(2):
            try:
                if len(events) == 1:
                    await self.client.append_event(self.session_id, events[0], user_id=self.user_id)
                else:
                    await self.client.append_events(self.session_id, events, user_id=self.user_id)
                return
            except errors.SessionNotFound:
                if attempt:
                    raise
                # first write: create the session (a concurrent creator's session is returned as is)
                await self.client.create_session(
                    session_id=self.session_id, user_id=self.user_id, **self.create_options
                )


def _branch_id(branch_name: str | None) -> str | None:
    """The session id a branch name gives (None: the service makes one); blank is refused, as the SDK refuses it."""
    if branch_name is not None and not branch_name.strip():
        raise ValueError("Branch name cannot be empty")
    return branch_name


def _is_marker(event: Any) -> bool:
    """Whether an event is the marker an empty compaction output left (this adapter's own, replaceable)."""
    metadata = getattr(event, "metadata", None) or {}
    return (
        getattr(event, "payload", None) is None
        and metadata.get("framework") == FRAMEWORK
        and metadata.get("compaction") == "empty"
    )


async def _nothing_to_replace(start: int, output: list[Any]) -> bool:
    return False


def _marker() -> dict[str, Any]:
    """The event an empty compaction output leaves: no item (get_items and pop_item skip it)."""
    return {"type": "system", "metadata": {"framework": FRAMEWORK, "compaction": "empty"}}


# --- items <-> events ---------------------------------------------------------------------------


def event_of(item: Any) -> dict[str, Any]:
    """The event that stores one SDK input item (a dict, or a pydantic model of the SDK)."""
    if hasattr(item, "model_dump"):
        item = item.model_dump(mode="json", exclude_unset=True)
    item = dict(item)
    item_type = item.get("type") or "message"
    role = item.get("role")
    event: dict[str, Any] = {"metadata": {"framework": FRAMEWORK}}
    if item_type == "message":
        event["type"] = "message"
        if role in ("user", "assistant", "system"):
            event["role"] = role
        elif role == "developer":
            event["role"] = "system"
    elif item_type.endswith(_TOOL_ITEM_SUFFIXES):
        event["type"] = "tool"
        event["role"] = "tool" if item_type.endswith("_output") else "assistant"
    else:
        event["type"] = item_type if _is_event_type(item_type) else "openai_item"
    text = _text_of(item.get("content"))
    if text and len(text.encode("utf-8")) <= _CONTENT_VIEW_LIMIT:
        event["content"] = text
    event["payload"] = pack("item", item)
    return event


def item_of(payload: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The item an event's payload stores, or None when it stores none."""
    value = unpack("item", payload)
    return value if isinstance(value, dict) else None


def _is_event_type(value: str) -> bool:
    return 1 <= len(value) <= 32 and all(c.islower() or c.isdigit() or c in "_.-" for c in value) and value.isascii()


def _text_of(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
        return "\n".join(parts) if parts else None
    return None
