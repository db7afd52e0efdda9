"""adapt_moto (local/aws/moto_fixes.py): only on the moto its patches were written for, and all of them in one call.

The patches reach into moto's internals, so on another moto they could fail quietly and the emulator
stop behaving like DynamoDB: adapt_moto refuses it, naming both versions, before patching anything.
One call starts every adaptation, DynamoDB's TTL (the sweeper) included, once per process.
Each check that needs a process where moto is not adapted yet runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.aws import moto_fixes

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 120


def run_fresh(script: str, **environment: str) -> dict[str, Any]:
    """Run `script` in a new interpreter at the repository's root; the JSON it prints last."""
    run = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_moto_the_patches_were_written_for_is_the_one_requirements_pin() -> None:
    pinned = re.findall(r"^moto==(\S+)$", (ROOT / "requirements-dev.txt").read_text(encoding="utf-8"), re.MULTILINE)
    assert pinned == [moto_fixes.MOTO_VERSION]


def test_another_moto_is_refused_naming_the_version_found_and_the_one_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = moto_fixes.metadata.version
    monkeypatch.setattr(moto_fixes.metadata, "version", lambda name: "5.3.0" if name == "moto" else real_version(name))
    with pytest.raises(moto_fixes.UnsupportedMotoVersion) as refused:
        moto_fixes.adapt_moto()
    assert "moto 5.3.0 is installed" in str(refused.value)
    assert f"adapts moto {moto_fixes.MOTO_VERSION}" in str(refused.value)


REFUSED = """
import json, threading
from importlib import metadata
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType

moto_add, moto_transaction = DynamoType.__add__, DynamoDBBackend.transact_write_items
real_version = metadata.version
metadata.version = lambda name: "4.0.0" if name == "moto" else real_version(name)
from local.aws import moto_fixes

try:
    moto_fixes.adapt_moto()
    refused = ""
except moto_fixes.UnsupportedMotoVersion as error:
    refused = str(error)
print(json.dumps({
    "refused": refused,
    "untouched": DynamoType.__add__ is moto_add and DynamoDBBackend.transact_write_items is moto_transaction,
    "sweepers": sum(thread.name == "ttl-sweeper" for thread in threading.enumerate()),
}))
"""


def test_a_refused_moto_is_left_as_it_came() -> None:
    outcome = run_fresh(REFUSED)
    assert outcome["refused"].startswith("moto 4.0.0 is installed")
    assert outcome["untouched"] is True
    assert outcome["sweepers"] == 0


ADAPTED_ALONE = """
import json, threading, time
import boto3
from moto import mock_aws
from local.aws.moto_fixes import adapt_moto

sweeper = adapt_moto()
again = adapt_moto()
with mock_aws():
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(TableName="t", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    now = int(time.time())
    dynamodb.put_item(TableName="t", Item={"k": {"S": "expired"}, "ttl": {"N": str(now - 10)}})
    dynamodb.put_item(TableName="t", Item={"k": {"S": "young"}, "ttl": {"N": str(now + 3600)}})

    def present(key):
        return "Item" in dynamodb.get_item(TableName="t", Key={"k": {"S": key}}, ConsistentRead=True)

    deadline = time.monotonic() + 30
    while present("expired") and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps({
        "same_sweeper": again is sweeper,
        "sweepers": sum(thread.name == "ttl-sweeper" for thread in threading.enumerate()),
        "interval": sweeper.interval,
        "expired_present": present("expired"),
        "young_present": present("young"),
    }))
"""


def test_adapt_moto_alone_starts_one_ttl_sweeper_that_deletes_expired_items() -> None:
    outcome = run_fresh(ADAPTED_ALONE, LOCAL_TTL_SWEEP_SECONDS="0.2")
    assert outcome["same_sweeper"] is True  # a second call starts nothing more
    assert outcome["sweepers"] == 1
    assert outcome["interval"] == 0.2  # LOCAL_TTL_SWEEP_SECONDS, as the dev server's
    assert outcome["expired_present"] is False  # deleted with no one calling sweep()
    assert outcome["young_present"] is True
