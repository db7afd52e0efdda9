"""DynamoDB Streams in moto, bounded as the real service is: records live 24 h, iterators 15 min.

moto 5.2.5 keeps every stream record of a table for as long as the process runs, and every shard
iterator it ever handed out (a poll every 0.2 s is 432,000 iterators a day), so a long `make dev`
grows without bound. DynamoDB trims records older than 24 hours and expires an iterator 15
minutes after it was issued; this module does the same:

- `StreamShard.add` drops the records older than the retention from the front of the shard and
  moves the shard's first sequence number past them, so sequence numbers stay what they were;
- `StreamShard.get` reads from the oldest record still held when asked for a trimmed one (as
  TRIM_HORIZON does: the reader lost what was trimmed, as on AWS);
- shard iterators older than their lifetime are forgotten (in issue order), and using one is
  DynamoDB's `ExpiredIteratorException`.

It also announces every record added (`NEW_RECORDS`), so that the dev server's stream feeder,
which runs in moto's process, reads an idle stream when something is written rather than polling
it: records reach the function at once, and an idle server spends no CPU on reading nothing.

Drop this module once moto bounds its streams itself.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
from datetime import timedelta
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.utils import utcnow
from moto.dynamodb.models.table import StreamShard
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

RETENTION = timedelta(hours=24)
ITERATOR_LIFETIME_SECONDS = 15 * 60


class ExpiredIteratorException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("ExpiredIteratorException", "Iterator expired")


def _created(record: Any) -> Any:
    return record.record["dynamodb"]["ApproximateCreationDateTime"]


def trim(shard: StreamShard) -> None:
    """Drop the records older than RETENTION; sequence numbers of the others do not change."""
    if not shard.items or _created(shard.items[0]) >= utcnow() - RETENTION:
        return
    expired = bisect.bisect_left(shard.items, utcnow() - RETENTION, key=_created)
    del shard.items[:expired]
    shard.starting_sequence_number += expired


def _forget_expired_iterators(backend: DynamoDBStreamsBackend) -> None:
    deadline = time.monotonic() - ITERATOR_LIFETIME_SECONDS
    iterators = backend.shard_iterators
    while iterators:  # a dict keeps insertion order: the oldest iterators come first
        oldest = next(iter(iterators))
        if getattr(iterators[oldest], "issued_at", 0.0) > deadline:
            return
        del iterators[oldest]


class RecordAnnouncements:
    """Counts the stream records added in this process; a reader waits for the count to move."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    def count(self) -> int:
        """Records added so far: pass it to `wait` after a read that found nothing new."""
        with self._changed:
            return self._count

    def wait(self, since: int, timeout: float) -> None:
        """Return once a record was added after `since` was counted, at `interrupt`, or after `timeout` s."""
        with self._changed:
            self._changed.wait_for(lambda: self._count != since, timeout)

    def interrupt(self) -> None:
        """Wake every waiter (a reader that is stopping)."""
        self.announce()

    def announce(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()


NEW_RECORDS = RecordAnnouncements()


def install() -> None:
    if getattr(StreamShard.add, "_bounded", False):
        return
    original_add, original_get = StreamShard.add, StreamShard.get
    original_iterator_init = ShardIterator.__init__
    original_get_shard_iterator = DynamoDBStreamsBackend.get_shard_iterator
    original_get_records = DynamoDBStreamsBackend.get_records

    @functools.wraps(original_add)
    def add(self: StreamShard, old: Any, new: Any) -> None:
        original_add(self, old, new)
        trim(self)
        NEW_RECORDS.announce()

    @functools.wraps(original_get)
    def get(self: StreamShard, start: int, quantity: int) -> list[dict[str, Any]]:
        return original_get(self, max(start, self.starting_sequence_number), quantity)

    @functools.wraps(original_iterator_init)
    def iterator_init(self: ShardIterator, *args: Any, **kwargs: Any) -> None:
        original_iterator_init(self, *args, **kwargs)
        self.issued_at = time.monotonic()  # type: ignore[attr-defined]

    @functools.wraps(original_get_shard_iterator)
    def get_shard_iterator(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> ShardIterator:
        _forget_expired_iterators(self)
        return original_get_shard_iterator(self, *args, **kwargs)

    @functools.wraps(original_get_records)
    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
        _forget_expired_iterators(self)
        if iterator_arn not in self.shard_iterators:
            raise ExpiredIteratorException()
        return original_get_records(self, iterator_arn, limit)

    add._bounded = True  # type: ignore[attr-defined]
    StreamShard.add = add  # type: ignore[method-assign]
    StreamShard.get = get  # type: ignore[method-assign]
    ShardIterator.__init__ = iterator_init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_shard_iterator = get_shard_iterator  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
