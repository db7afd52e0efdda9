"""Tenant settings and history retention on the dev server: bounds as deployed, the cleanup invoked as Lambda."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from sessions.core.clock import format_ms, now_ms, parse_timestamp
from tests.e2e.client import Client
from tests.e2e.conftest import DevServer

LOCAL = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}
REMOVED_WITHIN_SECONDS = 30


def test_an_admin_sets_the_bounds_that_creates_and_patches_keep(api: Client, tenant: str, user: str) -> None:
    member = api.as_(user=user, tenant=tenant)
    admin = api.as_(user="boss", tenant=tenant, roles="admin")
    refused = member.patch("/v1/tenant/settings", {"max_session_ttl_seconds": 3600})
    assert refused.status == 403 and refused.json()["code"] == "forbidden"
    changed = admin.patch("/v1/tenant/settings", {"max_session_ttl_seconds": 3600, "default_session_ttl_seconds": 900})
    assert changed.status == 200 and changed.headers["etag"] == '"1"', changed.body
    assert member.get("/v1/tenant/settings").json() == changed.json()

    created = member.post("/v1/sessions", {})
    assert created.status == 201
    session = created.json()
    lifetime = (parse_timestamp(session["expires_at"]) - parse_timestamp(session["created_at"])) // 1000
    assert lifetime == 900  # the tenant's default
    too_long = member.post("/v1/sessions", {"ttl_seconds": 3601})
    assert too_long.status == 422 and too_long.json()["code"] == "ttl_above_tenant_max"
    patched = member.patch(f"/v1/sessions/{session['session_id']}", {"ttl_seconds": 3601})
    assert patched.status == 422 and patched.json()["code"] == "ttl_above_tenant_max"
    assert member.patch(f"/v1/sessions/{session['session_id']}", {"ttl_seconds": 3600}).status == 200


def test_the_cleanup_removes_events_past_the_tenants_retention_only(
    api: Client, dev_server: DevServer, tenant: str, user: str
) -> None:
    admin = api.as_(user="boss", tenant=tenant, roles="admin")
    assert admin.patch("/v1/tenant/settings", {"history_retention_days": 1}).status == 200
    mine, other = api.as_(user=user, tenant=tenant), api.as_(user=user, tenant=f"{tenant}-other")
    dynamodb = boto3.client("dynamodb", endpoint_url=dev_server.moto_url, **LOCAL)
    ids = []
    for caller, caller_tenant in ((mine, tenant), (other, f"{tenant}-other")):
        sid = caller.post("/v1/sessions", {}).json()["session_id"]
        for index in range(3):
            assert caller.post(f"/v1/sessions/{sid}/events", {"type": "m", "content": f"c{index}"}).status == 201
        age_events(dynamodb, caller_tenant, sid, seqs={1, 2}, days=2)
        ids.append(sid)
    mine_id, other_id = ids

    lambda_client = boto3.client("lambda", endpoint_url=dev_server.lambda_url, **LOCAL)
    deadline = time.monotonic() + REMOVED_WITHIN_SECONDS
    while history(mine, mine_id) != [3] and time.monotonic() < deadline:
        # a scheduled run may hold the lease: this one then skips, and the next one does the work
        json.loads(lambda_client.invoke(FunctionName="CleanupFunction", Payload=b"{}")["Payload"].read())
        time.sleep(0.2)
    assert history(mine, mine_id) == [3]
    assert history(other, other_id) == [1, 2, 3]  # a tenant without retention keeps everything
    session = mine.get(f"/v1/sessions/{mine_id}").json()
    assert session["usage"]["event_count"] == 1
    # the stats count the removal as they count a removal by request (DELETE …/events?seq=…)
    assert mine.get("/v1/sessions/stats").json()["events_total"] == 1
    assert other.get("/v1/sessions/stats").json()["events_total"] == 3


def history(caller: Client, sid: str) -> list[int]:
    return [event["seq"] for event in caller.get(f"/v1/sessions/{sid}/history").json()["events"]]


def age_events(dynamodb: Any, tenant: str, sid: str, *, seqs: set[int], days: int) -> None:
    """Move the append time of events back, as if appended `days` ago (the emulator's clock cannot move)."""
    table = next(name for name in dynamodb.list_tables()["TableNames"] if "SessionsTable" in name)
    past = {"S": format_ms(now_ms() - days * 86_400_000)}
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :e)",
        ExpressionAttributeValues={":pk": {"S": f"T#{tenant}#S#{sid}"}, ":e": {"S": "E#"}},
    )["Items"]
    for item in items:
        if int(item["seq"]["N"]) in seqs:
            dynamodb.update_item(
                TableName=table,
                Key={"PK": item["PK"], "SK": item["SK"]},
                UpdateExpression="SET created_at = :at, purge_at = :at",
                ExpressionAttributeValues={":at": past},
            )
