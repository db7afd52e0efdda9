"""Every DynamoDB call each function makes is allowed by its role in template.yaml, and nothing more.

The emulator does not enforce IAM, so a missing action would only show deployed, as AccessDenied.
This runs a workload that takes every path (creates with events, the cap and its repair, patches,
resumes, deletes, appends and batches, one event read, redacted and rewound, history, lists, stats,
the publisher settling removals and replaying a batch, the cleanup), records each function's calls
on the sessions table as IAM actions (a transaction needs the action of each of its items), and
holds them to the role's statements.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from local.api.gateway import LambdaContext
from local.stack.template import load_template
from sessions import store
from tests.integration.conftest import expire_in_place, publish

TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# the stream's actions are Lambda's event source mapping's (and the replay's), not the table client's
STREAM_ACTIONS = {"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"}


def allowed_on_sessions_table(function: str) -> set[str]:
    role = load_template()["Resources"][f"{function}Role"]["Properties"]
    actions: set[str] = set()
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any("SessionsTable" in str(resource) for resource in resources):
                actions |= {action.removeprefix("dynamodb:") for action in statement["Action"]}
    return actions - STREAM_ACTIONS


def actions_of(operation: str, params: dict[str, Any], table: str) -> set[str]:
    """The IAM actions a call needs on `table`."""
    if operation == "TransactWriteItems":
        return {
            TRANSACTION_ACTIONS[kind]
            for item in params["TransactItems"]
            for kind, body in item.items()
            if body["TableName"] == table
        }
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return {operation} if table in params["RequestItems"] else set()
    return {operation} if params.get("TableName") == table else set()


@pytest.fixture
def calls(gateway, aws, monkeypatch) -> dict[str, set[str]]:
    """Function → the IAM actions its calls needed on the sessions table."""
    table = aws["SessionsTable"]
    made: dict[str, set[str]] = defaultdict(set)
    running: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        made[running[-1] if running else "test"].update(actions_of(model.name, params, table))

    store.dynamodb_client().meta.events.register("before-parameter-build.dynamodb", record)
    original = gateway.handler

    def handler(function: str) -> Any:
        inner = original(function)

        def invoke(event: Any, context: Any) -> Any:
            running.append(function)
            try:
                return inner(event, context)
            finally:
                running.pop()

        return invoke

    monkeypatch.setattr(gateway, "handler", handler)
    return made


def test_every_function_may_make_exactly_the_calls_it_makes(gateway, table, stream, calls):
    def ok(response: Any, status: int = 200) -> None:
        assert response.status == status, response.body

    for i in range(10):
        ok(gateway.create({"session_id": f"s{i}", "events": [{"type": "message"}]}), 201)
    ok(gateway.create({}), 429)  # at the cap: the repair looks and finds nothing to give back
    ok(gateway.request("PATCH", "/v1/sessions/s0", {"status": "paused"}))
    ok(gateway.request("PATCH", "/v1/sessions/s1", {"context": {"k": 1}}, headers={"If-Match": '"2"'}))
    ok(gateway.request("POST", "/v1/sessions/s2/events", {"type": "message", "usage": {"tokens": 3}}), 201)
    ok(gateway.request("POST", "/v1/sessions/s2/events", {"events": [{"type": "task"}, {"type": "message"}]}), 201)
    ok(gateway.request("GET", "/v1/sessions/s2/events/1"))
    ok(gateway.request("PATCH", "/v1/sessions/s2/events/1", {"content": "[redacted]"}))
    ok(gateway.request("DELETE", "/v1/sessions/s2/events", query="from_seq=2&return_events=true"))
    ok(gateway.request("GET", "/v1/sessions/s2/history"))
    ok(gateway.request("GET", "/v1/sessions/s2"))
    ok(gateway.request("GET", "/v1/sessions", query="limit=5"))
    ok(gateway.request("GET", "/v1/sessions/stats"))
    ok(gateway.request("GET", "/v1/sessions/stats", user="boss", roles=["admin"], query="scope=tenant"))
    ok(gateway.request("DELETE", "/v1/sessions/s3"), 204)
    ok(gateway.create({"session_id": "s3"}), 201)  # the id of a deleted session, taken again
    ok(gateway.request("PATCH", "/v1/sessions/s7", {"status": "completed"}))  # gives its slot back
    expire_in_place(table, ["s8"])
    ok(gateway.create({"session_id": "s8"}), 201)  # over an expired session that still holds its slot
    while gateway.create({}).status == 201:  # to the cap again
        pass
    ok(gateway.request("PATCH", "/v1/sessions/s0", {"status": "crashed"}))  # gives its slot back
    ok(gateway.create({"session_id": "s10"}), 201)  # at the cap
    # the cleanup removes two open sessions and their settlement is lost: the cap repairs itself
    expire_in_place(table, ["s4", "s5"])
    gateway.handler("CleanupFunction")({}, LambdaContext("CleanupFunction", timeout_seconds=300))
    ok(gateway.request("PATCH", "/v1/sessions/s0", {"status": "active"}))  # crashed -> active at the cap repairs
    ok(gateway.create({"session_id": "after-repair"}), 201)
    publish(gateway, stream.read())  # every record so far, the late settlements included
    gateway.handler("CleanupFunction")({}, LambdaContext("CleanupFunction", timeout_seconds=300))

    functions = {function for function in calls if function != "test"}
    assert {"CreateSessionFunction", "PublishEventsFunction", "CleanupFunction"} <= functions
    assert {"GetEventFunction", "UpdateEventFunction", "DeleteEventsFunction"} <= functions
    for function in sorted(functions):
        needed, allowed = calls[function], allowed_on_sessions_table(function)
        assert needed <= allowed, f"{function} calls {sorted(needed - allowed)} without the permission"
        assert allowed <= needed, f"{function} may call {sorted(allowed - needed)} and never does"
