"""Keys and item shapes of the sessions table (the idempotency table is Powertools'): every key starts with the tenant.

    session       PK T#{tenant}#S#{session_id}   SK #SESSION
    event         PK T#{tenant}#S#{session_id}   SK E#{incarnation}#{seq:010d}
    user counters PK T#{tenant}#U#{user_id}      SK #COUNTERS    (open-session slots, the user's stats)
    slot          PK T#{tenant}#U#{user_id}      SK #SLOT#{session_id}#{incarnation} (which session holds a slot)
    tenant stats  PK T#{tenant}#STATS#{0..15}    SK #STATS       (a partition per shard, read by one BatchGetItem)
    purge marker  PK T#{tenant}#S#{session_id}   SK #PURGE#{incarnation} (history left to purge)
    settled       PK T#{tenant}#S#{session_id}   SK #SETTLED#{incarnation} (a removal counted out once)
    fork counter  PK T#{tenant}#S#{session_id}   SK #FORKS#{incarnation} (forks registered, closed at purge)
    reader        PK T#{tenant}#S#{session_id}   SK #READER#{incarnation}#{reader_id}#{reader_incarnation}
                  (a fork that reads this incarnation's events: store/forks.py)
    app state     PK T#{tenant}#APP#{app_name}           SK #STATE
    user state    PK T#{tenant}#APP#{app_name}#U#{user}  SK #STATE
    tenant settings PK T#{tenant}#SETTINGS               SK #SETTINGS  (usecases/tenant_settings.py)
    retention     PK #CLEANUP  SK #RETENTION#{tenant_pk}  (the cleanup's list of tenants whose history is
                  removed after N days; written with the tenant's settings, in one transaction)

Index keys of a session item (list):
    ByUser          by_user_pk  T#{tenant}#U#{user_id}              created_key {created_at}#{session_id}
    ByAgent         by_agent_pk T#{tenant}#U#{user_id}#A#{agent_id} created_key
    ByUserActivity  by_user_pk                                      active_key  {last_active_at}#{session_id}
    ByApp           by_app_pk   T#{tenant}#APP#{app_name}           created_key  (sessions with an app_name)
    ByAppActivity   by_app_pk                                       active_key   (sessions with an app_name)
every write that changes last_active_at rewrites active_key (store/sessions.py).

Index keys of an event item (history retention, usecases/retention.py):
    ByExpiry        expiry_bucket T#{tenant}#AGE#{0..7}  purge_at {created_at}
every event is in its tenant's age partitions (a shard per session, so no partition is hot), sorted
by when it was appended: the cleanup asks for the events appended before a tenant's cutoff and gets
exactly those, whatever the retention was when they were appended. The index projects no event
attribute (its INCLUDE list names session attributes only): one small index write per append.

A session's incarnation is fixed at its creation, so the history of an earlier session under
the same id (deleted or expired, not yet purged) never mixes with the new one's. '#' in tenant
and user ids is escaped, so no id can forge another key's prefix.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any, Literal, cast

from sessions.core.attribute_values import from_item, to_attribute, to_item
from sessions.core.clock import format_ms, parse_timestamp
from sessions.core.settings import get_settings
from sessions.domain.records import EventRecord, SessionRecord, SessionSummaryRecord

SESSION_SK = "#SESSION"
COUNTERS_SK = "#COUNTERS"
SLOT_SK_PREFIX = "#SLOT#"
PURGE_SK_PREFIX = "#PURGE#"
SETTLED_SK_PREFIX = "#SETTLED#"
FORKS_SK_PREFIX = "#FORKS#"
READER_SK_PREFIX = "#READER#"
STATE_SK = "#STATE"
EXPIRY_SHARDS = 8
AGE_SHARDS = 8  # a tenant's events in 8 index partitions: 8,000 appends/s before one throttles
TENANT_SETTINGS_SK = "#SETTINGS"
RETENTION_SK_PREFIX = "#RETENTION#"
LAST_SEQ = 9_999_999_999  # the highest seq an event key holds (10 digits)
# A stream record comes back for at most a day after it was written: DynamoDB Streams keeps it 24 h,
# Lambda gives up on it at MaximumRecordAgeInSeconds (86400, template.yaml), and a replay of what
# the PublishDeadLetterQueue kept (14 days, but a batch's description, not its records) reads it
# from the stream and refuses it past this age (store/stream_batches.py), however long the stream
# still holds it before trimming.
STREAM_RECORD_MAX_AGE_SECONDS = 24 * 3600
# Settled and freed markers are written once the record they guard was (after it, never before),
# so outliving its last return by an hour (clock differences) keeps a redelivery from counting twice.
MARKER_LIFETIME_SECONDS = STREAM_RECORD_MAX_AGE_SECONDS + 3600
# Attributes of a session item that only the store uses (keys and index attributes).
_KEY_ATTRIBUTES = frozenset(
    {"PK", "SK", "by_user_pk", "by_agent_pk", "by_app_pk", "created_key", "active_key"}
    | {"expiry_bucket", "purge_at", "ttl"}
)


def key_part(value: str) -> str:
    """Escape '#' so that no tenant or user id can forge another key's prefix."""
    return value.replace("%", "%25").replace("#", "%23")


