"""Every DynamoDB and S3 call each function makes is allowed by its role in template.yaml, and nothing more.

The emulator does not enforce IAM, so a missing action would only show deployed, as AccessDenied.
This runs a workload that takes every path (creates with events, the cap and its repair, patches,
resumes, deletes, appends and batches, one event read, redacted and rewound, selected events removed,
history, lists, stats, state documents, forks and the copies their parents' changes make for them, the
publisher settling removals and replaying a batch, the cleanup, a user's export and erasure), records
each function's calls on the sessions table as IAM actions (a transaction needs the action of each of
its items), and holds them to the role's statements. The same for the bucket of large event parts (a
presigned URL acts as its signer: it needs GetObject).

With a customer-managed key (KmsKeyArn), each function's KMS grants are held to the same calls: the tables
it touched, the bucket it read or wrote, the secret it read (tests/key_grants.py says what each needs), and
the queue Lambda sends its failed batches to as its role; without the key, no function has any.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from local.api.gateway import LambdaContext
from local.stack.template import load_template
from sessions import store
from sessions.core.clock import format_ms, now_ms
from sessions.usecases import cursors
from tests.integration.conftest import expire_in_place, publish, set_env
from tests.key_grants import (
    KEY_ARN,
    bucket_grant,
    deployed,
    failure_queues,
    kms_grants,
    queue_grant,
    secret_grant,
    stack,
    table_grant,
)

TRANSACTION_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# the stream's actions are Lambda's event source mapping's (and the replay's), not the table client's
STREAM_ACTIONS = {"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"}
S3_ACTIONS = {"PutObject": {"PutObject"}, "GetObject": {"GetObject"}, "ListObjectsV2": {"ListBucket"}}
S3_ACTIONS |= {"DeleteObjects": {"DeleteObject"}}  # DeleteObjects is authorized as DeleteObject of each key
S3_ACTIONS |= {"CopyObject": {"GetObject", "PutObject"}}  # reads the source object, writes the copy
# a multipart upload's calls are authorized as PutObject of its object; its abort has its own action
S3_ACTIONS |= {name: {"PutObject"} for name in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")}
S3_ACTIONS |= {"AbortMultipartUpload": {"AbortMultipartUpload"}}
OPEN_SESSION_CAP = 10  # the workload reaches it twice: set here, whatever the template's default


def allowed_on_sessions_table(function: str) -> set[str]:
    role = load_template()["Resources"][f"{function}Role"]["Properties"]
    actions: set[str] = set()
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any("SessionsTable" in str(resource) for resource in resources):
                actions |= {action.removeprefix("dynamodb:") for action in statement["Action"]}
    return actions - STREAM_ACTIONS


def allowed_on_blobs_bucket(function: str) -> set[str]:
    role = load_template()["Resources"][f"{function}Role"]["Properties"]
    actions: set[str] = set()
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if any("EventBlobsBucket" in str(resource) for resource in resources):
                actions |= {action.removeprefix("s3:") for action in statement["Action"]}
    return actions


def tables_of(operation: str, params: dict[str, Any]) -> set[str]:
    """Every table a call reads or writes."""
    if operation == "TransactWriteItems":
        return {body["TableName"] for item in params["TransactItems"] for body in item.values()}
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return set(params["RequestItems"])
    return {params["TableName"]} if "TableName" in params else set()


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
    """Function → the IAM actions its calls needed on the sessions table (and "s3:…" on the bucket), and the
    tables ("table:…") and secrets ("secret:…") they touched."""
    table, bucket = aws["SessionsTable"], aws["EventBlobsBucket"]
    made: dict[str, set[str]] = defaultdict(set)
    running: list[str] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        made[running[-1] if running else "test"].update(actions_of(model.name, params, table))
        made[running[-1] if running else "test"].update(f"table:{name}" for name in tables_of(model.name, params))

    def record_secret(params: dict[str, Any], **_: Any) -> None:
        made[running[-1] if running else "test"].add(f"secret:{params['SecretId']}")

    def record_s3(model: Any, params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") == bucket:
            made[running[-1] if running else "test"].update(f"s3:{action}" for action in S3_ACTIONS[model.name])

    store.dynamodb_client().meta.events.register("before-parameter-build.dynamodb", record)
    store.aws_client("s3").meta.events.register("before-parameter-build.s3", record_s3)
    store.aws_client("secretsmanager").meta.events.register("before-parameter-build.secrets-manager", record_secret)
    original = gateway.handler

    def handler(function: str) -> Any:
        inner = original(function)

        def invoke(event: Any, context: Any) -> Any:
            cursors._secret.cache_clear()  # each function its own container: each reads the secret itself
            running.append(function)
            try:
                return inner(event, context)
            finally:
                running.pop()

        return invoke

    monkeypatch.setattr(gateway, "handler", handler)
    return made


def test_every_function_may_make_exactly_the_calls_it_makes(gateway, aws, table, stream, calls, monkeypatch):
    def ok(response: Any, status: int = 200) -> None:
        assert response.status == status, response.body

    set_env(monkeypatch, MAX_OPEN_SESSIONS_PER_USER=str(OPEN_SESSION_CAP))
    for i in range(OPEN_SESSION_CAP):
        ok(gateway.create({"session_id": f"s{i}", "events": [{"type": "message"}]}), 201)
    ok(gateway.create({}), 429)  # at the cap: the repair looks and finds nothing to give back
    ok(gateway.request("PATCH", "/v1/sessions/s0", {"status": "paused"}))
    ok(gateway.request("PATCH", "/v1/sessions/s1", {"context": {"k": 1}}, headers={"If-Match": '"2"'}))
    ok(gateway.request("POST", "/v1/sessions/s2/events", {"type": "message", "usage": {"tokens": 3}}), 201)
    large = {"type": "message", "content": "x" * 40_000, "payload": {"big": "y" * 40_000}}
    ok(gateway.request("POST", "/v1/sessions/s2/events", large), 201)  # both parts to S3 (seq 3)
    ok(gateway.request("POST", "/v1/sessions/s4/events", large), 201)  # purged by the cleanup below
    ok(gateway.request("GET", "/v1/sessions/s2/history", query="include_payload=true"))
    ok(gateway.request("GET", "/v1/sessions/s2/history", query="limit=1"))  # a next page: its cursor signed
    ok(gateway.request("POST", "/v1/sessions/s2/events", {"events": [{"type": "task"}, {"type": "message"}]}), 201)
    ok(gateway.request("GET", "/v1/sessions/s2/events/3"))  # its parts read back from S3
    # redacted: the parts read, the changed payload written as a new object, the replaced objects deleted
    ok(
        gateway.request(
            "PATCH", "/v1/sessions/s2/events/3", {"content": "[redacted]", "payload": {"big": "z" * 40_000}}
        )
    )
    ok(gateway.request("DELETE", "/v1/sessions/s2/events", query="seq=4&seq=99"))  # selected: read in one BatchGetItem
    ok(gateway.request("DELETE", "/v1/sessions/s2/events", query="from_seq=3&return_events=true"))
    ok(gateway.request("GET", "/v1/sessions/s2"))
    ok(gateway.create({"session_id": "with-app", "app_name": "shop"}, user="u-app"), 201)
    ok(gateway.request("GET", "/v1/sessions/with-app", query="include=state", user="u-app"))
    ok(gateway.request("GET", "/v1/sessions", query="limit=5"))
    ok(gateway.request("GET", "/v1/sessions", query="include_context=true&order_by=last_active_at"))  # BatchGetItem
    ok(gateway.request("GET", "/v1/apps/app-1/sessions", user="boss", roles=["admin"]))
    ok(gateway.request("GET", "/v1/sessions/stats"))
    ok(gateway.request("GET", "/v1/sessions/stats", user="boss", roles=["admin"], query="scope=tenant"))
    ok(gateway.request("DELETE", "/v1/sessions/s3"), 204)
    ok(gateway.create({"session_id": "s3"}), 201)  # the id of a deleted session, taken again
    ok(gateway.request("PATCH", "/v1/sessions/s7", {"status": "completed"}))  # gives its slot back
    expire_in_place(table, ["s8"])
    ok(gateway.create({"session_id": "s8"}), 201)  # over an expired session that still holds its slot
    ok(gateway.create({}), 201)  # to the cap again: s7's slot was the one free
    ok(gateway.create({}), 429)
    ok(gateway.request("PATCH", "/v1/sessions/s0", {"status": "crashed"}))  # gives its slot back
    ok(gateway.create({"session_id": "s10"}), 201)  # at the cap
    # the cleanup removes two open sessions and their settlement is lost: the cap repairs itself
    expire_in_place(table, ["s4", "s5"])
    gateway.handler("CleanupFunction")({}, LambdaContext("CleanupFunction", timeout_seconds=300))
    ok(gateway.request("PATCH", "/v1/sessions/s0", {"status": "active"}))  # crashed -> active at the cap repairs
    ok(gateway.create({"session_id": "after-repair"}), 201)
    # state documents: read, merge-patched (conditioned put), and patched with an append in its transaction
    service = {"user": "svc", "roles": ["service"]}
    ok(gateway.request("GET", "/v1/apps/app/state"))
    ok(gateway.request("PATCH", "/v1/apps/app/state", {"a": 1}, **service))
    ok(gateway.request("GET", "/v1/apps/app/users/bob/state", **service))
    ok(gateway.request("PATCH", "/v1/apps/app/users/bob/state", {"b": 1}, headers={"If-Match": '"0"'}, **service))
    ok(gateway.create({"session_id": "in-app", "app_name": "app", "user_id": "bob"}, **service), 201)
    state_patch = {"app": {"a": 2}, "user": {"b": 2}}
    appended = gateway.request(
        "POST", "/v1/sessions/in-app/events", {"type": "m", "state_patch": state_patch}, query="user_id=bob", **service
    )
    ok(appended, 201)
    # a create that writes the state documents in its transaction (they are read first)
    state_set = {"app": {"c": None}, "user": {"d": None}}
    ok(
        gateway.create(
            {"session_id": "in-app-2", "app_name": "app", "user_id": "bob", "state_set": state_set}, **service
        ),
        201,
    )
    # a batch that replaces the history's tail (a compaction): the tail read, its items and objects deleted
    tail = gateway.request("POST", "/v1/sessions/s2/events", large)
    ok(tail, 201)
    compaction = {"events": [{"type": "summary", "base": True}], "replace_from_seq": tail.body["seq"]}
    ok(gateway.request("POST", "/v1/sessions/s2/events", compaction), 201)
    fork_workload(gateway, table, ok)
    # with an Idempotency-Key, each of the three functions that take one reads and writes its record's table
    for method, path, body in (
        ("POST", "/v1/sessions", {"session_id": "keyed"}),
        ("POST", "/v1/sessions/keyed/events", {"type": "message"}),
        ("POST", "/v1/sessions/keyed/fork", {"session_id": "keyed-fork"}),
    ):
        ok(gateway.request(method, path, body, user="u-keyed", headers={"Idempotency-Key": f"k-{path}"}), 201)
    export_workload(gateway, ok, monkeypatch)
    erasure_workload(gateway, ok)
    retention_workload(gateway, table, ok)
    publish(gateway, stream.read())  # every record so far, the late settlements included
    gateway.handler("CleanupFunction")({}, LambdaContext("CleanupFunction", timeout_seconds=300))

    functions = {function for function in calls if function != "test"}
    assert {"CreateSessionFunction", "PublishEventsFunction", "CleanupFunction"} <= functions
    assert {"GetStateFunction", "UpdateStateFunction"} <= functions
    assert {"GetEventFunction", "UpdateEventFunction", "DeleteEventsFunction", "ForkSessionFunction"} <= functions
    assert {"StartErasureFunction", "GetErasureFunction", "ErasureWorkerFunction"} <= functions
    assert {"StartExportFunction", "GetExportFunction", "ExportWorkerFunction"} <= functions
    assert {"GetTenantSettingsFunction", "UpdateTenantSettingsFunction"} <= functions
    for function in sorted(functions):
        needed = {action for action in calls[function] if ":" not in action}
        allowed = allowed_on_sessions_table(function)
        assert needed <= allowed, f"{function} calls {sorted(needed - allowed)} without the permission"
        assert allowed <= needed, f"{function} may call {sorted(allowed - needed)} and never does"
        needed_s3 = {action.removeprefix("s3:") for action in calls[function] if action.startswith("s3:")}
        allowed_s3 = allowed_on_blobs_bucket(function)
        assert needed_s3 == allowed_s3, f"{function} calls {sorted(needed_s3)} on the bucket, may {sorted(allowed_s3)}"
    assert {"AppendEventFunction", "GetHistoryFunction", "CleanupFunction"} <= {
        function for function in functions if allowed_on_blobs_bucket(function)
    }
    assert_key_grants_are_what_the_calls_need(calls, functions, aws)


def assert_key_grants_are_what_the_calls_need(calls: dict[str, set[str]], functions: set[str], aws: Any) -> None:
    with_key = stack(aws, KmsKeyArn=KEY_ARN)
    bucket_arn = with_key.resolve({"Fn::GetAtt": ["EventBlobsBucket", "Arn"]})
    assert {"ListSessionsFunction", "GetHistoryFunction"} <= {f for f in functions if any_of(calls[f], "secret:")}
    for function in sorted(functions):
        made = calls[function]
        needed = {table_grant(any_of(made, "table:"))} if any_of(made, "table:") else set()
        reads, writes = "s3:GetObject" in made, "s3:PutObject" in made  # a copy is both
        needed |= {bucket_grant(bucket_arn, reads=reads, writes=writes)} if reads or writes else set()
        needed |= {secret_grant(any_of(made, "secret:"))} if any_of(made, "secret:") else set()
        # Lambda sends the function's failed stream batches as its role: no call here makes it
        queues = failure_queues(function, with_key)
        needed |= {queue_grant(queues)} if queues else set()
        assert kms_grants(deployed(with_key), function) == needed, function
        assert kms_grants(deployed(stack(aws)), function) == set(), function


def any_of(made: set[str], prefix: str) -> set[str]:
    return {entry.removeprefix(prefix) for entry in made if entry.startswith(prefix)}


def export_workload(gateway: Any, ok: Any, monkeypatch: Any) -> None:
    """Bob's data exported twice: a run that fails after uploading a part (its upload aborted), then one that
    completes (its large part read back), its download URL signed; the erasure below deletes the export."""
    from sessions.usecases import export, jobs

    service = {"user": "svc", "roles": ["service"]}
    large = {"type": "message", "content": "x" * 40_000}
    ok(gateway.request("POST", "/v1/sessions/in-app/events", large, query="user_id=bob", **service), 201)
    worker = gateway.handler("ExportWorkerFunction")

    def run(export_id: str) -> None:
        job = {"tenant_id": {"S": "acme"}, "export_id": {"S": export_id}}
        worker(
            {"Records": [{"dynamodb": {"NewImage": job}}]}, LambdaContext("ExportWorkerFunction", timeout_seconds=300)
        )

    def fails(*_: Any) -> None:
        raise RuntimeError("the last part failed")

    with monkeypatch.context() as patched:  # every line a part of its own, and the last run's failure final
        patched.setattr(export, "PART_BYTES", 1)
        patched.setattr(jobs, "MAX_FAILURES", 1)
        patched.setattr(export._Run, "_complete", fails)
        failing = gateway.request("POST", "/v1/users/bob/export", **service)
        ok(failing, 202)
        run(failing.body["export_id"])
    assert gateway.request("GET", f"/v1/exports/{failing.body['export_id']}", **service).body["status"] == "failed"
    started = gateway.request("POST", "/v1/users/bob/export", **service)
    ok(started, 202)
    ok(gateway.request("POST", "/v1/users/bob/export", **service), 202)  # the running one answers
    run(started.body["export_id"])
    exported = gateway.request("GET", f"/v1/exports/{started.body['export_id']}", **service)
    ok(exported)
    assert exported.body["status"] == "completed" and exported.body["download_url"]


def erasure_workload(gateway: Any, ok: Any) -> None:
    """Bob erased: his sessions (a large part in S3), his state document; the job started twice and read."""
    service = {"user": "svc", "roles": ["service"]}
    large = {"type": "message", "content": "x" * 40_000}
    ok(gateway.request("POST", "/v1/sessions/in-app/events", large, query="user_id=bob", **service), 201)
    started = gateway.request("POST", "/v1/users/bob/erasure", **service)
    ok(started, 202)
    ok(gateway.request("POST", "/v1/users/bob/erasure", **service), 202)  # the running one answers
    job = {"tenant_id": {"S": "acme"}, "erasure_id": {"S": started.body["erasure_id"]}}
    worker = gateway.handler("ErasureWorkerFunction")
    worker({"Records": [{"dynamodb": {"NewImage": job}}]}, LambdaContext("ErasureWorkerFunction", timeout_seconds=300))
    erased = gateway.request("GET", f"/v1/erasures/{started.body['erasure_id']}", **service)
    ok(erased)
    assert erased.body["status"] == "completed"


def retention_workload(gateway: Any, table: Any, ok: Any) -> None:
    """The tenant's settings read and changed (its retention entry put, deleted, put); a session's first event
    aged past the retention, for the cleanup that follows to remove it with its session's update."""
    admin = {"user": "boss", "roles": ["admin"]}
    ok(gateway.request("GET", "/v1/tenant/settings"))
    for days in (1, None, 1):
        ok(gateway.request("PATCH", "/v1/tenant/settings", {"history_retention_days": days}, **admin))
    ok(gateway.create({"session_id": "aging"}, user="u-aging"), 201)
    for _ in range(2):
        ok(gateway.request("POST", "/v1/sessions/aging/events", {"type": "message"}, user="u-aging"), 201)
    long_ago = format_ms(now_ms() - 2 * 86_400_000)
    table.update_item(
        Key={"PK": "T#acme#S#aging", "SK": table.query(**_events_of("aging"))["Items"][0]["SK"]},
        UpdateExpression="SET created_at = :at, purge_at = :at",
        ExpressionAttributeValues={":at": long_ago},
    )


