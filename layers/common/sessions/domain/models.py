"""Pydantic models of what clients send and receive."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from sessions.core.clock import MIN_MS, format_ms, now_ms, parse_timestamp
from sessions.core.settings import DEFAULT_MAX_TTL_SECONDS, TTL_MIN_SECONDS, get_settings
from sessions.domain.limits import (
    EVENT_PARTS_MAX_BYTES,
    ObjectTooLarge,
    check_json_object,
    check_number,
    check_storable,
    serialized_size,
)
from sessions.domain.status import Status
from sessions.domain.text import TITLE_MAX_LENGTH, TITLE_PATTERN, sanitize_title

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
RESERVED_SESSION_IDS = frozenset({"stats"})
METADATA_MAX_PAIRS = 16
CONTENT_MAX_BYTES = 32 * 1024


class RuntimeBackend(StrEnum):
    LOCAL = "local"
    KUBERNETES = "kubernetes"
    LAMBDA = "lambda"
    UNKNOWN = "unknown"


def _storable_object(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_json_object(value)
    except ObjectTooLarge as exc:
        # its own error type, so the API answers 413 rather than 422
        raise PydanticCustomError("payload_too_large", str(exc)) from None


def _content_within(limit: int) -> AfterValidator:
    def check(content: str) -> str:
        size = len(content.encode("utf-8", errors="surrogatepass"))
        if size > limit:
            raise PydanticCustomError("payload_too_large", f"content is {size} bytes; the limit is {limit}")
        return content

    return AfterValidator(check)


def _event_payload(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_json_object(value, max_bytes=EVENT_PARTS_MAX_BYTES)
    except ObjectTooLarge as exc:
        raise PydanticCustomError("payload_too_large", str(exc)) from None


def _not_reserved(session_id: str) -> str:
    if session_id in RESERVED_SESSION_IDS:
        raise ValueError(f"session_id {session_id!r} is reserved")
    return session_id


def _within_max_ttl(seconds: int) -> int:
    limit = get_settings().max_ttl_seconds
    if seconds > limit:
        raise ValueError(f"ttl_seconds must be at most {limit}")
    return seconds


def _integral_float_as_int(value: Any) -> Any:
    # JSON has one number type: 5.0 is the integer 5 (as JSON Schema's "integer" says); "5" and true are not
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _storable_amount(number: float) -> int | float:
    check_number(number)
    # answered as every read answers it: an integral amount (850.0) is the integer 850
    return int(number) if number.is_integer() else number


def _storable_patch(patch: dict[str, Any]) -> dict[str, Any]:
    # nesting and numbers are checked before merging; the size once merged, against the limit
    check_storable(patch)
    return patch


# Both are stated in the OpenAPI document as StorableJsonObject (limits.STORABLE_JSON_SCHEMAS).
_STORABLE_OBJECT_SCHEMA = WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/StorableJsonObject"}]})
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_object), _STORABLE_OBJECT_SCHEMA]
JsonPatch = Annotated[dict[str, Any], AfterValidator(_storable_patch), _STORABLE_OBJECT_SCHEMA]
# An event's payload: storable like every object, up to 5 MiB with its content (parts over 32 KiB go to S3).
EventPayload = Annotated[dict[str, Any], AfterValidator(_event_payload), _STORABLE_OBJECT_SCHEMA]
# Counts and money within what DynamoDB stores exactly, far beyond any real session.
_INTEGRAL = BeforeValidator(_integral_float_as_int)  # after the bounds, so they stay in the JSON Schema
Count = Annotated[StrictInt, Field(ge=0, le=10**15), _INTEGRAL]
# 3 is a number, "3" and true are not; a fraction must be one DynamoDB holds (0, or at least 1E-130)
Amount = Annotated[
    StrictFloat,
    Field(ge=0, le=1e12, allow_inf_nan=False),
    AfterValidator(_storable_amount),
    PlainSerializer(lambda amount: amount),  # as validated: an integral amount stays an int (850, not 850.0)
    WithJsonSchema(
        {"type": "number", "minimum": 0, "maximum": 1e12, "not": {"exclusiveMinimum": 0, "exclusiveMaximum": 1e-130}}
    ),
]
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
SessionId = Annotated[
    str,
    Field(pattern=ID_PATTERN, json_schema_extra={"not": {"enum": sorted(RESERVED_SESSION_IDS)}}),
    AfterValidator(_not_reserved),
]
SessionType = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")]
# As sent: at most 60 characters, one of them visible; so sanitizing never leaves it empty or too long.
# The pattern is stated, not enforced here: sanitize_title refuses the same titles with a clearer message.
Title = Annotated[
    str,
    Field(max_length=TITLE_MAX_LENGTH, json_schema_extra={"pattern": TITLE_PATTERN}),
    AfterValidator(sanitize_title),
]
MetadataKey = Annotated[str, Field(min_length=1, max_length=64)]
MetadataValue = Annotated[str, Field(max_length=512)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=METADATA_MAX_PAIRS)]
TokenBudget = Annotated[StrictInt, Field(ge=0, le=10**15), _INTEGRAL]
EventType = Annotated[str, Field(pattern=r"^[a-z0-9_.-]{1,32}$")]
INITIAL_EVENTS_MAX = 20
BATCH_EVENTS_MAX = 20
# An event's seq: 1 … the largest the key design holds (event_sk pads to 10 digits).
SEQ_MAX = 9_999_999_999
# RFC 3339 date-time (any offset); the instant is checked against the accepted window when appended
RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# An event's timestamp may name any past instant (a stack may bound how far back: EVENT_TIMESTAMP_MAX_AGE_DAYS,
# default none), and at most this far ahead (clock skew)
TIMESTAMP_FUTURE_MS = 5 * 60 * 1000
DAY_MS = 24 * 3600 * 1000


def _event_instant(value: str) -> str:
    """The stored form of an event's timestamp (UTC, ms, Z); refused past now + 5 minutes or the stack's age bound.

    A schema rule (checked with the body, before the session is read or If-Match looked at), though
    JSON Schema cannot state a window that moves with the clock.
    """
    try:
        at = parse_timestamp(value)
    except (ValueError, OverflowError):
        raise PydanticCustomError(
            "timestamp_invalid", "expected an RFC 3339 timestamp such as 2026-11-23T19:00:00.000Z"
        ) from None
    now = now_ms()
    max_age_days = get_settings().event_timestamp_max_age_days
    earliest = max(MIN_MS, now - max_age_days * DAY_MS) if max_age_days else MIN_MS
    if not earliest <= at <= now + TIMESTAMP_FUTURE_MS:
        since = f"within the last {max_age_days} days" if max_age_days else "at or after 0001-01-01T00:00:00Z"
        raise PydanticCustomError("timestamp_out_of_window", f"timestamp must be {since} and at most 5 minutes ahead")
    return format_ms(at)


EventTimestamp = Annotated[
    str,
    Field(
        pattern=RFC3339_PATTERN,
        description="RFC 3339, any offset; stored in UTC with millisecond precision. Any past instant (a stack "
        "may bound how far back: EventTimestampMaxAgeDays) and at most 5 minutes ahead, else 422. Defaults to "
        "created_at.",
        json_schema_extra={"format": "date-time"},
    ),
    AfterValidator(_event_instant),  # after the pattern
]
# the maximum is MAX_TTL_SECONDS (configurable); the document states the default
# query parameters that take an RFC 3339 timestamp (any offset; stored and compared in UTC)
DATE_TIME: dict[str, Any] = {"format": "date-time"}
TtlSeconds = Annotated[
    StrictInt,
    Field(ge=TTL_MIN_SECONDS, json_schema_extra={"maximum": DEFAULT_MAX_TTL_SECONDS}),
    _INTEGRAL,
    AfterValidator(_within_max_ttl),
]


class _Request(BaseModel):
    # built on first validation: a function builds only the request models it validates
    model_config = ConfigDict(extra="forbid", defer_build=True)


class _Response(BaseModel):
    # documentation of what the endpoints return: built only for the OpenAPI document
    model_config = ConfigDict(defer_build=True)


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class EventUsage(_Request):
    tokens: Count = 0
    cost_usd: Amount = 0
    duration_ms: Amount = 0


UserId = Annotated[str, Field(min_length=1, max_length=256)]


class StatePatch(_Request):
    """Merge patches of the session's app state and of its user's state, applied with the event."""

    app: JsonPatch | None = Field(None, description="Merged into the app's state; roles service or admin only.")
    user: JsonPatch | None = Field(None, description="Merged into the state of the session's user in its app.")


class StateSet(_Request):
    """Top-level keys set in the session's app state and in its user's state, with the event (null is stored)."""

    app: JsonPatch | None = Field(
        None,
        description="Each key replaces the same key of the app's state with its value, null included; "
        "roles service or admin only.",
    )
    user: JsonPatch | None = Field(
        None,
        description="Each key replaces the same key of the state of the session's user in its app, null included.",
    )


class AppendEventRequest(_Request):
    """Body of POST /v1/sessions/{session_id}/events: one turn or event of the history."""

    type: EventType = Field(description="message, task, tool, system, or another [a-z0-9_.-]{1,32}")
    role: Role | None = None
    content: Annotated[str, _content_within(EVENT_PARTS_MAX_BYTES)] | None = Field(
        None,
        description="Text; with payload at most 5 MiB (5,242,880 bytes: content as UTF-8, payload serialized).",
        json_schema_extra={"maxLength": EVENT_PARTS_MAX_BYTES},
    )
    task_id: Identifier | None = None
    payload: EventPayload | None = Field(
        None,
        description="With content at most 5 MiB (content as UTF-8, payload serialized); left out of history "
        "by default.",
    )
    usage: EventUsage | None = None
    metadata: Metadata | None = None
    context_patch: JsonPatch | None = Field(
        None, description="A JSON merge patch applied to the session's context in the same atomic step."
    )
    timestamp: EventTimestamp | None = None
    state_patch: StatePatch | None = Field(
        None,
        description="Merge patches of the app's and the user's state documents, applied in the same atomic step; "
        "the session needs an app_name.",
    )
    context_set: JsonPatch | None = Field(
        None,
        description="Top-level keys that replace the same keys of the session's context wholesale, null stored as "
        "null (objects are not merged); after context_patch, in the same atomic step.",
    )
    state_set: StateSet | None = Field(
        None,
        description="Top-level keys set in the app's and the user's state documents (null stored as null); after "
        "state_patch, in the same atomic step; the session needs an app_name.",
    )
    base: StrictBool | None = Field(
        None,
        description="true: this event becomes the base of the history (a compaction: the summary that replaces what "
        "came before), in the append's own atomic step. History reads start at the latest base; the events before "
        "it stay readable with include_compacted=true. Within one append the last event marked is the base.",
    )

    @model_validator(mode="after")
    def _parts_within_limit(self) -> AppendEventRequest:
        # each part was checked on its own; together they share one limit
        if self.content is not None and self.payload is not None:
            size = len(self.content.encode("utf-8", errors="surrogatepass")) + serialized_size(self.payload)
            if size > EVENT_PARTS_MAX_BYTES:
                raise PydanticCustomError(
                    "payload_too_large",
                    f"content and payload are {size} bytes together; the limit is {EVENT_PARTS_MAX_BYTES}",
                )
        return self


class InitialEvent(AppendEventRequest):
    """An event given on create: stored in the session's transaction, so its parts stay small; no state_patch."""

    content: Annotated[str, _content_within(CONTENT_MAX_BYTES)] | None = Field(
        None, description="At most 32 KiB (UTF-8).", json_schema_extra={"maxLength": CONTENT_MAX_BYTES}
    )
    payload: JsonObject | None = Field(None, description="At most 64 KiB serialized; left out of history by default.")
    state_patch: SkipJsonSchema[None] = None
    state_set: SkipJsonSchema[None] = None

    @field_validator("state_patch", "state_set", mode="before")
    @classmethod
    def _no_state_patch(cls, value: Any, info: ValidationInfo) -> Any:
        raise ValueError(
            f"{info.field_name} is not accepted on a create's initial events; give it with the create itself"
        )