def tenant_pk(tenant_id: str) -> str:
    return f"T#{key_part(tenant_id)}"


def session_pk(tenant_id: str, session_id: str) -> str:
    return f"{tenant_pk(tenant_id)}#S#{session_id}"


def user_pk(tenant_id: str, user_id: str) -> str:
    return f"{tenant_pk(tenant_id)}#U#{key_part(user_id)}"


def state_pk(tenant_id: str, app_name: str, user_id: str | None = None) -> str:
    """An app's state document, or (with user_id) one user's state in that app."""
    app = f"{tenant_pk(tenant_id)}#APP#{key_part(app_name)}"
    return app if user_id is None else f"{app}#U#{key_part(user_id)}"


def app_pk(tenant_id: str, app_name: str) -> str:
    """The ByApp and ByAppActivity partition of an app's sessions, every user's (tenant first)."""
    return f"{tenant_pk(tenant_id)}#APP#{key_part(app_name)}"


def active_key(record: SessionRecord) -> str:
    """The activity sort key: last activity, then the id (ids never hold "~", as created_key)."""
    return f"{record['last_active_at']}#{record['session_id']}"


def agent_pk(tenant_id: str, user_id: str, agent_id: str) -> str:
    # per user: listing by agent never reads other users' sessions
    return f"{user_pk(tenant_id, user_id)}#A#{agent_id}"


def slot_key(record: SessionRecord) -> dict[str, Any]:
    """The key of the slot a session holds: in its owner's partition, beside the counter it is counted in."""
    sk = f"{SLOT_SK_PREFIX}{record['session_id']}#{record['incarnation']}"
    return {"PK": {"S": user_pk(record["tenant_id"], record["user_id"])}, "SK": {"S": sk}}


def event_sk(incarnation: str, seq: int) -> str:
    return f"E#{incarnation}#{seq:010d}"


def fork_counter_key(pk: str, incarnation: str) -> dict[str, Any]:
    """The item counting the forks registered with one incarnation of a session (and closing it to more)."""
    return {"PK": {"S": pk}, "SK": {"S": f"{FORKS_SK_PREFIX}{incarnation}"}}


def reader_sk(incarnation: str, reader_id: str, reader_incarnation: str) -> str:
    return f"{READER_SK_PREFIX}{incarnation}#{reader_id}#{reader_incarnation}"


def expiry_bucket(session_key: str, purge_at: str) -> str:
    """Hour of removal plus a shard, so that no hour's index partition is hot."""
    return f"{purge_at[:13]}#{zlib.crc32(session_key.encode()) % EXPIRY_SHARDS}"


def purge_at(record: SessionRecord) -> str:
    """When the cleanup may remove a session: its expiry, or its idle deadline if that comes first."""
    idle_seconds = get_settings().inactivity_timeout_seconds
    if not idle_seconds or "deleted_at" in record:
        return str(record["expires_at"])
    idle_deadline = format_ms(parse_timestamp(record["last_active_at"]) + idle_seconds * 1000)
    return min(record["expires_at"], idle_deadline)


