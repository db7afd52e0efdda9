"""Sessions in DynamoDB and S3: keys, items, conditional writes (keys.py has the key design).

The idempotency records are the one other thing in DynamoDB (http/idempotency.py, Powertools' own).

`SessionStore` is the one facade the service uses (the use cases see it through usecases/ports.py), and
what it returns are the records of sessions/domain/records.py; each part lives in a module of its own:
session writes (`sessions`), pages of sessions and history (`queries`), counters and stats
(`stats_counters`), open-session slots and their repair (`slots`), what removal needs (`removals`),
app- and user-scoped state documents (`state`), a tenant's settings and the events past its history
retention (`tenant_settings`), reading, redacting and rewinding single
events (`event_edits`), and forks: creating one, and copying before change for the forks that read a
session (`forks`).

Sessions are never deleted by a request: a delete marks the item and moves its expiry to now,
so the cleanup finds it (and its history) through the ByExpiry index, and the stream sees it.
"""

from __future__ import annotations

from sessions.core.settings import get_settings
from sessions.store.base import ItemExists, VersionChanged, WriteConflict
from sessions.store.client import aws_client, dynamodb_client
from sessions.store.event_edits import EventEdits
from sessions.store.forks import Forks, ParentChanged, Source, SourceClosed
from sessions.store.keys import expiry_bucket, key_part, session_pk, user_pk
from sessions.store.queries import EventQuery, Page, PageReads, SessionQuery, event_position
from sessions.store.removals import Removals
from sessions.store.sessions import SessionWrites
from sessions.store.slots import SlotRepair, Slots
from sessions.store.state import StateChanged, StateDocuments, StateKey
from sessions.store.stats_counters import StatsReads
from sessions.store.tenant_settings import TenantSettingsChanged, TenantSettingsItems

__all__ = [
    "EventEdits",
    "EventQuery",
    "ItemExists",
    "Page",
    "ParentChanged",
    "SessionQuery",
    "SessionStore",
    "SlotRepair",
    "Source",
    "SourceClosed",
    "StateChanged",
    "StateKey",
    "TenantSettingsChanged",
    "VersionChanged",
    "WriteConflict",
    "aws_client",
    "default_store",
    "dynamodb_client",
    "event_position",
    "expiry_bucket",
    "key_part",
    "session_pk",
    "user_pk",
]


class SessionStore(Forks, SessionWrites, PageReads, StatsReads, Slots, Removals, StateDocuments, TenantSettingsItems):
    """Everything the service asks of the table, one client and table name shared by every part."""


def default_store() -> SessionStore:
    return SessionStore(dynamodb_client(), get_settings().table_name)