class AppendEventsRequest(_Request):
    """Body of POST /v1/sessions/{session_id}/events for a batch: appended in order, all or nothing."""

    events: list[AppendEventRequest] = Field(min_length=1, max_length=BATCH_EVENTS_MAX)
    replace_from_seq: Annotated[StrictInt, Field(ge=1, le=SEQ_MAX), _INTEGRAL] | None = Field(
        None,
        description="Replace the history's tail: the events with seq >= this are removed and the batch appended, "
        "in one atomic step (a compaction of the history's tail). Removed and appended events together at most 90.",
    )


def _append_body_kind(value: Any) -> str:
    # a batch is the body with "events"; anything else is judged as one event
    batch = isinstance(value, AppendEventsRequest) or (isinstance(value, dict) and "events" in value)
    return "batch" if batch else "event"


# POST …/events takes one event or a batch; the OpenAPI document states it as oneOf.
AppendEventBody = Annotated[
    Annotated[AppendEventRequest, Tag("event")] | Annotated[AppendEventsRequest, Tag("batch")],
    Discriminator(_append_body_kind),
]


class UpdateEventRequest(_Request):
    """Body of PATCH /v1/sessions/{session_id}/events/{seq}: a JSON merge patch over these fields.

    null removes a field (content, payload, metadata) or a key of payload or metadata.
    """

    content: Annotated[str, _content_within(EVENT_PARTS_MAX_BYTES)] | None = Field(
        None,
        description="With the payload at most 5 MiB once patched (as on append).",
        json_schema_extra={"maxLength": EVENT_PARTS_MAX_BYTES},
    )
    payload: JsonPatch | None = Field(
        None, description="Merged into the payload; with the content at most 5 MiB once merged."
    )
    metadata: dict[MetadataKey, MetadataValue | None] | None = None


