"""DynamoDB stream → lifecycle events on the bus, with partial-batch failures."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from sessions.events import SessionStreamRecord, events_of
from sessions.publishing import put_events, settle_removal

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, model=SessionStreamRecord)


def publish(record: Any) -> None:
    settle_removal(record)
    events = events_of(record)
    if events:
        put_events(events)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    return process_partial_response(event=event, record_handler=publish, processor=processor, context=context)
