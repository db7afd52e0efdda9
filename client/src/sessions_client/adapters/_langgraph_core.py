"""What the sync and async LangGraph checkpointers share: the mapping onto the service, without I/O.

Every operation is a *plan*: a generator that yields `Request`s (a client method and its arguments)
and receives each answer (or has the client's error thrown into it), and yields `Emit`s for what
`list` streams out. `SessionsSaver` runs plans on a `SessionsClient`, `AsyncSessionsSaver` awaits
them on an `AsyncSessionsClient` (adapters/langgraph.py): one implementation of each operation.
The mapping itself is documented in adapters/langgraph.py and client/README.md.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import random
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from sessions_client import errors
from sessions_client._core import as_identity
from sessions_client.models import Event, History, SessionList

T = TypeVar("T")

SESSION_TYPE = "langgraph"
THREAD_ID_KEY = "langgraph_thread_id"  # the session's metadata: the LangGraph thread it holds
FRAMEWORK = {"framework": "langgraph"}
CHECKPOINT_TYPE = "langgraph.checkpoint"
WRITES_TYPE = "langgraph.writes"
PART_TYPE = "langgraph.part"

# event metadata: what reads filter on, server-side (values encoded by `metadata_value`)
KIND = "langgraph_kind"  # checkpoint | writes | part
NS = "langgraph_ns"  # checkpoint and writes events only, so that a namespace's reads never meet parts
CHECKPOINT_ID = "langgraph_checkpoint_id"
PARENT_ID = "langgraph_parent_id"
TASK_ID = "langgraph_task_id"
DELTA_PENDING = "langgraph_delta_pending"  # "1": a DeltaChannel of this checkpoint needs its ancestors
PART_NS = "langgraph_part_ns"  # a part's checkpoint: what prune and delete_for_runs find it by
PART_OF = "langgraph_part_of"
# a checkpoint's: the lowest seq its writes may hold (a digit string; OWN_SEQ: its own seq). Absent (checkpoints
# put before it existed, or after a writes append of unknown outcome): its writes may lie anywhere
WRITES_FROM = "langgraph_writes_from"
OWN_SEQ = "own"
# the standard checkpoint metadata keys `list(filter=...)` pushes down to the server
PUSHED_DOWN = {"source": "langgraph_source", "step": "langgraph_step", "run_id": "langgraph_run_id"}

METADATA_VALUE_LIMIT = 512
HASHED = "sha256:"
NON_STRING = "json:"
PAYLOAD_FORMAT = 1
PAGE = 100  # history events per request (the service's maximum)
LAST_SEQ = 9_999_999_999  # the highest seq the service gives
STEP_EVENTS = 2  # the events a graph step stores, at least: a checkpoint and its task's writes
FIRST_WINDOW = 16  # a checkpoint by id: the events read back from the end first, then twice as many a request
REMOVE_BATCH = 90  # events one delete_events call removes (one DynamoDB transaction)
# an event's content and payload are at most 5 MiB (5,242,880 bytes), an append body 6,000,000 bytes:
# a record up to INLINE_BYTES is one event; a larger one is cut into parts of PART_CHARS characters of
# its ASCII JSON text (escaped once more as a JSON string: at most twice as long), PARTS_PER_BODY_BYTES a request
INLINE_BYTES = 5_000_000
PART_CHARS = 2_500_000
PARTS_PER_BODY_BYTES = 5_600_000


@dataclass(frozen=True)
class Request:
    """One call of the session client: `getattr(client, method)(*args, **kwargs)`, awaited on the async client."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Emit:
    """A checkpoint tuple `list` hands to its caller as soon as it has it."""

    value: CheckpointTuple


@dataclass(frozen=True)
class Wait:
    """Block until `signal` is set: a `threading.Event` (SessionsSaver) or an `asyncio.Event` (AsyncSessionsSaver)."""

    signal: Any


Step = Request | Emit | Wait
Plan = Generator[Step, Any, T]


def metadata_value(value: Any) -> str | None:
    """The event metadata value standing for `value`, equal for equal values (as Python's `==` has it).

    A string of at most 512 characters is itself; a number or a boolean is `json:` and its canonical
    form (True is 1, 2.0 is 2); a longer string (or one that starts like an encoded value) is `sha256:`
    and its digest. Anything else (None, lists, objects) has none: it is never pushed down.
    """
    if isinstance(value, str):
        if len(value) <= METADATA_VALUE_LIMIT and not value.startswith((HASHED, NON_STRING)):
            return value
        return HASHED + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():
            value = int(value)
    if isinstance(value, int | float):
        text = NON_STRING + repr(value)
        return text if len(text) <= METADATA_VALUE_LIMIT else HASHED + hashlib.sha256(text.encode()).hexdigest()
    return None


def thread_session_id(user_id: str, thread_id: str) -> str:
    """The service's session id of LangGraph thread `thread_id` of `user_id` (threads are scoped by user)."""
    digest = hashlib.sha256(json.dumps([user_id, thread_id]).encode()).hexdigest()
    return f"lg-{digest[:40]}"


