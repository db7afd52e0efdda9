"""The export worker: woken by running export jobs' stream records, it works each job until done or out of time."""

from typing import Any

from aws_lambda_powertools import Logger

from sessions.usecases import export
from sessions.usecases.jobs import check_settings

check_settings()
logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    runs = export.WORKER.run_woken(event.get("Records", []), remaining_ms=context.get_remaining_time_in_millis)
    return {"runs": runs}
