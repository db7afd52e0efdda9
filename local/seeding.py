"""Bulk data written straight into the sessions table, as the service writes it, for tests and benchmarks.

Through the API, a history costs a request per 20 events: a test of 10,000 events spent about 20 of its
35 seconds appending them. `Seeder` writes the same items in about a third of that:

- `put_items`: items (store/keys.py shapes) in BatchWriteItem calls of 25, what DynamoDB leaves
  unprocessed written again.
- `append`: events appended to a session as POST …/events stores them: the domain's own plan
  (seqs, event ids, timestamps, usage, the session's changes), the event items put in batches,
  then the session's changes with its owner's and tenant's counters in one transaction, by the
  store's own append (given no events). What the API reads back is what it would read after the
  same appends made through it; appends made through the API before and after go on from it.

Not a transaction: a seeding that fails halfway leaves the events it put. It is for a table
nothing else writes the seeded sessions to meanwhile (a test's, a benchmark's), never a service path.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sessions.core.attribute_values import to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from sessions.domain.identity import Identity
    from sessions.domain.records import SessionRecord
    from sessions.store import SessionStore

BATCH_WRITE_MAX_ITEMS = 25  # DynamoDB's limit per BatchWriteItem
SESSIONS_TABLE_SUFFIX = "-SessionsTable"  # the emulator's tables: {stack}-{logical id} (local/stack/template.py)


class Seeder:
    """Writes items and histories into one sessions table through one DynamoDB client."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        from sessions.store import SessionStore

        self.client, self.table_name = client, table_name
        self.store: SessionStore = SessionStore(client, table_name)

    @classmethod
    def in_process(cls) -> Seeder:
        """The table this process's functions use (the settings' and the store's cached client)."""
        from sessions import store
        from sessions.core.settings import get_settings

        return cls(store.dynamodb_client(), get_settings().table_name)

    @classmethod
    def on_emulator(cls, moto_url: str) -> Seeder:
        """The sessions table of a dev server's emulator (its moto_url), with the emulator's dummy credentials.

        Items are made with this process's settings (the history's maximum, the inactivity timeout): the
        template's defaults under the tests, as a dev server started without overrides has them too.
        """
        import boto3

        from local.aws.emulator import REGION

        local = "local"  # the emulator's dummy credentials (local/aws/emulator.py)
        client = boto3.client(
            "dynamodb", endpoint_url=moto_url, region_name=REGION, aws_access_key_id=local, aws_secret_access_key=local
        )
        (table,) = [name for name in client.list_tables()["TableNames"] if name.endswith(SESSIONS_TABLE_SUFFIX)]
        return cls(client, table)

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Put `items` (records with their keys, store/keys.py) in BatchWriteItem calls of 25."""
        for start in range(0, len(items), BATCH_WRITE_MAX_ITEMS):
            batch = [{"PutRequest": {"Item": to_item(item)}} for item in items[start : start + BATCH_WRITE_MAX_ITEMS]]
            pending: dict[str, Any] = {self.table_name: batch}
            for attempt in range(10):
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not a secret
            else:
                raise RuntimeError("DynamoDB left items unprocessed after 10 attempts")

    def append(self, identity: Identity, session_id: str, events: Sequence[Mapping[str, Any]]) -> SessionRecord:
        """Append `events` (bodies of POST …/events) to the session as `identity`; the session as written.

        The API's rules apply (another user's, a deleted or expired, a closed session, a full history,
        a token budget refuse, before anything is written). Events it would write elsewhere are refused:
        large parts (S3) and state documents (state_patch, state_set) go through the API.
        """
        from sessions.core.clock import now_ms
        from sessions.core.settings import get_settings
        from sessions.domain.appending import plan_appends
        from sessions.domain.limits import INLINE_PART_MAX_BYTES
        from sessions.domain.models import AppendEventRequest
        from sessions.store.keys import event_item
        from sessions.usecases.access import is_live, written_by
        from sessions.usecases.large_events import PARTS, part_bytes

        requests = [AppendEventRequest.model_validate(event) for event in events]
        for request in requests:
            if request.state_patch is not None or request.state_set is not None:
                raise ValueError("an event that writes state documents is appended through the API")
            given = request.model_dump(mode="json", exclude_none=True)  # the parts as the event stores them
            for part in PARTS:
                if part in given and len(part_bytes(part, given[part])) > INLINE_PART_MAX_BYTES:
                    raise ValueError(f"an event whose {part} goes to S3 is appended through the API")
        current = self.store.get_session(identity.tenant_id, session_id)
        if current is None or current["user_id"] != identity.user_id or not is_live(current, now_ms()):
            raise LookupError(f"{identity.user_id!r} has no live session {session_id!r} in {identity.tenant_id!r}")
        planned, changes = plan_appends(current, requests, now_ms(), max_events=get_settings().max_history_events)
        self.put_items([event_item(current, event) for event in planned])
        return self.store.append_events(current, [], written_by(identity, changes))
