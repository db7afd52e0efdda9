"""Every function has a sample event in events/ (for `sam local invoke -e`) that its handler accepts."""

from __future__ import annotations

import json

import pytest

from local.api.gateway import LambdaContext
from local.stack.template import ROOT, function_specs, load_template, local_resolver

EVENTS = ROOT / "events"
FUNCTIONS = sorted(function_specs(load_template(), local_resolver({})))
# status each sample produces, replayed in this order against one table
EXPECTED = {
    "CreateSessionFunction": 201,
    "GetSessionFunction": 200,
    "UpdateSessionFunction": 200,
    "AppendEventFunction": 201,
    "GetEventFunction": 200,
    "UpdateEventFunction": 200,
    "GetHistoryFunction": 200,
    "ForkSessionFunction": 201,
    "ListSessionsFunction": 200,
    "GetStatsFunction": 200,
    "UpdateTenantSettingsFunction": 200,  # an admin's first change (If-Match "0")
    "GetTenantSettingsFunction": 200,
    "UpdateStateFunction": 200,
    "GetStateFunction": 200,
    "DeleteEventsFunction": 200,
    "DeleteSessionFunction": 204,
    "GetExportFunction": 404,  # an export id the sample cannot know (each start draws a new one)
    "StartExportFunction": 202,  # before the erasure: an export is refused while one runs
    "GetErasureFunction": 404,  # an erasure id the sample cannot know (each start draws a new one)
    "StartErasureFunction": 202,  # last: creates of the user are refused while it runs
}
HTTP_FUNCTIONS = [name for name, spec in function_specs(load_template(), local_resolver({})).items() if spec.routes]


def test_every_function_has_a_sample_event():
    assert sorted(path.stem for path in EVENTS.glob("*.json")) == FUNCTIONS
    assert set(EXPECTED) == set(HTTP_FUNCTIONS)


def test_the_samples_run_in_lifecycle_order(gateway):
    for function, status in EXPECTED.items():
        event = json.loads((EVENTS / f"{function}.json").read_text())
        response = gateway.handler(function)(event, LambdaContext(function))
        assert response["statusCode"] == status, (function, response.get("body"))


def test_the_schedule_sample_runs_a_complete_cleanup(gateway):
    event = json.loads((EVENTS / "CleanupFunction.json").read_text())
    summary = gateway.handler("CleanupFunction")(event, LambdaContext("CleanupFunction", timeout_seconds=300))
    assert summary == {
        "dry_run": False,
        "sessions_expired": 0,
        "sessions_purged": 0,
        "history_events_deleted": 0,
        "retention_events_deleted": 0,
        "complete": True,
        "skipped": False,
    }


def test_the_worker_sample_finds_no_such_job_and_does_nothing(gateway):
    event = json.loads((EVENTS / "ErasureWorkerFunction.json").read_text())
    context = LambdaContext("ErasureWorkerFunction", timeout_seconds=300)
    assert gateway.handler("ErasureWorkerFunction")(event, context) == {
        "runs": {"5b1e2c3d-0000-4000-8000-000000000001": "busy"}
    }


def test_the_export_worker_sample_finds_no_such_job_and_does_nothing(gateway):
    event = json.loads((EVENTS / "ExportWorkerFunction.json").read_text())
    context = LambdaContext("ExportWorkerFunction", timeout_seconds=300)
    assert gateway.handler("ExportWorkerFunction")(event, context) == {
        "runs": {"6c2f3d4e-0000-4000-8000-000000000001": "busy"}
    }


def test_the_stream_sample_publishes_without_failures(gateway):
    event = json.loads((EVENTS / "PublishEventsFunction.json").read_text())
    response = gateway.handler("PublishEventsFunction")(event, LambdaContext("PublishEventsFunction"))
    assert response == {"batchItemFailures": []}


@pytest.mark.parametrize("function", sorted(HTTP_FUNCTIONS))
def test_samples_carry_identity_only_in_the_authorizer_claims(function):
    event = json.loads((EVENTS / f"{function}.json").read_text())
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"]
    assert not {"x-user-id", "x-tenant-id", "x-roles"} & set(event["headers"])
