"""The feeders of one table share its reads (local/event_sources/stream_reader.SharedStream)."""

from __future__ import annotations

import threading
from typing import Any

from local.event_sources.stream_reader import SharedStream, StreamReader


class CountingStream:
    """A stream whose records are written by the test; counts the reads that reach the emulator."""

    def __init__(self) -> None:
        self.written: list[dict[str, Any]] = []
        self.position = 0
        self.reads = 0

    def write(self, count: int) -> None:
        start = len(self.written)
        self.written += [{"n": n} for n in range(start, start + count)]

    def read(self) -> list[dict[str, Any]]:
        self.reads += 1
        records = self.written[self.position :]
        self.position += len(records)
        return records


def test_every_subscriber_gets_every_record_in_order_from_one_read_of_the_stream() -> None:
    stream = CountingStream()
    shared = SharedStream(lambda: stream)
    publisher, worker = shared.subscriber()(), shared.subscriber()()
    stream.write(3)
    assert [r["n"] for r in publisher.read()] == [0, 1, 2]
    stream.write(2)  # written after the publisher's read: the worker still starts at the stream's start
    assert [r["n"] for r in worker.read()] == [0, 1, 2]  # from memory: nothing was read for it
    assert stream.reads == 1
    assert [r["n"] for r in worker.read()] == [3, 4]  # it ran out: it reads the emulator
    assert [r["n"] for r in publisher.read()] == [3, 4]
    assert stream.reads == 2
    assert publisher.read() == [] and stream.reads == 3


def test_records_are_kept_only_until_the_slowest_subscriber_took_them() -> None:
    stream = CountingStream()
    shared = SharedStream(lambda: stream)
    fast, slow = shared.subscriber()(), shared.subscriber()()
    for _ in range(5):
        stream.write(100)
        fast.read()
    assert len(shared._records) == 500
    assert len(slow.read()) == 500
    assert shared._records == []


def test_concurrent_subscribers_lose_and_repeat_nothing() -> None:
    stream = CountingStream()
    shared = SharedStream(lambda: stream)
    readers = [shared.subscriber()() for _ in range(3)]
    seen: list[list[int]] = [[] for _ in readers]
    writing_done = threading.Event()

    def consume(index: int) -> None:
        while not writing_done.is_set() or len(seen[index]) < len(stream.written):
            seen[index] += [record["n"] for record in readers[index].read()]

    threads = [threading.Thread(target=consume, args=(index,)) for index in range(len(readers))]
    for thread in threads:
        thread.start()
    for _ in range(200):
        stream.write(7)
    writing_done.set()
    for thread in threads:
        thread.join(timeout=30)
    assert all(received == list(range(1400)) for received in seen)


class BusyShard:
    """A stream client whose shard gets a new record between any two GetRecords: writes that keep coming."""

    def __init__(self) -> None:
        self.meta = type("Meta", (), {"events": type("Events", (), {"register": lambda *_: None})()})()
        self.pages = 0

    def client(self, service: str) -> Any:
        return self

    def describe_table(self, **_: Any) -> dict[str, Any]:
        return {"Table": {"LatestStreamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/1"}}

    def describe_stream(self, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "iterator"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        self.pages += 1
        if self.pages > 50:
            raise AssertionError("the read never returned while writes kept coming")
        record = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(self.pages)}}
        return {"Records": [record], "NextShardIterator": "iterator"}


def test_a_read_returns_while_writes_keep_coming() -> None:
    """Under load the feeders must deliver as records arrive, not once the writes stop."""
    shard = BusyShard()
    reader = StreamReader(shard, "t")
    assert [r["dynamodb"]["SequenceNumber"] for r in reader.read()] == ["1"]
    assert [r["dynamodb"]["SequenceNumber"] for r in reader.read()] == ["2"]  # from where the last read ended
