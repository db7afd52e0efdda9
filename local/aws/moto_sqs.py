"""SQS's ReceiveMessage checking a message's retention without computing every attribute of its queue.

moto 5.2.5 checks each message it hands out against the queue's retention period by asking
`get_queue_attributes(queue, ["MessageRetentionPeriod"])`, which builds the queue's whole
attribute dict twice, counting every message of the queue three times over (visible, delayed,
in flight) each time. So each received message cost a few passes over the queue: under
`python -m bench load`, whose consumer is an SQS target on the local bus as docs/events.md shows
a team to set one up, a tenth of the emulator's time. Here the check reads the one attribute it
needs, from the same queue, with the same arithmetic.

Drop this module once moto reads the retention period alone.
"""

from __future__ import annotations

from moto.core.utils import unix_time
from moto.sqs.models import Message, SQSBackend

_moto_check = SQSBackend.is_message_valid_based_on_retention_period


def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Message) -> bool:
    retention_period = self.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
    return bool(retention_period + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]


def install() -> None:
    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