class CreateSessionRequest(_Request):
    """Body of POST /v1/sessions. Every field is optional."""

    session_id: SessionId | None = Field(None, description="Client-chosen id; a UUID v4 when absent.")
    app_name: Identifier | None = None
    agent_id: Identifier | None = None
    session_type: SessionType = "conversation"
    title: Title | None = Field(
        None,
        description="At most 60 characters, one of them visible; control and format characters are removed, "
        "whitespace collapsed and trimmed.",
    )
    context: JsonObject = Field(default_factory=dict, description="At most 64 KiB serialized.")
    checkpoint: JsonObject | None = Field(None, description="At most 64 KiB serialized.")
    metadata: Metadata = Field(default_factory=dict, description="At most 16 string pairs; keys ≤ 64, values ≤ 512.")
    runtime_backend: RuntimeBackend = RuntimeBackend.UNKNOWN
    runtime_metadata: JsonObject = Field(default_factory=dict, description="At most 64 KiB serialized.")
    token_budget: TokenBudget | None = Field(None, description="Most tokens the session may use; null for no budget.")
    ttl_seconds: TtlSeconds | None = Field(None, description="Lifetime from now; the configured default when absent.")
    events: list[InitialEvent] = Field(
        default_factory=list,
        max_length=INITIAL_EVENTS_MAX,
        description="Appended in order, in the same transaction; content at most 32 KiB and payload at most 64 KiB "
        "each (larger events are appended).",
    )
    user_id: UserId | None = Field(
        None, description="Role service: create the session for this user of the caller's tenant. Others: their own id."
    )
    state_patch: StatePatch | None = Field(
        None,
        description="Merge patches of the app's and the user's state documents, written in the create's transaction; "
        "needs an app_name. Nothing is written when the session already exists (200).",
    )
    state_set: StateSet | None = Field(
        None,
        description="Top-level keys set in the app's and the user's state documents (null stored as null), after "
        "state_patch, in the create's transaction; needs an app_name. Nothing is written when the session already "
        "exists (200).",
    )