def _events_of(session_id: str) -> dict[str, Any]:
    return {
        "KeyConditionExpression": "PK = :pk AND begins_with(SK, :e)",
        "ExpressionAttributeValues": {":pk": f"T#acme#S#{session_id}", ":e": "E#"},
    }


def fork_workload(gateway: Any, table: Any, ok: Any) -> None:
    """Forks, and every change of a parent that copies its events (large parts too) into the forks reading them."""
    me = {"user": "u-fork"}
    large = {"type": "message", "content": "x" * 40_000, "payload": {"big": "y" * 40_000}}
    ok(gateway.create({"session_id": "parent", "events": [{"type": "message"}] * 2}, **me), 201)
    for body in (large, large, {"type": "message"}):  # seqs 3 and 4 with parts in S3, 5
        ok(gateway.request("POST", "/v1/sessions/parent/events", body, **me), 201)
    # below the parent's latest seq: the events cut off are read (Query); the parent counts the fork (Update)
    ok(gateway.request("POST", "/v1/sessions/parent/fork", {"session_id": "child", "at_seq": 4}, **me), 201)
    # a fork of a fork reads its grand-parent directly (BatchGetItem of it); its parent only checked (ConditionCheck)
    ok(gateway.request("POST", "/v1/sessions/child/fork", {"session_id": "grandchild"}, **me), 201)
    ok(gateway.request("POST", "/v1/sessions/parent/fork", {"session_id": "gone", "at_seq": 2}, **me), 201)
    ok(gateway.request("DELETE", "/v1/sessions/gone", **me), 204)
    ok(gateway.create({"session_id": "reused-id"}, **me), 201)
    expire_in_place(table, ["reused-id"])  # expired while open: its slot is given back by the fork taking its id
    ok(gateway.request("POST", "/v1/sessions/parent/fork", {"session_id": "reused-id", "at_seq": 0}, **me), 201)
    ok(gateway.request("GET", "/v1/sessions/grandchild/history", query="include_payload=true", **me))
    ok(gateway.request("GET", "/v1/sessions/grandchild/events/3", **me))
    # the parent's changes: the forks get their copy first (parts copied in S3), the gone fork's registration dropped
    ok(gateway.request("PATCH", "/v1/sessions/parent/events/4", {"content": "[redacted]"}, **me))
    ok(gateway.request("DELETE", "/v1/sessions/parent/events", query="from_seq=3&return_events=true", **me))
    ok(gateway.request("POST", "/v1/sessions/parent/events", large, **me), 201)  # seq 6
    ok(gateway.request("POST", "/v1/sessions/parent/fork", {"session_id": "late"}, **me), 201)
    tail = {"events": [{"type": "summary", "base": True}], "replace_from_seq": 6}
    ok(gateway.request("POST", "/v1/sessions/parent/events", tail, **me), 201)  # a replaced tail, copied for "late"
    ok(gateway.request("POST", "/v1/sessions/parent/events", large, **me), 201)  # seq 8
    ok(gateway.request("POST", "/v1/sessions/parent/fork", {"session_id": "last", "at_seq": 8}, **me), 201)
    ok(gateway.request("DELETE", "/v1/sessions/late", **me), 204)
    ok(gateway.request("DELETE", "/v1/sessions/parent", **me), 204)  # the cleanup's purge copies seq 8 for "last"
