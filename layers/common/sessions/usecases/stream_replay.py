"""Replaying a stream batch the publisher gave up on, from what its on-failure destination kept.

For a stream, Lambda's on-failure destination (the PublishDeadLetterQueue) receives a description
of the failed batch, not its records: a message whose `DDBStreamBatchInfo` names the stream, the
shard and the first and last sequence numbers. While the stream still holds those records (24
hours), an operator hands the message back to the publisher, which reads them again and runs them
through its own batch handling. A replay is idempotent: its events keep the ids they had (consumers
deduplicate on event_id), and a removal is settled once (the settled marker), so replaying a
batch twice, or one that partly succeeded, is harmless.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from sessions.core.settings import get_settings
from sessions.store.stream_batches import NoLongerInStream, StreamStretch, read_stretch

logger = Logger(child=True)
BATCH_INFO = "DDBStreamBatchInfo"
# what the publisher's batch handling returns: {"batchItemFailures": [{"itemIdentifier": <sequence number>}]}
Publish = Callable[[list[dict[str, Any]]], Any]


class NotAFailedBatch(ValueError):
    """The replay request does not describe a failed batch of this stack's table stream."""


@dataclass(frozen=True)
class FailedBatch:
    stretch: StreamStretch
    size: int


def is_replay_request(event: Any) -> bool:
    """A failed batch's description (one message body), or `aws sqs receive-message` output holding some."""
    return isinstance(event, dict) and (BATCH_INFO in event or "Messages" in event)


def failed_batches(event: dict[str, Any]) -> list[FailedBatch]:
    bodies = [event] if BATCH_INFO in event else [_body(message) for message in event["Messages"]]
    return [_failed_batch(body) for body in bodies]


def replay(event: dict[str, Any], publish: Publish) -> dict[str, Any]:
    """Read each failed batch from the stream again and publish it; what happened to each, for the operator."""
    outcomes = [_replay(batch, publish) for batch in failed_batches(event)]
    return {"complete": all(outcome["status"] == "replayed" for outcome in outcomes), "batches": outcomes}


def _replay(batch: FailedBatch, publish: Publish) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "shardId": batch.stretch.shard_id,
        "startSequenceNumber": batch.stretch.first,
        "endSequenceNumber": batch.stretch.last,
        "batchSize": batch.size,
    }
    try:
        records = read_stretch(batch.stretch)
    except NoLongerInStream as exc:
        logger.error("the failed batch is no longer in the stream", extra={**outcome, "reason": str(exc)})
        return {**outcome, "status": "no_longer_in_stream", "detail": str(exc)}
    failed = [failure["itemIdentifier"] for failure in publish(records)["batchItemFailures"]]
    outcome |= {"records": len(records), "failed": failed, "status": "partly_failed" if failed else "replayed"}
    logger.info("replayed a failed stream batch", extra=outcome)
    return outcome


def _body(message: Any) -> dict[str, Any]:
    try:
        body = json.loads(message["Body"])
    except (TypeError, KeyError, ValueError):
        raise NotAFailedBatch("each of Messages needs a Body holding the on-failure record (JSON)") from None
    if not isinstance(body, dict):
        raise NotAFailedBatch("a message Body is not a JSON object")
    return body


def _failed_batch(body: dict[str, Any]) -> FailedBatch:
    info = body.get(BATCH_INFO)
    try:
        stretch = StreamStretch(
            stream_arn=str(info["streamArn"]),  # type: ignore[index]
            shard_id=str(info["shardId"]),  # type: ignore[index]
            first=str(info["startSequenceNumber"]),  # type: ignore[index]
            last=str(info["endSequenceNumber"]),  # type: ignore[index]
        )
        size = int(info.get("batchSize", 0))  # type: ignore[union-attr]
    except (TypeError, KeyError, ValueError, AttributeError):
        raise NotAFailedBatch(
            f"{BATCH_INFO} needs streamArn, shardId, startSequenceNumber and endSequenceNumber"
        ) from None
    if not (stretch.first.isdigit() and stretch.last.isdigit() and int(stretch.first) <= int(stretch.last)):
        raise NotAFailedBatch("startSequenceNumber and endSequenceNumber must be sequence numbers, first to last")
    # the publisher may read any stream (Lambda's stream policy): only its own table's is settled into this table
    table = get_settings().table_name
    if f":table/{table}/stream/" not in stretch.stream_arn:
        raise NotAFailedBatch(f"the batch is from another table's stream, not {table}'s: {stretch.stream_arn}")
    return FailedBatch(stretch, size)
