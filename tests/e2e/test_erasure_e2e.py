"""Erasure on the dev server: the worker woken by the stream as deployed, everything of the user gone."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from tests.e2e.client import Client
from tests.e2e.conftest import DevServer, job_once_done
from tests.e2e.test_events_e2e import consumer_on

BIG = "x" * (100 * 1024)  # its content goes to S3
DONE_WITHIN_SECONDS = 60


def _emulator(dev_server: DevServer) -> tuple[Any, Any]:
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    return (
        session.client("dynamodb", endpoint_url=dev_server.moto_url),
        session.client("s3", endpoint_url=dev_server.moto_url),
    )


def naming(dev_server: DevServer, text: str) -> list[Any]:
    """Every item of every table and every object of every bucket whose content or key holds `text`."""
    dynamodb, s3 = _emulator(dev_server)
    found: list[Any] = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            found += [item for item in page["Items"] if text in json.dumps(item)]
    for bucket in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
            found += [entry["Key"] for entry in page.get("Contents", []) if text in entry["Key"]]
    return found


def test_an_erasure_over_http_leaves_nothing_of_the_user(
    api: Client, dev_server: DevServer, tenant: str, user: str
) -> None:
    owner = api.as_(user=user, tenant=tenant)
    other = api.as_(user=f"{user}-other", tenant=tenant)
    for caller, name in ((owner, user), (other, f"{user}-other")):
        for index in range(3):
            sid = caller.post("/v1/sessions", {"app_name": "shop", "title": "private"}).json()["session_id"]
            for _ in range(3):
                assert caller.post(f"/v1/sessions/{sid}/events", {"type": "m", "content": "words"}).status == 201
            if index == 0:
                assert caller.post(f"/v1/sessions/{sid}/events", {"type": "m", "content": BIG}).status == 201
        assert caller.patch(f"/v1/apps/chat/users/{name}/state", {"k": 1}).status == 200
    other_before = naming(dev_server, f"{user}-other")

    with consumer_on(dev_server.moto_url) as consumer:
        started = owner.post(f"/v1/users/{user}/erasure")
        assert started.status == 202, started.body
        job_path = started.headers["location"]
        refused = owner.post("/v1/sessions", {})
        assert refused.status == 409 and refused.json()["code"] == "user_erasure_in_progress"
        deadline = time.monotonic() + DONE_WITHIN_SECONDS
        job = job_once_done(owner, job_path, deadline)
        assert job["status"] == "completed", job
        assert job["counts"]["sessions_erased"] == 3 and job["counts"]["events_deleted"] == 10
        assert job["counts"]["objects_deleted"] == 1 and job["counts"]["state_documents_deleted"] == 1
        erased = []
        while not erased and time.monotonic() < deadline:
            erased = [event for event in consumer.receive() if event["detail-type"] == "user.erased"]
        assert [event["detail"]["erasure_id"] for event in erased] == [job["erasure_id"]]

    left = [item for item in naming(dev_server, user) if f"{user}-other" not in json.dumps(item)]
    assert [item["SK"]["S"] for item in left] == ["#ERASURE"]  # the job: ids and counts, TTL 30 days
    assert naming(dev_server, f"{user}-other") == other_before
    assert owner.post("/v1/sessions", {}).status == 201  # done: the user may start anew
