"""Make moto's DynamoDB as atomic as DynamoDB itself.

DynamoDB applies each conditional write and each transaction atomically. moto checks a
condition and then writes without a lock, so two threads can both pass a check that only one
should pass. Serializing moto's DynamoDB operations restores the guarantee the service's
concurrency promises (the open-session cap, versioned writes) rely on, so races tested against
the emulator are the races of the real service.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.RLock()
_OPERATIONS = ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query", "scan")


@contextmanager
def serialized() -> Iterator[None]:
    """Hold the emulator's DynamoDB still: what runs inside sees and changes it as one operation."""
    with _LOCK:
        yield


def make_dynamodb_atomic() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    # stream reads too: a read in the middle of a transaction would see records its rollback removes
    targets = [(DynamoDBBackend, name) for name in _OPERATIONS] + [(DynamoDBStreamsBackend, "get_records")]
    for backend, name in targets:
        original = getattr(backend, name)
        if getattr(original, "_serialized", False):
            continue

        @functools.wraps(original)
        def serialized(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return __original(self, *args, **kwargs)

        serialized._serialized = True  # type: ignore[attr-defined]
        setattr(backend, name, serialized)