def _chunks(items: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    return (items[start : start + size] for start in range(0, len(items), size))


def _encoded_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


@dataclass
class _Listed:
    """A checkpoint event met by a scan, with the writes events met for it.

    `writes_from`: the lowest seq its writes may hold (None: unknown, they may lie anywhere).
    """

    seq: int
    record: dict[str, Any]
    writes: list[dict[str, Any]] = field(default_factory=list)
    writes_from: int | None = None


def writes_from(event: Event) -> int | None:
    """The lowest seq a checkpoint event's writes may hold, as its put recorded it (None: not recorded)."""
    recorded = (event.metadata or {}).get(WRITES_FROM)
    if recorded is None:
        return None
    return event.seq if recorded == OWN_SEQ else min(int(recorded), event.seq)


@dataclass
class _WritesOfCheckpoint:
    """This saver's put_writes appends of one checkpoint: how many are in flight, the lowest seq they got."""

    in_flight: int = 0
    lowest: int | None = None
    unknown: bool = False  # an append failed: it may have landed at a seq never learned
    settled: Any = None  # the signal set when in_flight drops to 0


class _Flights:
    """The puts and put_writes this saver instance has in flight, per (session, namespace, checkpoint id).

    LangGraph calls put_writes(C) without waiting for put(C) (which waits for the previous put), so C's
    writes may land before C's event. To let reads bound a checkpoint's writes by seq, every writes event
    of C gets a seq at or after the bound C's event records: a put_writes arriving while put(C) is in
    flight waits for it (it then lands after C's event); put(C) first waits for the put_writes of C already
    in flight and records the lowest seq any of them got. Nothing else waits: a put_writes for a checkpoint
    this instance never puts goes straight through, and a put waits only on appends that wait on nothing.
    Writes from another process come after C's event (they need to read C first).
    """

    KEPT = 1024  # checkpoints whose writes are remembered (the least recently written forgotten first)

    def __init__(self, signal: Callable[[], Any]) -> None:
        self._signal = signal
        self._lock = threading.Lock()  # the sync saver runs plans on LangGraph's worker threads
        self._puts: dict[tuple[str, str, str], list[Any]] = {}  # [signal set when none is left, puts in flight]
        self._writes: OrderedDict[tuple[str, str, str], _WritesOfCheckpoint] = OrderedDict()

    def start_writes(self, key: tuple[str, str, str]) -> Any:
        """Register a put_writes about to append; or, while put(C) is in flight, the signal to wait for first."""
        with self._lock:
            if key in self._puts:
                return self._puts[key][0]
            entry = self._writes.setdefault(key, _WritesOfCheckpoint())
            self._writes.move_to_end(key)
            if entry.in_flight == 0:
                entry.settled = self._signal()
            entry.in_flight += 1
            self._forget_settled()
            return None

    def end_writes(self, key: tuple[str, str, str], seq: int | None) -> None:
        """A put_writes is done: `seq` its event's seq, None when it failed (it may have landed anyway)."""
        with self._lock:
            entry = self._writes[key]
            if seq is None:
                entry.unknown = True
            else:
                entry.lowest = seq if entry.lowest is None else min(entry.lowest, seq)
            entry.in_flight -= 1
            if entry.in_flight == 0:
                entry.settled.set()

    def start_put(self, key: tuple[str, str, str]) -> Any:
        """Register a put; answers the signal of the put_writes of C still in flight (None: none)."""
        with self._lock:
            put = self._puts.setdefault(key, [self._signal(), 0])  # one id put twice at once: both counted
            put[1] += 1
            entry = self._writes.get(key)
            return entry.settled if entry is not None and entry.in_flight else None

    def writes_bound(self, key: tuple[str, str, str]) -> str | None:
        """What put(C) records as WRITES_FROM, once the writes it waited for settled (None: record nothing)."""
        with self._lock:
            entry = self._writes.get(key)
            if entry is None or entry.lowest is None:
                return None if entry is not None and entry.unknown else OWN_SEQ
            return None if entry.unknown else str(entry.lowest)

    def end_put(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            put = self._puts[key]
            put[1] -= 1
            if put[1] == 0:
                del self._puts[key]
                put[0].set()

    def _forget_settled(self) -> None:
        while len(self._writes) > self.KEPT:
            oldest = next(iter(self._writes))
            if self._writes[oldest].in_flight:
                return
            del self._writes[oldest]


class CheckpointPlans(BaseCheckpointSaver[str]):
    """The LangGraph checkpointer's operations as plans; the savers run them on their client.

    `client`: the session client (its own user, or the user a `service` client acts for, owns the
    threads). `app_name`, `ttl_seconds`: given to the sessions it creates.
    """

    client: Any
    # (session, namespace, checkpoint id) -> (its channel versions, the channels it stored a value for):
    # what `put` needs of a parent to carry values forward without reading it again
    _PARENTS_KEPT = 1024

    def __init__(
        self,
        client: Any,
        *,
        app_name: str | None = None,
        ttl_seconds: int | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self.client = client
        self.app_name = app_name
        self.ttl_seconds = ttl_seconds
        identity = as_identity(getattr(client, "identity", None))
        user = client.user_id or (identity.user_id if identity else None)
        if not user:
            raise ValueError(
                "the saver scopes threads by user: give the client user_id= (a service client acting for a user)"
                " or identity="
            )
        self.user_id: str = user
        self._parents: OrderedDict[tuple[str, str, str], tuple[ChannelVersions, frozenset[str]]] = OrderedDict()
        self._parents_lock = threading.Lock()  # LangGraph's sync loop puts from worker threads
        self._flights = _Flights(self._signal)

    # --- ids and encodings ----------------------------------------------------------------------

    def session_id(self, thread_id: str) -> str:
        """The id of the session holding `thread_id` of the saver's user."""
        if not isinstance(thread_id, str) or not thread_id or len(thread_id) > METADATA_VALUE_LIMIT:
            raise ValueError(f"a thread_id is a string of 1 to {METADATA_VALUE_LIMIT} characters here")
        return thread_session_id(self.user_id, thread_id)

    def _typed(self, value: Any) -> list[str]:
        kind, data = self.serde.dumps_typed(value)
        return [kind, base64.b64encode(data).decode("ascii")]

    def _untyped(self, typed: Sequence[str]) -> Any:
        return self.serde.loads_typed((typed[0], base64.b64decode(typed[1])))

    @staticmethod
    def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}}

    # --- I/O steps ------------------------------------------------------------------------------

    def _page(
        self,
        session_id: str,
        where: Mapping[str, str],
        cursor: str | None,
        *,
        payload: bool,
        limit: int,
        seqs: tuple[int | None, int | None] = (None, None),
    ) -> Plan[History]:
        """A page of the events holding every pair of `where`, newest first, within `seqs` (inclusive bounds)."""
        query: dict[str, Any] = {
            "limit": limit,
            "cursor": cursor,
            "order": "desc",
            "include_payload": payload,
            "metadata": where,
        }
        for name, bound in zip(("from_seq", "to_seq"), seqs, strict=True):
            if bound is not None:
                query[name] = bound  # the Query's key condition: nothing outside the range is read
        page: History = yield Request("get_history", (session_id,), query)
        return page

    def _scan(
        self,
        session_id: str,
        where: Mapping[str, str],
        visit: Callable[[Event], Plan[bool]],
        *,
        payload: bool = True,
        limit: int = PAGE,
        seqs: tuple[int | None, int | None] = (None, None),
    ) -> Plan[bool]:
        """Visit the events holding every pair of `where`, newest first, until `visit` answers False.

        Answers whether `visit` stopped it. `seqs`: the (from_seq, to_seq) range read (None: no bound).
        """
        cursor: str | None = None
        while True:
            page = yield from self._page(session_id, where, cursor, payload=payload, limit=limit, seqs=seqs)
            for event in page.events:
                if not (yield from visit(event)):
                    return True
            if not page.next_cursor:
                return False
            cursor = page.next_cursor

    def _backwards(
        self,
        session_id: str,
        visit: Callable[[Event], Plan[bool]],
        *,
        payload: bool,
        first: int,
        floor: Callable[[], int | None],
    ) -> Plan[None]:
        """Visit every event newest first until `visit` answers False or `floor()` (the lowest seq still needed,
        None: no bound yet) is passed: `first` events, then twice as many a request (up to PAGE).

        No filter: a filtered Query reads ahead (up to 4 items per one asked, service side), this one reads
        the events it answers and one more; each request's range is the Query's key condition (to_seq: below
        what was read; from_seq: the floor, once known).
        """
        high: int | None = None
        limit = first
        while True:
            low = floor()
            if low is not None and high is not None and low > high:
                return
            page = yield from self._page(session_id, {}, None, payload=payload, limit=limit, seqs=(low, high))
            for event in page.events:
                if not (yield from visit(event)):
                    return
            if not page.events or not page.next_cursor:
                return
            high, limit = page.events[-1].seq - 1, min(PAGE, limit * 2)

    def _seqs(self, session_id: str, where: Mapping[str, str]) -> Plan[list[int]]:
        """The seqs of the events holding every pair of `where` (metadata only, no payload read)."""
        seqs: list[int] = []

        def visit(event: Event) -> Plan[bool]:
            seqs.append(event.seq)
            return True
            yield  # a plan that asks nothing

        yield from self._scan(session_id, where, visit, payload=False)
        return seqs

    def _record(self, session_id: str, event: Event) -> Plan[dict[str, Any]]:
        """The record an event holds: its payload, or the text of its parts put back together."""
        payload = dict(event.payload or {})
        if "parts" not in payload:
            return payload
        text = []
        for seq in payload["parts"]:
            part: Event = yield Request("get_event", (session_id, seq))
            text.append((part.payload or {})["data"])
        record: dict[str, Any] = json.loads("".join(text))
        return record

    def _remove(self, session_id: str, seqs: Iterable[int]) -> Plan[None]:
        for chunk in _chunks(sorted(set(seqs)), REMOVE_BATCH):
            yield Request("delete_events", (session_id,), {"seqs": list(chunk)})

    def _create_session(self, session_id: str, thread_id: str) -> Plan[None]:
        # create-or-get: a session created meanwhile by another writer is answered, not refused
        yield Request(
            "create_session",
            (),
            {
                "session_id": session_id,
                "session_type": SESSION_TYPE,
                "app_name": self.app_name,
                "metadata": {**FRAMEWORK, THREAD_ID_KEY: thread_id},
                "ttl_seconds": self.ttl_seconds,
            },
        )

    def _append(self, session_id: str, thread_id: str, events: list[dict[str, Any]]) -> Plan[list[Event]]:
        """Append events in one atomic step; the thread's session is created by the first append that needs it."""
        request = (
            Request("append_event", (session_id, events[0]))
            if len(events) == 1
            else Request("append_events", (session_id, events))
        )
        try:
            answer = yield request
        except errors.SessionNotFound:
            yield from self._create_session(session_id, thread_id)
            answer = yield request
        return answer if isinstance(answer, list) else [answer]

    def _store(
        self, session_id: str, thread_id: str, event_type: str, meta: dict[str, str], record: dict[str, Any]
    ) -> Plan[int]:
        """Append one record: one event, or parts appended first and the event naming them last; its event's seq.

        A failure after some parts were appended removes them (nothing refers to them yet).
        """
        body = {"type": event_type, "metadata": meta, "payload": record}
        if _encoded_size(record) <= INLINE_BYTES:
            (event,) = yield from self._append(session_id, thread_id, [body])
            return event.seq
        text = json.dumps(record, separators=(",", ":"), ensure_ascii=True)
        part_meta = {KIND: "part", PART_NS: meta[NS], PART_OF: meta[CHECKPOINT_ID]}
        parts = [
            {"type": PART_TYPE, "metadata": part_meta, "payload": {"data": text[start : start + PART_CHARS]}}
            for start in range(0, len(text), PART_CHARS)
        ]
        seqs: list[int] = []
        try:
            for batch in _batches(parts):
                seqs.extend(event.seq for event in (yield from self._append(session_id, thread_id, batch)))
            header = {key: record[key] for key in ("v", "checkpoint_ns", "checkpoint_id") if key in record}
            (event,) = yield from self._append(session_id, thread_id, [{**body, "payload": {**header, "parts": seqs}}])
            return event.seq
        except errors.SessionsError:
            # the first error is the one to report; parts nothing refers to are never read
            with contextlib.suppress(errors.SessionsError):
                yield from self._remove(session_id, seqs)
            raise

    # --- put ------------------------------------------------------------------------------------

    def _put_plan(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> Plan[RunnableConfig]:
        configurable = config["configurable"]
        thread_id: str = configurable["thread_id"]
        ns: str = configurable.get("checkpoint_ns", "")
        parent_id: str | None = configurable.get("checkpoint_id")
        session_id = self.session_id(thread_id)
        values = checkpoint["channel_values"]
        versions = checkpoint["channel_versions"]
        # every versioned channel's value at this checkpoint, as LangGraph's savers load it (the value stored
        # with that version): given now, or carried from the parent that holds the same version
        stored = {channel: self._typed(values[channel]) for channel in versions if channel in values}
        unsent = [channel for channel in versions if channel not in values and channel not in new_versions]
        if unsent and parent_id:
            stored.update((yield from self._carried(session_id, thread_id, ns, parent_id, unsent, versions)))
        kept = {key: value for key, value in checkpoint.items() if key != "channel_values"}
        full_metadata = get_checkpoint_metadata(config, metadata)
        record = {
            "v": PAYLOAD_FORMAT,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": parent_id,
            "checkpoint": self._typed(kept),
            "metadata": self._typed(full_metadata),
            "channel_values": stored,
        }
        meta = self._checkpoint_meta(ns, checkpoint["id"], parent_id, full_metadata)
        key = (session_id, ns, checkpoint["id"])
        writes_settled = self._flights.start_put(key)  # from now on, put_writes of this checkpoint wait for it
        try:
            if writes_settled is not None:
                yield Wait(writes_settled)  # its writes already in flight land first: their seqs are recorded
            bound = self._flights.writes_bound(key)
            if bound is not None:
                meta[WRITES_FROM] = bound
            yield from self._store(session_id, thread_id, CHECKPOINT_TYPE, meta, record)
        finally:
            self._flights.end_put(key)
        self._remember(session_id, ns, checkpoint["id"], dict(versions), frozenset(stored))
        return self._config(thread_id, ns, checkpoint["id"])

    @staticmethod
    def _checkpoint_meta(
        ns: str, checkpoint_id: str, parent_id: str | None, metadata: Mapping[str, Any]
    ) -> dict[str, str]:
        meta = {KIND: "checkpoint", NS: metadata_value(ns) or "", CHECKPOINT_ID: metadata_value(checkpoint_id) or ""}
        if parent_id:
            meta[PARENT_ID] = metadata_value(parent_id) or ""
        if metadata.get("counters_since_delta_snapshot"):
            meta[DELTA_PENDING] = "1"
        for key, meta_key in PUSHED_DOWN.items():
            value = metadata_value(metadata[key]) if key in metadata else None
            if value is not None:
                meta[meta_key] = value
        return meta

    def _remember(
        self, session_id: str, ns: str, checkpoint_id: str, versions: ChannelVersions, stored: frozenset[str]
    ) -> None:
        with self._parents_lock:
            self._parents[(session_id, ns, checkpoint_id)] = (versions, stored)
            self._parents.move_to_end((session_id, ns, checkpoint_id))
            while len(self._parents) > self._PARENTS_KEPT:
                self._parents.popitem(last=False)

    def _carried(
        self,
        session_id: str,
        thread_id: str,
        ns: str,
        parent_id: str,
        channels: list[str],
        versions: ChannelVersions,
    ) -> Plan[dict[str, list[str]]]:
        """The parent's stored values of `channels` at the versions this checkpoint has (the rest: none).

        Read only when the parent may hold one: what this saver put is remembered (a DeltaChannel between
        snapshots, the only channel LangGraph leaves out of a checkpoint while keeping its version, needs
        the read when its snapshot was stored at that version).
        """
        with self._parents_lock:
            known = self._parents.get((session_id, ns, parent_id))
        if known is not None:
            parent_versions, parent_stored = known
            if not any(ch in parent_stored and parent_versions.get(ch) == versions[ch] for ch in channels):
                return {}
        found = yield from self._by_id(session_id, ns, parent_id, with_writes=False)
        if found is None:
            return {}
        parent_versions = self._untyped(found.record["checkpoint"])["channel_versions"]
        parent_values: dict[str, list[str]] = found.record["channel_values"]
        return {
            ch: parent_values[ch] for ch in channels if ch in parent_values and parent_versions.get(ch) == versions[ch]
        }

    # --- put_writes -----------------------------------------------------------------------------

    def _put_writes_plan(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str
    ) -> Plan[None]:
        if not writes:
            return
        configurable = config["configurable"]
        thread_id: str = configurable["thread_id"]
        ns: str = configurable.get("checkpoint_ns", "")
        checkpoint_id: str = configurable["checkpoint_id"]
        record = {
            "v": PAYLOAD_FORMAT,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
            "task_id": task_id,
            "task_path": task_path,
            # special channels (errors, interrupts, ...) take their fixed negative index, as in every LangGraph saver
            "writes": [
                [WRITES_IDX_MAP.get(channel, idx), channel, self._typed(value)]
                for idx, (channel, value) in enumerate(writes)
            ],
        }
        meta = {
            KIND: "writes",
            NS: metadata_value(ns) or "",
            CHECKPOINT_ID: metadata_value(checkpoint_id) or "",
            TASK_ID: metadata_value(task_id) or "",
        }
        session_id = self.session_id(thread_id)
        key = (session_id, ns, checkpoint_id)
        while (put_in_flight := self._flights.start_writes(key)) is not None:
            yield Wait(put_in_flight)  # put(C) is being stored by this instance: these writes land after it
        seq: int | None = None
        try:
            seq = yield from self._store(session_id, thread_id, WRITES_TYPE, meta, record)
        finally:
            self._flights.end_writes(key, seq)

    def _pending_writes(self, records: Iterable[dict[str, Any]]) -> list[PendingWrite]:
        """The writes of a checkpoint as LangGraph's savers keep them, in `writes_sort_key` order.

        `records`: its writes records, oldest first. A (task, index) already written is kept as first
        written (a retried task's writes are not stored twice); a special channel's (negative index) last
        write replaces the earlier ones.
        """
        kept: dict[tuple[str, int], tuple[str, list[str], str]] = {}
        for record in records:
            task_id, task_path = record["task_id"], record.get("task_path", "")
            for idx, channel, typed in record["writes"]:
                key = (task_id, idx)
                if idx >= 0 and key in kept:
                    continue
                kept[key] = (channel, typed, task_path)
        order = sorted(kept, key=lambda key: writes_sort_key(kept[key][2], key[0], key[1]))
        return [(key[0], kept[key][0], self._untyped(kept[key][1])) for key in order]

    # --- reading checkpoints --------------------------------------------------------------------

    def _tuple(self, thread_id: str, found: _Listed) -> CheckpointTuple:
        record = found.record
        ns, checkpoint_id, parent_id = record["checkpoint_ns"], record["checkpoint_id"], record["parent_checkpoint_id"]
        checkpoint = self._untyped(record["checkpoint"])
        checkpoint["channel_values"] = {ch: self._untyped(typed) for ch, typed in record["channel_values"].items()}
        return CheckpointTuple(
            config=self._config(thread_id, ns, checkpoint_id),
            checkpoint=cast(Checkpoint, checkpoint),
            metadata=cast(CheckpointMetadata, self._untyped(record["metadata"])),
            parent_config=self._config(thread_id, ns, parent_id) if parent_id else None,
            pending_writes=self._pending_writes(reversed(found.writes)),
        )

    def _by_id(
        self, session_id: str, ns: str | None, checkpoint_id: str, *, with_writes: bool = True
    ) -> Plan[_Listed | None]:
        """A checkpoint by id (in namespace `ns`, or in any when None) and, by default, its writes.

        The newest copy wins should one id have been put twice. The thread's events are read back from its
        end (metadata only, `_backwards`) down to the checkpoint and the lowest seq its writes may hold, then
        it and its writes one by one: what it reads grows with its distance from the end of the thread, not
        with what lies before it.
        """
        wanted_id, wanted_ns = metadata_value(checkpoint_id) or "", None if ns is None else metadata_value(ns) or ""
        checkpoints: list[Event] = []
        writes: list[Event] = []

        def visit(event: Event) -> Plan[bool]:
            meta = event.metadata or {}
            if meta.get(CHECKPOINT_ID) != wanted_id or (wanted_ns is not None and meta.get(NS) != wanted_ns):
                return True
            if meta.get(KIND) == "writes":
                writes.append(event)
            elif meta.get(KIND) == "checkpoint":
                checkpoints.append(event)
                return with_writes  # its writes: those met so far, and those down to its bound
            return True
            yield  # a plan that asks nothing

        def floor() -> int | None:
            if not checkpoints:
                return None
            return writes_from(checkpoints[0]) or 1

        yield from self._backwards(session_id, visit, payload=False, first=FIRST_WINDOW, floor=floor)
        for event in checkpoints:
            record = yield from self._record(session_id, (yield Request("get_event", (session_id, event.seq))))
            if record["checkpoint_id"] == checkpoint_id and (ns is None or record["checkpoint_ns"] == ns):
                found = _Listed(event.seq, record, writes_from=writes_from(event))
                break
        else:
            return None
        if with_writes:
            for event in writes:
                record = yield from self._record(session_id, (yield Request("get_event", (session_id, event.seq))))
                # writes of another checkpoint of the same id in another namespace are not its writes
                if (
                    record["checkpoint_id"] == checkpoint_id
                    and record["checkpoint_ns"] == found.record["checkpoint_ns"]
                ):
                    found.writes.append(record)
        return found

    def _latest(self, session_id: str, ns: str) -> Plan[_Listed | None]:
        """The namespace's latest checkpoint and its writes (`_walk`)."""
        listed = yield from self._walk(session_id, ns, want=1, keep=lambda found: True)
        return listed[0] if listed else None

    def _walk(
        self,
        session_id: str,
        ns: str | None,
        *,
        want: int,
        keep: Callable[[_Listed], bool],
        checkpoint_id: str | None = None,
        pushed: Mapping[str, str] | None = None,
    ) -> Plan[list[_Listed]]:
        """The first `want` (-1: every) checkpoints that `keep` accepts, newest first, each with its writes.

        `ns`: their namespace (None: any). The thread's events are read back from its end (`_backwards`: a
        step's events or so per checkpoint wanted, then twice as many a request), down to the lowest seq the
        listed checkpoints' writes may hold (their puts recorded it: LangGraph sends a checkpoint's writes
        without waiting for its put, so one may precede it). What it reads grows with the distance of the
        last one listed from the end of the thread, not with the thread. With `pushed` (checkpoint metadata
        the server selects on, which writes lack): the checkpoints the server selects, then their writes
        from that lowest seq on (two filtered scans).
        """
        together = not pushed
        where: dict[str, str] = {KIND: "checkpoint", **(pushed or {})}
        if ns is not None:
            where[NS] = metadata_value(ns) or ""
        if checkpoint_id is not None:
            where[CHECKPOINT_ID] = metadata_value(checkpoint_id) or ""
        listed: list[_Listed] = []
        writes: dict[tuple[str, str], list[Event]] = {}  # writes events met, newest first, by encoded (ns, id)
        floor: list[int | None] = [LAST_SEQ]  # the lowest seq the listed checkpoints' writes may hold (None: any)

        def visit(event: Event) -> Plan[bool]:
            if len(listed) == want and floor[0] is not None and event.seq < floor[0]:
                return False
            meta = event.metadata or {}
            if meta.get(KIND) == "writes":
                writes.setdefault((meta.get(NS, ""), meta.get(CHECKPOINT_ID, "")), []).append(event)
            elif meta.get(KIND) == "checkpoint" and len(listed) != want:
                record = yield from self._record(session_id, event)
                if (ns is not None and record["checkpoint_ns"] != ns) or (
                    checkpoint_id is not None and record["checkpoint_id"] != checkpoint_id
                ):
                    return True
                found = _Listed(event.seq, record, writes_from=writes_from(event))
                if keep(found):
                    listed.append(found)
                    lowest = floor[0]
                    floor[0] = None if lowest is None or found.writes_from is None else min(lowest, found.writes_from)
                    return together or len(listed) != want  # two passes: the checkpoints' ends at the last wanted
            return True

        if together:  # one pass over every event, newest first, no filter (where is unused)
            yield from self._backwards(
                session_id,
                visit,
                payload=True,
                first=min(PAGE, STEP_EVENTS * want) if want > 0 else PAGE,
                floor=lambda: floor[0] if len(listed) == want else None,
            )
        else:  # the checkpoints the server selects, then their writes from the lowest seq any may hold
            limit = PAGE if want < 0 else min(PAGE, want)
            yield from self._scan(session_id, where, visit, limit=limit)
            if listed:
                where_writes = {KIND: "writes"}
                if ns is not None:
                    where_writes[NS] = metadata_value(ns) or ""
                if len(listed) == 1:
                    where_writes[CHECKPOINT_ID] = metadata_value(listed[0].record["checkpoint_id"]) or ""
                yield from self._scan(session_id, where_writes, visit, limit=PAGE, seqs=(floor[0], None))
        yield from self._attach_writes(session_id, listed, writes)
        return listed

    def _attach_writes(
        self, session_id: str, listed: list[_Listed], writes: Mapping[tuple[str, str], list[Event]]
    ) -> Plan[None]:
        """Each listed checkpoint's writes records, from the writes events met (by encoded namespace and id)."""
        for found in listed:
            key = (found.record["checkpoint_ns"], found.record["checkpoint_id"])
            for event in writes.get((metadata_value(key[0]) or "", metadata_value(key[1]) or ""), []):
                record = yield from self._record(session_id, event)
                if (record["checkpoint_ns"], record["checkpoint_id"]) == key:
                    found.writes.append(record)

    def _get_tuple_plan(self, config: RunnableConfig) -> Plan[CheckpointTuple | None]:
        configurable = config["configurable"]
        thread_id: str = configurable["thread_id"]
        ns: str = configurable.get("checkpoint_ns", "")
        session_id = self.session_id(thread_id)
        checkpoint_id = get_checkpoint_id(config)
        try:
            if checkpoint_id:
                found = yield from self._by_id(session_id, ns, checkpoint_id)
            else:
                found = yield from self._latest(session_id, ns)
        except errors.SessionNotFound:
            return None
        return self._tuple(thread_id, found) if found is not None else None

    # --- list -----------------------------------------------------------------------------------

    def _list_plan(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Plan[None]:
        """Newest first; `before`: checkpoints whose id sorts before it; `filter`: metadata pairs all held.

        The standard keys of `filter` (source, step, run_id) are asked of the server; every key is
        then checked on the checkpoint's whole metadata, so the answer is exact either way.
        """
        wanted = dict(filter or {})
        before_id = get_checkpoint_id(before) if before else None
        budget = [limit if limit is not None else -1]

        def keep(found: _Listed) -> bool:
            if before_id is not None and found.record["checkpoint_id"] >= before_id:
                return False
            if wanted:
                metadata = self._untyped(found.record["metadata"])
                if not all(metadata.get(key) == value for key, value in wanted.items()):
                    return False
            return True

        if config is None:
            threads = yield from self._threads()
        else:
            threads = [config["configurable"]["thread_id"]]
        for thread_id in threads:
            if budget[0] == 0:
                return
            try:
                yield from self._list_thread(thread_id, config, wanted, keep, budget)
            except errors.SessionNotFound:
                continue

    def _threads(self) -> Plan[list[str]]:
        """The thread ids of the saver's user's LangGraph sessions."""
        threads: list[str] = []
        cursor: str | None = None
        while True:
            page: SessionList = yield Request(
                "list_sessions", (), {"session_type": SESSION_TYPE, "limit": PAGE, "cursor": cursor}
            )
            for session in page.sessions:
                thread_id = session.metadata.get(THREAD_ID_KEY)
                if thread_id is not None and session.session_id == thread_session_id(self.user_id, thread_id):
                    threads.append(thread_id)
            if not page.next_cursor:
                return threads
            cursor = page.next_cursor

    def _list_thread(
        self,
        thread_id: str,
        config: RunnableConfig | None,
        wanted: Mapping[str, Any],
        keep: Callable[[_Listed], bool],
        budget: list[int],
    ) -> Plan[None]:
        session_id = self.session_id(thread_id)
        configurable = config["configurable"] if config else {}
        ns: str | None = configurable.get("checkpoint_ns")
        checkpoint_id = get_checkpoint_id(config) if config else None
        pushed = {
            PUSHED_DOWN[key]: encoded
            for key, value in wanted.items()
            if key in PUSHED_DOWN and (encoded := metadata_value(value)) is not None
        }

        listed = yield from self._walk(
            session_id, ns, want=budget[0], keep=keep, checkpoint_id=checkpoint_id, pushed=pushed
        )
        for found in listed:
            yield Emit(self._tuple(thread_id, found))
            budget[0] -= 1

    # --- removal and copies ---------------------------------------------------------------------

    def _delete_thread_plan(self, thread_id: str) -> Plan[None]:
        yield Request("delete_session", (self.session_id(thread_id),))

    def _delete_for_runs_plan(self, run_ids: Sequence[str]) -> Plan[None]:
        """Remove the checkpoints of those runs, with their writes and parts, from every thread of the user."""
        runs = [encoded for run_id in run_ids if (encoded := metadata_value(run_id)) is not None]
        if not runs:
            return
        for thread_id in (yield from self._threads()):
            session_id = self.session_id(thread_id)
            try:
                doomed: list[int] = []
                for run in runs:
                    targets: list[Event] = []

                    def visit(event: Event) -> Plan[bool]:
                        targets.append(event)  # noqa: B023 - used before the next run's list replaces it
                        return True
                        yield  # a plan that asks nothing

                    yield from self._scan(
                        session_id, {KIND: "checkpoint", PUSHED_DOWN["run_id"]: run}, visit, payload=False
                    )
                    for event in targets:
                        meta = event.metadata or {}
                        doomed.append(event.seq)
                        doomed.extend((yield from self._companions(session_id, meta[NS], meta[CHECKPOINT_ID])))
                if doomed:
                    yield from self._remove(session_id, doomed)
            except errors.SessionNotFound:
                continue

    def _companions(self, session_id: str, ns: str, checkpoint_id: str) -> Plan[list[int]]:
        """The seqs of a checkpoint's writes and of its (and its writes') parts (encoded ns and id)."""
        writes = yield from self._seqs(session_id, {KIND: "writes", NS: ns, CHECKPOINT_ID: checkpoint_id})
        parts = yield from self._seqs(session_id, {KIND: "part", PART_NS: ns, PART_OF: checkpoint_id})
        return writes + parts

    def _copy_thread_plan(self, source_thread_id: str, target_thread_id: str) -> Plan[None]:
        """Fork the source's session into the target's: every checkpoint and write, in O(1) writes."""
        try:
            yield Request(
                "fork_session",
                (self.session_id(source_thread_id),),
                {
                    "new_session_id": self.session_id(target_thread_id),
                    "metadata": {**FRAMEWORK, THREAD_ID_KEY: target_thread_id},
                },
            )
        except errors.SessionNotFound:
            return  # nothing to copy
        except errors.SessionIdTaken as taken:
            raise ValueError(
                f"thread {target_thread_id!r} already exists: copy_thread copies into a new thread"
            ) from taken

    def _fork_thread_plan(
        self, source_thread_id: str, target_thread_id: str, checkpoint_id: str | None, ns: str
    ) -> Plan[RunnableConfig | None]:
        """A new thread holding the source's history up to a checkpoint (time travel onto a branch of its own)."""
        source = self.session_id(source_thread_id)
        at_seq: int | None = None
        if checkpoint_id is not None:
            try:
                found = yield from self._by_id(source, ns, checkpoint_id, with_writes=False)
            except errors.SessionNotFound:
                return None
            if found is None:
                return None
            at_seq = found.seq
        try:
            yield Request(
                "fork_session",
                (source,),
                {
                    "at_seq": at_seq,
                    "new_session_id": self.session_id(target_thread_id),
                    "metadata": {**FRAMEWORK, THREAD_ID_KEY: target_thread_id},
                },
            )
        except errors.SessionNotFound:
            return None
        except errors.SessionIdTaken as taken:
            raise ValueError(f"thread {target_thread_id!r} already exists: fork into a new thread") from taken
        config: RunnableConfig = {"configurable": {"thread_id": target_thread_id, "checkpoint_ns": ns}}
        if checkpoint_id is not None:
            config["configurable"]["checkpoint_id"] = checkpoint_id
        return config

    def _prune_plan(self, thread_ids: Sequence[str], strategy: str) -> Plan[None]:
        if strategy not in {"keep_latest", "delete"}:
            raise ValueError(f"unknown prune strategy {strategy!r}: keep_latest or delete")
        for thread_id in thread_ids:
            if strategy == "delete":
                yield from self._delete_thread_plan(thread_id)
                continue
            session_id = self.session_id(thread_id)
            try:
                doomed = yield from self._prunable(session_id)
                yield from self._remove(session_id, doomed)
            except errors.SessionNotFound:
                continue

    def _prunable(self, session_id: str) -> Plan[list[int]]:
        """What `keep_latest` removes: all but each namespace's latest checkpoint, and its writes and parts.

        DeltaChannel: a kept checkpoint whose metadata counts updates since a channel's last snapshot
        (`counters_since_delta_snapshot`) keeps its parent too, and so on up to the first ancestor without
        such counts (every delta channel snapshotted there), so delta channels still rebuild.
        """
        events: list[Event] = []

        def visit(event: Event) -> Plan[bool]:
            events.append(event)
            return True
            yield  # a plan that asks nothing

        yield from self._scan(session_id, {}, visit, payload=False)
        checkpoints: dict[tuple[str, str], dict[str, str]] = {}  # (ns, id) -> metadata of its newest copy
        latest: dict[str, tuple[str, str]] = {}  # ns -> (ns, id) of its newest checkpoint
        for event in events:  # newest first
            meta = event.metadata or {}
            if meta.get(KIND) == "checkpoint":
                key = (meta[NS], meta[CHECKPOINT_ID])
                checkpoints.setdefault(key, meta)
                latest.setdefault(meta[NS], key)
        kept: set[tuple[str, str]] = set()
        for newest in latest.values():
            key = newest
            while key not in kept:
                kept.add(key)
                meta = checkpoints[key]
                parent = (key[0], meta.get(PARENT_ID, ""))
                if meta.get(DELTA_PENDING) != "1" or parent not in checkpoints:
                    break
                key = parent
        doomed = []
        for event in events:
            meta = event.metadata or {}
            kind = meta.get(KIND)
            if kind in {"checkpoint", "writes"}:
                owner = (meta.get(NS, ""), meta.get(CHECKPOINT_ID, ""))
            elif kind == "part":
                owner = (meta.get(PART_NS, ""), meta.get(PART_OF, ""))
            else:
                continue  # not the saver's: left as it is
            if owner not in kept:
                doomed.append(event.seq)
        return doomed

    # --- versions -------------------------------------------------------------------------------

    def get_next_version(self, current: str | None, channel: None) -> str:
        """As InMemorySaver: `<counter, 32 digits>.<random>`, increasing as strings and as numbers."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"  # noqa: S311 - a tie-breaker, not a secret

    # --- the checkpointer interface: each operation's plan, run by the saver's driver ------------

    def _signal(self) -> Any:
        """A new signal its driver can wait on (`Wait`): set once, from the thread or loop the plans run on."""
        raise NotImplementedError

    def _run(self, plan: Plan[T]) -> T:
        """Run a plan from synchronous code."""
        raise NotImplementedError

    def _iterate(self, plan: Plan[None]) -> Iterator[CheckpointTuple]:
        """Run a plan from synchronous code, yielding what it emits."""
        raise NotImplementedError

    async def _arun(self, plan: Plan[T]) -> T:
        """Run a plan from asynchronous code."""
        raise NotImplementedError

    def _aiterate(self, plan: Plan[None]) -> AsyncIterator[CheckpointTuple]:
        """Run a plan from asynchronous code, yielding what it emits."""
        raise NotImplementedError

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._run(self._get_tuple_plan(config))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._arun(self._get_tuple_plan(config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        return self._iterate(self._list_plan(config, filter=filter, before=before, limit=limit))

    def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        return self._aiterate(self._list_plan(config, filter=filter, before=before, limit=limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._run(self._put_plan(config, checkpoint, metadata, new_versions))

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._arun(self._put_plan(config, checkpoint, metadata, new_versions))

    def put_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self._run(self._put_writes_plan(config, writes, task_id, task_path))

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._arun(self._put_writes_plan(config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._run(self._delete_thread_plan(thread_id))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._arun(self._delete_thread_plan(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        self._run(self._delete_for_runs_plan(run_ids))

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await self._arun(self._delete_for_runs_plan(run_ids))

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self._run(self._copy_thread_plan(source_thread_id, target_thread_id))

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._arun(self._copy_thread_plan(source_thread_id, target_thread_id))

    def fork_thread(
        self, source_thread_id: str, target_thread_id: str, *, checkpoint_id: str | None = None, checkpoint_ns: str = ""
    ) -> RunnableConfig | None:
        """A new thread with the source's history up to `checkpoint_id` (default: all of it), in O(1) writes.

        Answers the config to resume the new thread from that checkpoint (None: no such source or checkpoint).
        """
        return self._run(self._fork_thread_plan(source_thread_id, target_thread_id, checkpoint_id, checkpoint_ns))

    async def afork_thread(
        self, source_thread_id: str, target_thread_id: str, *, checkpoint_id: str | None = None, checkpoint_ns: str = ""
    ) -> RunnableConfig | None:
        """As `fork_thread`."""
        plan = self._fork_thread_plan(source_thread_id, target_thread_id, checkpoint_id, checkpoint_ns)
        return await self._arun(plan)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        self._run(self._prune_plan(thread_ids, strategy))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await self._arun(self._prune_plan(thread_ids, strategy))


def _batches(parts: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Parts grouped into append requests that stay within the service's body limit."""
    batch: list[dict[str, Any]] = []
    size = 0
    for part in parts:
        part_size = _encoded_size(part)
        if batch and size + part_size > PARTS_PER_BODY_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(part)
        size += part_size
    if batch:
        yield batch
