"""DynamoDB stream → lifecycle events on the bus, with partial-batch failures; and replays of failed batches."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from sessions.events import SessionStreamRecord, events_of
from sessions.publishing import put_events, settle_removal
from sessions.stream_replay import is_replay_request, replay

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=SessionStreamRecord)
# a replay reports every failure back to the operator, even when no record of the batch got through
replay_processor = BatchProcessor(
    event_type=EventType.DynamoDBStreams, model=SessionStreamRecord, raise_on_entire_batch_failure=False
)


def publish(record: Any) -> None:
    settle_removal(record)
    events = events_of(record)
    if events:
        put_events(events)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if is_replay_request(event):  # an operator hands back what the on-failure destination kept (README)
        return replay(
            event,
            lambda records: process_partial_response(
                event={"Records": records}, record_handler=publish, processor=replay_processor, context=context
            ),
        )
    return process_partial_response(event=event, record_handler=publish, processor=processor, context=context)