class ForkSessionRequest(_Request):
    """Body of POST /v1/sessions/{session_id}/fork. Every field is optional."""

    at_seq: Annotated[StrictInt, Field(ge=0, le=SEQ_MAX), _INTEGRAL] | None = Field(
        None,
        description="The fork's history is the parent's up to this seq (0: empty); default the parent's highest "
        "seq. At most the parent's highest seq given, else 422.",
    )
    session_id: SessionId | None = Field(
        None, description="Client-chosen id of the new session; a UUID v4 when absent. Taken: 409 session_id_taken."
    )
    title: Title | None = Field(None, description="The new session's title; the parent's when absent.")
    metadata: Metadata | None = Field(None, description="The new session's metadata; the parent's when absent.")
    context: JsonObject | None = Field(
        None,
        description="The new session's context (at most 64 KiB serialized); the parent's as it is now when absent. "
        "For a fork at an earlier point with the state that held there.",
    )
    ttl_seconds: TtlSeconds | None = Field(None, description="Lifetime from now; the configured default when absent.")


class UpdateSessionRequest(_Request):
    """Body of PATCH /v1/sessions/{session_id}: a JSON merge patch (RFC 7396) over these fields.

    Nested objects merge; null removes a key (a removed object becomes empty, a removed
    checkpoint, title or token_budget becomes null).
    """

    title: Title | None = None
    # status and ttl_seconds cannot be removed: null is refused (422), so the schema has no null
    status: Status | SkipJsonSchema[None] = None
    context: JsonPatch | None = None
    checkpoint: JsonPatch | None = None
    metadata: dict[MetadataKey, MetadataValue | None] | None = None
    runtime_backend: RuntimeBackend | None = None
    runtime_metadata: JsonPatch | None = None
    token_budget: TokenBudget | None = None
    ttl_seconds: TtlSeconds | SkipJsonSchema[None] = None

    @field_validator("status", "ttl_seconds", mode="before")
    @classmethod
    def _not_removed(cls, value: Any, info: ValidationInfo) -> Any:
        # a schema rule, so it is refused before any precondition (If-Match) is looked at
        if value is None:
            raise ValueError(f"{info.field_name} cannot be removed")
        return value