def expiry_attributes(record: SessionRecord) -> dict[str, Any]:
    """The TTL and the ByExpiry index attributes of a session."""
    expires_ms = parse_timestamp(record["expires_at"])
    due = purge_at(record)
    key = session_pk(record["tenant_id"], record["session_id"])
    # DynamoDB's TTL deletes at whole seconds; round up so it never fires early
    return {"ttl": -(-expires_ms // 1000), "purge_at": due, "expiry_bucket": expiry_bucket(key, due)}


def purge_marker(
    table: str, key: str, incarnation: str, at_ms: int, *, uncounted: SessionRecord | None = None
) -> dict[str, Any]:
    """Put "purge this incarnation's history" in the expiry index, for the cleanup to find.

    `uncounted` is the session's last record when no cleanup run removed its item (DynamoDB's TTL
    or a new session under its id did): the marker then carries why it ended (`deleted_at` or
    `expires_at`, attributes the index projects), and the run that works the marker off counts it.
    """
    now = format_ms(at_ms)
    item: dict[str, Any] = {
        "PK": key,
        "SK": f"{PURGE_SK_PREFIX}{incarnation}",
        "incarnation": incarnation,
        "purge_at": now,
        "expiry_bucket": expiry_bucket(key, now),
    }
    if uncounted is not None:
        ended: Literal["deleted_at", "expires_at"] = "deleted_at" if "deleted_at" in uncounted else "expires_at"
        item[ended] = uncounted[ended]
    return {"Put": {"TableName": table, "Item": to_item(item)}}


def session_item(record: SessionRecord) -> dict[str, Any]:
    """A session record as its item: the record plus its keys and index attributes."""
    tenant_id, session_id = record["tenant_id"], record["session_id"]
    item = {key: value for key, value in record.items() if value is not None}
    item |= {
        "PK": session_pk(tenant_id, session_id),
        "SK": SESSION_SK,
        "by_user_pk": user_pk(tenant_id, record["user_id"]),
        "created_key": f"{record['created_at']}#{session_id}",
        "active_key": active_key(record),
    }
    app_name, agent_id = record.get("app_name"), record.get("agent_id")
    if app_name:
        item["by_app_pk"] = app_pk(tenant_id, app_name)
    if agent_id:
        item["by_agent_pk"] = agent_pk(tenant_id, record["user_id"], agent_id)
    return item | expiry_attributes(record)


def event_item(session: SessionRecord, event: EventRecord) -> dict[str, Any]:
    pk = session_pk(session["tenant_id"], session["session_id"])
    return {
        **{key: value for key, value in event.items() if value is not None},
        "PK": pk,
        "SK": event_sk(session["incarnation"], event["seq"]),
        # in its tenant's age partitions of ByExpiry, for history retention (a copy keeps its age)
        "expiry_bucket": age_bucket(session["tenant_id"], pk),
        "purge_at": event["created_at"],
    }


def age_bucket(tenant_id: str, session_key: str) -> str:
    """The ByExpiry partition of a session's events: its tenant's, one shard of AGE_SHARDS."""
    return f"{tenant_pk(tenant_id)}#AGE#{zlib.crc32(session_key.encode()) % AGE_SHARDS}"


def age_buckets(tenant_id: str) -> list[str]:
    return [f"{tenant_pk(tenant_id)}#AGE#{shard}" for shard in range(AGE_SHARDS)]


def event_key_parts(sk: str) -> tuple[str, int]:
    """An event's incarnation and seq, from its sort key E#{incarnation}#{seq:010d}."""
    _, incarnation, seq = sk.split("#")
    return incarnation, int(seq)


def tenant_settings_key(tenant_id: str) -> dict[str, Any]:
    return {"PK": {"S": f"{tenant_pk(tenant_id)}#SETTINGS"}, "SK": {"S": TENANT_SETTINGS_SK}}


def record_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as the record the service sees: without keys and index attributes."""
    record = from_item(item)
    for key in _KEY_ATTRIBUTES:
        record.pop(key, None)
    return record


def session_record(item: Mapping[str, Any]) -> SessionRecord:
    """A session item as its record."""
    return cast("SessionRecord", record_of(item))


def summary_record(item: Mapping[str, Any]) -> SessionSummaryRecord:
    """A session as a list index projects it (all of it, on a stack whose indexes project ALL)."""
    return cast("SessionSummaryRecord", record_of(item))


def event_record(item: Mapping[str, Any]) -> EventRecord:
    """An event item (or the attributes a projection read of it) as its record."""
    return cast("EventRecord", record_of(item))


def names_and_values(values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    names = {f"#{key}": key for key in values}
    serialized = {f":{key}": to_attribute(value) for key, value in values.items()}
    return names, serialized
