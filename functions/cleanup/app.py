"""Scheduled bulk cleanup; invoked by hand with {"dry_run": true} it reports without deleting."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sessions.core.clock import now_ms
from sessions.usecases.cleanup import check_settings, run_cleanup
from sessions.usecases.erasure import resume_lapsed_erasures
from sessions.usecases.export import resume_lapsed_exports

check_settings()
logger = Logger()
metrics = Metrics()


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # a schedule delivers an EventBridge envelope; a manual invoke may ask for a dry run
    dry_run = event.get("dry_run") is True
    started = now_ms()
    summary = run_cleanup(dry_run=dry_run, remaining_ms=context.get_remaining_time_in_millis)
    logger.info("cleanup run", extra=summary)
    if dry_run:
        return summary  # it removed nothing: its counts are no metric
    # an erasure whose worker died (its lease lapsed) is woken: its job item's write reaches a new worker
    logger.info("erasures resumed", extra={"erasures_resumed": resume_lapsed_erasures()})
    logger.info("exports resumed", extra={"exports_resumed": resume_lapsed_exports()})
    # per function, so that two stacks in one account never satisfy each other's alarm
    metrics.add_dimension(name="function_name", value=context.function_name)
    for name in ("sessions_expired", "sessions_purged", "history_events_deleted"):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=summary[name])
    metrics.add_metric(name="runs_completed", unit=MetricUnit.Count, value=int(summary["complete"]))
    metrics.add_metric(name="runs_skipped", unit=MetricUnit.Count, value=int(summary["skipped"]))
    metrics.add_metric(name="duration_ms", unit=MetricUnit.Milliseconds, value=now_ms() - started)
    return summary