class Usage(_Response):
    tokens_used: int = 0
    cost_usd: float = 0.0
    event_count: int = 0
    task_count: int = 0


class _EventFields(_Response):
    event_id: str
    seq: int
    created_at: str
    timestamp: str = Field(description="When the event happened (as given, else created_at); history filters on it")
    type: str
    role: Role | None = None
    content: str | None = None
    task_id: str | None = None
    payload: dict[str, Any] | None = None
    usage: EventUsage | None = None
    metadata: dict[str, str] | None = None
    base: bool | None = Field(None, description="true on an event appended as a base of the history (a compaction)")


class Event(_EventFields):
    """An event of a session's history; fields the client did not give are left out."""

    content_url: str | None = Field(
        None,
        description="Instead of content, when one event alone would pass Lambda's 6 MB response limit: "
        "a presigned GET (15 minutes) of the content as UTF-8 text.",
    )
    payload_url: str | None = Field(
        None,
        description="Instead of payload, when one event alone would pass Lambda's 6 MB response limit: "
        "a presigned GET (15 minutes) of the payload as JSON.",
    )


class ForkPoint(_Response):
    """Where a fork was taken: its parent and the last seq of the parent's history it reads."""

    session_id: str
    seq: int


class SessionSummary(_Response):
    """A session in a list: everything but context and checkpoint."""

    session_id: str
    tenant_id: str
    user_id: str
    app_name: str | None
    agent_id: str | None
    session_type: str
    title: str | None
    status: Status
    metadata: dict[str, str]
    runtime_backend: RuntimeBackend
    runtime_metadata: dict[str, Any]
    token_budget: int | None
    usage: Usage
    created_at: str
    updated_at: str
    last_active_at: str
    last_event_at: str | None = Field(
        description="The timestamp of the last event appended (as the event gave it, else when it was appended); "
        "null until one is. A rewind leaves it."
    )
    expires_at: str
    version: int
    forked_from: ForkPoint | None = Field(
        None,
        description="For a fork (POST …/fork): the session it was forked from and the seq it was forked at; null "
        "for other sessions. Kept when the parent is deleted or expires.",
    )


