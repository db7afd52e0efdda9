"""Scheduled bulk cleanup; invoked by hand with {"dry_run": true} it reports without deleting."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sessions.cleanup import run_cleanup
from sessions.clock import now_ms

logger = Logger()
metrics = Metrics()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # a schedule delivers an EventBridge envelope; a manual invoke may ask for a dry run
    dry_run = event.get("dry_run") is True
    started = now_ms()
    summary = run_cleanup(dry_run=dry_run, remaining_ms=context.get_remaining_time_in_millis)
    for name in ("sessions_expired", "sessions_purged", "history_events_deleted"):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary[name])
    metrics.add_metric(name="duration_ms", unit=MetricUnit.Milliseconds, value=now_ms() - started)
    logger.info("cleanup run", extra=summary)
    return summary
