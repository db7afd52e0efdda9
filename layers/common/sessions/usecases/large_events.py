"""Events up to 5 MiB: parts over 32 KiB live in S3, and come back inline within Lambda's limits.

Writing (append): `LargeParts.offload` uploads an event's large parts once, before the DynamoDB
transaction, and gives the item form of the event: those parts replaced by `blobs` pointers
(`{"content": {"key", "bytes"}, ...}`), which no client ever sees. A transaction that then fails
leaves its objects under the session's incarnation prefix, which the cleanup deletes with the
history (and the bucket's lifecycle rule expires in any case).

Reading (history, GET of one event): `inline_parts` reads the parts back and sizes the response
as Lambda serializes it (the body, a JSON string, escaped once more inside the proxy response;
Python 3.12+ runtimes leave non-ASCII unescaped). A page stops adding events before it would pass
PAGE_BUDGET_BYTES, always returning at least one; a lone event that would pass Lambda's 6 MB
response limit carries `content_url`/`payload_url` (presigned GET, 15 minutes) for its stored parts.

Rewinding (DELETE …/events, return_events=true): `removed_views` reads the removed events' parts
back before their objects are deleted, and never answers a URL; a part that would pass the response
limit is left out and named in the event's `parts_omitted`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from sessions.domain.limits import INLINE_PART_MAX_BYTES
from sessions.domain.models import EVENT_FIELDS, REMOVED_EVENT_FIELDS
from sessions.domain.records import BlobPointer, EventRecord, SessionRecord
from sessions.store.blobs import EventBlobs, blob_key, default_blobs

logger = Logger(child=True)

Part = Literal["content", "payload"]
PARTS: tuple[Part, ...] = ("content", "payload")
CONTENT_TYPES = {"content": "text/plain; charset=utf-8", "payload": "application/json"}
LAMBDA_RESPONSE_MAX_BYTES = 6 * 1024 * 1024  # a synchronous invocation's response, as Lambda counts it
PAGE_BUDGET_BYTES = 5 * 1024 * 1024
# what a response holds beside its events: status, headers, the page's other fields (a cursor is < 1 KiB)
RESPONSE_FRAME_BYTES = 4 * 1024

_blobs: EventBlobs | None = None


def blobs() -> EventBlobs:
    # built per use (the client and settings are cached per container), so it follows their resets
    return _blobs or default_blobs()


def use_blobs(event_blobs: EventBlobs | None) -> None:
    """Swap the blob store (tests, benchmarks); None goes back to the default."""
    global _blobs
    _blobs = event_blobs


# --- sizes ----------------------------------------------------------------------------------------


def body_json(value: Any) -> str:
    """How response bodies are serialized (sessions.http.app.json_response): compact, UTF-8 unescaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def response_bytes(value: Any) -> int:
    """The bytes `value` adds to a response body once Lambda escapes the body inside its proxy response."""
    return len(json.dumps(body_json(value), ensure_ascii=False).encode("utf-8", errors="surrogatepass")) - 2


def part_bytes(part: str, value: Any) -> bytes:
    """A part as its object holds it: content as UTF-8 text, payload as JSON with numbers as DynamoDB returns them."""
    if part == "content":
        return str(value).encode("utf-8")
    return body_json(_as_stored(value)).encode("utf-8")


