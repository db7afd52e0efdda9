"""The export worker: woken by running export jobs' stream records, it works each job until done or out of time."""

from typing import Any

from aws_lambda_powertools import Logger

from sessions.core.attribute_values import from_item
from sessions.usecases.export import check_settings, run_export

check_settings()
logger = Logger()


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # a batch may hold many writes of one job: each job is run once (a run works it as long as time allows)
    jobs = {}
    for record in event.get("Records", []):
        image = from_item(record["dynamodb"].get("NewImage") or {})
        if image.get("tenant_id") and image.get("export_id"):
            jobs[(image["tenant_id"], image["export_id"])] = True
    outcomes = {}
    for tenant_id, export_id in jobs:
        outcomes[export_id] = run_export(tenant_id, export_id, remaining_ms=context.get_remaining_time_in_millis)
        logger.info("export run", extra={"export_id": export_id, "outcome": outcomes[export_id]})
    return {"runs": outcomes}
