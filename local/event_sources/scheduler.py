"""The template's `Type: Schedule` events, run locally on their rate.

Deployed, an EventBridge rule invokes the function with the event's Input (or a Scheduled Event)
on every tick; here a thread per schedule does, the first time one interval after start, as the
rule would. cron() expressions are not run locally: set LOCAL_SCHEDULE_SECONDS to run every
schedule, cron included, every that many seconds instead (handy for trying the cleanup).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from local.aws.emulator import REGION
from local.background import seconds_setting
from local.event_sources.stream_feeder import error_type
from local.functions.invoke_api import Invoke
from local.stack.template import Resolver

LOG = logging.getLogger("local")
OVERRIDE_VARIABLE = "LOCAL_SCHEDULE_SECONDS"
ACCOUNT = "123456789012"  # moto's default account, which the emulator's resources live in
STOP_WAIT_SECONDS = 5
_RATE = re.compile(r"rate\(\s*(\d+)\s+(minutes?|hours?|days?)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between the runs of a rate() expression; None for cron(); ValueError for anything else."""
    text = expression.strip()
    if text.startswith("cron(") and text.endswith(")"):
        return None
    match = _RATE.fullmatch(text)
    if match is None or int(match[1]) == 0:
        raise ValueError(f"not a schedule expression: {expression!r}")
    return int(match[1]) * _UNIT_SECONDS[match[2].removesuffix("s")]


def schedule_override(environ: Mapping[str, str]) -> float | None:
    """LOCAL_SCHEDULE_SECONDS as a positive number of seconds, or None (unset or invalid, with a warning)."""
    return seconds_setting(environ, OVERRIDE_VARIABLE, "schedules keep their own rate")


@dataclass(frozen=True)
class ScheduledFunction:
    function: str
    rule_arn: str  # the rule SAM would create for the event
    expression: str
    interval: float  # seconds
    input: str | None = None  # the event's Input (JSON); None sends EventBridge's Scheduled Event

    @property
    def every(self) -> str:
        """The template's rate, or the interval that replaced it."""
        return self.expression if rate_seconds(self.expression) == self.interval else f"every {self.interval:g} s"

    def event(self, now: datetime) -> Any:
        if self.input is not None:
            return json.loads(self.input)
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [self.rule_arn],
            "detail": {},
        }


def _enabled(properties: Mapping[str, Any]) -> bool:
    return str(properties.get("Enabled", True)).lower() != "false" and properties.get("State") != "DISABLED"


def scheduled_functions(
    template: dict[str, Any], resolver: Resolver, override: float | None
) -> list[ScheduledFunction]:
    """Every enabled `Type: Schedule` event of a function that runs locally (logs why one does not)."""
    schedules = []
    for function, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event_name, event in resource.get("Properties", {}).get("Events", {}).items():
            if event.get("Type") != "Schedule":
                continue
            where = f"{function}.{event_name}"
            properties = resolver.resolve(event.get("Properties", {}))
            if not _enabled(properties):
                LOG.info("%s: disabled in the template; not run locally", where)
                continue
            expression = str(properties.get("Schedule", ""))
            try:
                interval = rate_seconds(expression)
            except ValueError as exc:
                LOG.error("%s: %s; not run locally", where, exc)
                continue
            if interval is None and override is None:
                LOG.info(
                    "%s: %s is not run locally; set %s to run it every N seconds", where, expression, OVERRIDE_VARIABLE
                )
                continue
            payload = properties.get("Input")
            if payload is not None:
                try:
                    json.loads(str(payload))
                except ValueError:
                    LOG.error("%s: Input is not JSON; not run locally", where)
                    continue
            schedules.append(
                ScheduledFunction(
                    function=function,
                    rule_arn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{resolver.stack_name}-{function}{event_name}",
                    expression=expression,
                    interval=override or float(interval or 0),
                    input=None if payload is None else str(payload),
                )
            )
    return schedules


class Scheduler:
    """Invokes each scheduled function every interval, in a thread per schedule, until stopped.

    A run that outlasts its interval delays the next rather than overlapping it: simpler than
    EventBridge (which would invoke again regardless), and a local cleanup is short.
    """

    def __init__(self, schedules: list[ScheduledFunction], invoke: Invoke) -> None:
        self.name = "schedule " + ", ".join(f"{s.function} {s.every}" for s in schedules)
        self._invoke = invoke
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(schedule,), name=f"schedule-{schedule.function}", daemon=True)
            for schedule in schedules
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def request_stop(self) -> None:
        """No run starts after this; one in progress still does (see `stop`)."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop and wait for the threads: a run in progress finishes (or times out) first."""
        self.request_stop()
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=STOP_WAIT_SECONDS)

    def _run(self, schedule: ScheduledFunction) -> None:
        due = time.monotonic() + schedule.interval
        while not self._stopping.wait(max(0.0, due - time.monotonic())):
            self.run_once(schedule)
            due += schedule.interval
            late = time.monotonic() - due
            if late >= 0:
                missed = int(late // schedule.interval) + 1
                LOG.warning("schedule %s: the run outlasted its interval; %d runs skipped", schedule.function, missed)
                due += missed * schedule.interval

    def run_once(self, schedule: ScheduledFunction) -> None:
        """One invocation, logged by outcome only; an exception is logged, never raised."""
        started = time.perf_counter()
        try:
            invocation = self._invoke(schedule.function, schedule.event(datetime.now(UTC)))
        except Exception:
            LOG.exception("schedule %s: invoking failed", schedule.function)
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        if invocation.function_error:
            LOG.error("schedule %s function error %s %.1f ms", schedule.function, error_type(invocation), elapsed_ms)
        else:
            LOG.info("schedule %s ok %.1f ms", schedule.function, elapsed_ms)