def _as_stored(value: Any) -> Any:
    # an integral number comes back from DynamoDB as an integer (1e20 -> 100000000000000000000):
    # a payload in S3 reads back the same as one in the item
    if isinstance(value, float) and value.is_integer():
        return int(Decimal(repr(value)))
    if isinstance(value, dict):
        return {key: _as_stored(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_stored(item) for item in value]
    return value


# --- writing ------------------------------------------------------------------------------------


def offload_large_parts(
    session: SessionRecord,
    event: EventRecord,
    *,
    revision: bool = False,
    kept: dict[str, BlobPointer] | None = None,
) -> EventRecord:
    """Upload each part of `event` over 32 KiB under the event's id; the event as its item stores it.

    The item form leaves those parts out and keeps `blobs` pointers instead; with no large part
    it is the event itself, and nothing is uploaded. `revision` names a new version of an event's
    parts (a PATCH) uniquely per attempt: never the objects its committed item points at, which stay
    until the change commits (then delete_event_blobs on the old item), nor those of a concurrent
    PATCH planned on the same session version (else one could overwrite the other's redaction).
    `kept` are pointers of parts a PATCH left unchanged: their objects are kept, not uploaded again.
    """
    pointers: dict[str, BlobPointer] = dict(kept or {})
    for part in PARTS:
        if event.get(part) is None or part in pointers:
            continue
        data = part_bytes(part, event[part])
        if len(data) <= INLINE_PART_MAX_BYTES:
            continue
        name = f"{part}.{uuid.uuid4().hex}" if revision else part
        key = blob_key(session["tenant_id"], session["session_id"], session["incarnation"], event["event_id"], name)
        blobs().put(key, data, CONTENT_TYPES[part])
        pointers[part] = {"key": key, "bytes": len(data)}
    if not pointers:
        return event
    return _with_blobs(event, pointers)


def _with_blobs(event: EventRecord, pointers: dict[str, BlobPointer]) -> EventRecord:
    """The item form of an event: the parts stored in S3 left out, their pointers in `blobs`."""
    item = event.copy()
    for part in PARTS:
        if part in pointers:
            item.pop(part, None)
    item["blobs"] = pointers
    return item


class LargeParts:
    """One event's large parts, uploaded on the first planned attempt of its append and reused by the retries.

    A retry plans the event again (new seq, new id): it keeps the first attempt's id, so its item
    points at the objects already uploaded, which are named after that id.
    """

    def __init__(self) -> None:
        self._event_id: str | None = None
        self._pointers: dict[str, BlobPointer] = {}

    def offload(self, session: SessionRecord, event: EventRecord) -> tuple[EventRecord, EventRecord]:
        """(the event as the client sees it, the event as its item stores it)."""
        if self._event_id is None:
            self._event_id = event["event_id"]
            self._pointers = offload_large_parts(session, event).get("blobs", {})
        event = {**event, "event_id": self._event_id}
        if not self._pointers:
            return event, event
        return event, _with_blobs(event, self._pointers)


def delete_event_blobs(events: Iterable[EventRecord]) -> list[str]:
    """Delete the objects these stored events point at, once a commit removed them (rewind, replaced tail).

    Returns the keys S3 kept: they lie under the session's prefix, so the cleanup's purge takes them.
    """
    return delete_blobs(pointer for event in events for pointer in (event.get("blobs") or {}).values())


def delete_blobs(pointers: Iterable[BlobPointer]) -> list[str]:
    """Delete these objects once a commit no longer points at them (delete_event_blobs, a PATCH's old parts).

    Returns the keys S3 kept (see delete_event_blobs).
    """
    keys = [pointer["key"] for pointer in pointers]
    if not keys:
        return []
    try:
        failed = blobs().delete_keys(keys)
    except ClientError as exc:  # the change is committed: S3 failing now must not turn it into an error
        logger.warning("objects of removed or replaced events stay for the purge", extra={"error": str(exc)})
        return keys
    if failed:
        logger.warning("objects of removed or replaced events stay for the purge", extra={"keys": failed})
    return failed


# --- reading ------------------------------------------------------------------------------------


def with_parts_inline(event: EventRecord) -> EventRecord:
    """A stored event with its parts read back from S3 and no pointers: to patch, not to answer (no size rule)."""
    stored = _stored_parts(event, include_payload=True)
    whole = event.copy()
    whole.pop("blobs", None)
    for part in PARTS:
        value = _read_part(part, stored[part]) if part in stored else None
        if value is not None:
            whole[part] = value
    return whole


def event_view(event: EventRecord, include_payload: bool = True) -> dict[str, Any]:
    """An event as clients see it: its public fields (no pointers), `payload` only when asked for."""
    # events stored before `timestamp` existed happened when they were created
    fields: dict[str, Any] = {"timestamp": event.get("created_at"), **event}
    return {
        name: fields[name]
        for name in EVENT_FIELDS
        if fields.get(name) is not None and (include_payload or name != "payload")
    }


def _stored_parts(event: EventRecord, include_payload: bool) -> dict[str, BlobPointer]:
    pointers = event.get("blobs") or {}
    return {part: pointer for part, pointer in pointers.items() if include_payload or part != "payload"}


def _read_part(part: str, pointer: BlobPointer, *, committed: bool = False) -> Any:
    """A part's value from S3; None when the object is gone (or, after a commit, cannot be read)."""
    try:
        data = blobs().get(pointer["key"])
    except ClientError as exc:
        if not committed:
            raise
        # the change is committed: answer without the part rather than fail it
        logger.warning("an event part could not be read back", extra={"key": pointer["key"], "error": str(exc)})
        return None
    if data is None:
        # only an object expired by the bucket's lifecycle under a session kept alive longer (docs/API.md)
        logger.error("an event part is missing from the bucket", extra={"key": pointer["key"]})
        return None
    return data.decode("utf-8") if part == "content" else json.loads(data)


def inline_parts(
    events: Sequence[EventRecord], *, include_payload: bool = True, budget: int = PAGE_BUDGET_BYTES
) -> list[dict[str, Any]]:
    """Client views of the leading events that fit in one response, large parts read back inline.

    Events are taken in order while the response stays within `budget` bytes as Lambda serializes
    it; the first is always taken. A first event whose own size would pass Lambda's response limit
    has its stored parts, largest first, replaced by `content_url`/`payload_url` until it fits.
    Fewer views than events means the page ends early: continue after the last view.
    """
    views: list[dict[str, Any]] = []
    used = RESPONSE_FRAME_BYTES
    for event in events:
        view = event_view(event, include_payload)
        stored = _stored_parts(event, include_payload)
        if views and used + response_bytes(view) + sum(p["bytes"] for p in stored.values()) > budget:
            break  # it cannot fit, whatever its escaping: not even read
        for part, pointer in stored.items():
            value = view.get(part) if part in view else _read_part(part, pointer)  # a PATCH answers what it holds
            if value is not None:
                view[part] = value
        size = response_bytes(view)
        if views and used + size > budget:
            break
        if not views and used + size > LAMBDA_RESPONSE_MAX_BYTES:
            view = _with_urls(view, stored)
            size = response_bytes(view)
        views.append(view)
        used += size + 1  # the comma between events
    return views


def _with_urls(view: dict[str, Any], stored: dict[str, BlobPointer]) -> dict[str, Any]:
    """The view with stored parts, largest first, replaced by presigned URLs until it fits Lambda's limit."""
    view = dict(view)
    for part in sorted(stored, key=lambda name: stored[name]["bytes"], reverse=True):
        view.pop(part, None)
        view[f"{part}_url"] = blobs().presigned_get(stored[part]["key"])
        if RESPONSE_FRAME_BYTES + response_bytes(view) <= LAMBDA_RESPONSE_MAX_BYTES:
            break
    return view


# what `"parts_omitted":["content","payload"]` and its comma add to an event, once escaped: reserved per event
_OMITTED_MARKER_BYTES = 64


def removed_views(events: Sequence[EventRecord], *, limit: int = LAMBDA_RESPONSE_MAX_BYTES) -> list[dict[str, Any]]:
    """Removed events as a rewind answers them (return_events=true): parts inline, never as URLs.

    A rewind deletes the removed events' objects right after its commit, so a presigned URL would
    lead to nothing. Every event is answered; its parts are read back in seq order (content before
    payload) and each is kept while the whole answer stays within `limit` as Lambda serializes it.
    A part that would pass it, or whose object is already gone, is left out and named in the
    event's `parts_omitted`. Call this after the commit and before delete_event_blobs.
    """
    views = [{name: value for name, value in event_view(event, True).items() if name not in PARTS} for event in events]
    used = RESPONSE_FRAME_BYTES + response_bytes(views) + _OMITTED_MARKER_BYTES * len(views)
    answered: list[dict[str, Any]] = []
    for event, view in zip(events, views, strict=True):
        stored = _stored_parts(event, include_payload=True)
        omitted: list[str] = []
        for part in PARTS:
            if part in stored:
                if used + stored[part]["bytes"] > limit:
                    omitted.append(part)  # it cannot fit, whatever its escaping: not even read
                    continue
                value = _read_part(part, stored[part], committed=True)
            else:
                value = event.get(part)
            if value is None:
                if part in stored:
                    omitted.append(part)
                continue
            grown = response_bytes({part: value}) - 1  # `,"part":value` inside a view that is never empty
            if used + grown > limit:
                omitted.append(part)
                continue
            view[part] = value
            used += grown
        if omitted:
            view["parts_omitted"] = omitted
        answered.append({name: view[name] for name in REMOVED_EVENT_FIELDS if name in view})
    return answered


def fit_echo(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Appended events as their 201 answers them: every part, unless that would pass Lambda's response limit.

    The request reached the function within Lambda's 6 MB invocation limit, and the answer is
    serialized at least as compactly, so it nearly always fits. When it does not (a body at the
    limit, escaped more heavily once answered), parts stored in S3 are left out, largest first,
    until it fits: the event is stored whole, and history or GET of the event return them.
    """
    answered = [dict(event) for event in events]
    sizes = [
        (len(part_bytes(part, event[part])), index, part)
        for index, event in enumerate(answered)
        for part in PARTS
        if event.get(part) is not None
    ]
    for _, index, part in sorted((entry for entry in sizes if entry[0] > INLINE_PART_MAX_BYTES), reverse=True):
        if RESPONSE_FRAME_BYTES + response_bytes(answered) <= LAMBDA_RESPONSE_MAX_BYTES:
            break
        del answered[index][part]
    return answered


# --- idempotent replays -------------------------------------------------------------------------

_FROM_REQUEST = "parts_from_request"


def _answered_events(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return [event for event in body["events"] if isinstance(event, dict)]  # a batch
    return [body] if isinstance(body, dict) and "event_id" in body else []


def _requested_events(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return list(body["events"])
    return [body]


def pack_append_response(body: str) -> str:
    """An append's response as its idempotency record keeps it: without content and payload.

    They are the request's own (a replay has the same body, or it is refused), so a replay takes
    them from its request: the record stays far below DynamoDB's 400 KB item limit.
    """
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    events = _answered_events(answer)
    taken = [(index, part) for index, event in enumerate(events) for part in PARTS if part in event]
    if not taken:
        return body
    for index, part in taken:
        del events[index][part]
    return body_json({_FROM_REQUEST: taken, "body": answer})


def unpack_append_response(stored: str, request_body: Any) -> str:
    """The response pack_append_response kept, with content and payload again from the (same) request."""
    try:
        packed = json.loads(stored)
    except ValueError:
        return stored
    if not isinstance(packed, dict) or _FROM_REQUEST not in packed:
        return stored
    answer = packed["body"]
    events, requested = _answered_events(answer), _requested_events(request_body)
    for index, part in packed[_FROM_REQUEST]:
        events[index][part] = requested[index][part]
    return body_json(answer)