class ListedSession(SessionSummary):
    """A session in a list: the summary, plus `context` when the list was asked for it (include_context=true)."""

    context: dict[str, Any] | None = Field(None, description="Only with include_context=true")


class Session(SessionSummary):
    """A session as every endpoint but list returns it."""

    context: dict[str, Any]
    checkpoint: dict[str, Any] | None
    history_base_seq: int | None = Field(
        None,
        description="The seq the history starts at (its latest base, a compaction); null when it starts at the first "
        "event. Events before it are compacted: left out of history unless include_compacted=true.",
    )


class SessionStates(_Response):
    """The state documents of the session's app and of its user in that app (as their GET answers them)."""

    app: AppState
    user: UserState


class SessionWithState(Session):
    """GET /v1/sessions/{session_id}?include=state: the session and the state documents of its app and user."""

    state: SessionStates | None = Field(
        None, description="With include=state: null when the session has no app_name (it has no state documents)."
    )


class SessionList(_Response):
    sessions: list[ListedSession]
    next_cursor: str | None


class History(_Response):
    session_id: str
    events: list[Event]
    next_cursor: str | None
    total: int


class EventBatch(_Response):
    """The events of a batch append, in the order given."""

    events: list[Event]


class RemovedEvent(_EventFields):
    """A removed event as a rewind returns it: its parts inline, never as URLs (their objects are deleted)."""

    parts_omitted: list[Literal["content", "payload"]] | None = Field(
        None,
        description="The parts the event had that this answer leaves out, because they would pass Lambda's "
        "6 MB response limit (or their object had already expired): they are gone with the event. A rewind "
        "never answers content_url or payload_url.",
    )


class EventsRemoved(_Response):
    """What DELETE …/events?from_seq=N (a rewind) or DELETE …/events?seq=N&seq=M… (selected events) removed."""

    removed: int = Field(description="How many events were removed (0: nothing was written)")
    from_seq: int | None = Field(description="The rewind's from_seq; null when seqs were selected")
    seqs: list[int] = Field(description="The removed events' seqs, ascending")
    version: int = Field(description="The session's version after the removal")
    events: list[RemovedEvent] | None = Field(
        None,
        description="The removed events in seq order, payload included (return_events=true); parts that would "
        "pass the response limit are left out and named in parts_omitted",
    )


class SessionCounts(_Response):
    active: int
    paused: int
    completed: int
    crashed: int


class Stats(_Response):
    scope: Literal["user", "tenant"]
    sessions: SessionCounts
    created_total: int
    deleted_total: int
    expired_total: int
    events_total: int
    tokens_used_total: int
    cost_usd_total: float
    computed_at: str


class AppState(_Response):
    """An app's state document; a never-written one is {} at version 0."""

    app_name: str
    state: dict[str, Any]
    version: int
    updated_at: str | None


class UserState(AppState):
    """One user's state document in an app."""

    user_id: str


class ValidationIssue(_Response):
    loc: list[str | int]
    msg: str


class Problem(_Response):
    """application/problem+json (RFC 9457) with the contract's stable code."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ValidationIssue] | None = None
    current_version: int | None = None


PUBLIC_FIELDS: tuple[str, ...] = tuple(Session.model_fields)
SUMMARY_FIELDS: tuple[str, ...] = tuple(SessionSummary.model_fields)
EVENT_FIELDS: tuple[str, ...] = tuple(Event.model_fields)
REMOVED_EVENT_FIELDS: tuple[str, ...] = tuple(RemovedEvent.model_fields)
