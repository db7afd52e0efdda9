"""DynamoDB stream → lifecycle events on the bus, with partial-batch failures; and replays of failed batches."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from sessions.domain.lifecycle_events import PendingEvent, SessionStreamRecord, events_of
from sessions.usecases.publishing import PublishingProcessor, check_settings, settle_removal
from sessions.usecases.stream_replay import is_replay_request, replay

check_settings()
logger = Logger()
# Records are parsed in events_to_publish(), not by the processor: whatever a record makes fail (a
# shape no release writes included) is that record's failure, reported by its sequence number, and
# the records behind it are still published. (A parse error outside a handler fails the whole batch.)
# The processor puts the whole batch's events after its records were handled, 10 to a PutEvents call.
processor = PublishingProcessor()
# a replay reports every failure back to the operator, even when no record of the batch got through
replay_processor = PublishingProcessor(raise_on_entire_batch_failure=False)


def events_to_publish(record: DynamoDBRecord) -> list[PendingEvent]:
    parsed = SessionStreamRecord.model_validate(record.raw_event)
    settle_removal(parsed)
    return events_of(parsed)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if is_replay_request(event):  # an operator hands back what the on-failure destination kept (docs/operations.md)
        return replay(
            event,
            lambda records: process_partial_response(
                event={"Records": records},
                record_handler=events_to_publish,
                processor=replay_processor,
                context=context,
            ),
        )
    return process_partial_response(event=event, record_handler=events_to_publish, processor=processor, context=context)
