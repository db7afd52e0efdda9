"""What each HTTP function's INIT loads: only what its requests need (issue 16: cold start).

Each function's handler module is imported in a fresh interpreter, as Lambda's INIT does (code
directory and layer on sys.path); the test then looks at sys.modules and at which pydantic models
were built. No timings: `python -m bench cold` measures those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from local.api.gateway import LAYER_PATH
from local.aws.fake_env import FAKE_AWS_ENV
from local.stack.template import ROOT, function_specs, load_template, local_resolver

SPECS = {
    logical_id: spec for logical_id, spec in function_specs(load_template(), local_resolver({})).items() if spec.routes
}
# the request body model(s) each function validates, built at INIT; every other model waits for its first use
BODY_MODELS = {
    "AppendEventFunction": ["AppendEventRequest", "AppendEventsRequest"],
    "CreateSessionFunction": ["CreateSessionRequest"],
    "ForkSessionFunction": ["ForkSessionRequest"],
    "UpdateEventFunction": ["UpdateEventRequest"],
    "UpdateSessionFunction": ["UpdateSessionRequest"],
}
# events' large parts live in S3: only the functions that serve events load their handling
EVENT_FUNCTIONS = {
    "AppendEventFunction",
    "DeleteEventsFunction",
    "GetEventFunction",
    "GetHistoryFunction",
    "UpdateEventFunction",
}
LARGE_EVENT_MODULES = ("sessions.usecases.large_events", "sessions.store.blobs")
# planning appends and patches: not for the functions that only read
READ_FUNCTIONS = {
    "GetEventFunction",
    "GetHistoryFunction",
    "GetSessionFunction",
    "GetStateFunction",
    "GetStatsFunction",
    "GetTenantSettingsFunction",
    "ListSessionsFunction",
}
WRITE_PLANNING_MODULES = ("sessions.domain.appending", "sessions.domain.patching")
# no function loads these at INIT: boto3 (botocore's session makes the clients), the clients
# themselves (made on first use), the stream's and the cleanup's code, Powertools' parser
NEVER_AT_INIT = (
    "boto3",
    "s3transfer",
    "botocore.client",
    "sessions.domain.lifecycle_events",
    "sessions.usecases.publishing",
    "sessions.usecases.cleanup",
    "aws_lambda_powertools.utilities.parser",
)

CHILD = """\
import json, sys
code_dir, layer_dir, module_name = sys.argv[1:4]
sys.path[:0] = [code_dir, layer_dir]
__import__(module_name)
from pydantic import BaseModel
from sessions.domain import models
built = sorted(
    name for name, value in vars(models).items()
    if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == models.__name__
    and value.__pydantic_complete__
)
modules = sorted(name for name, module in sys.modules.items() if module is not None)
print(json.dumps({"modules": modules, "built": built}))
"""


def _init(logical_id: str) -> dict[str, list[str]]:
    spec = SPECS[logical_id]
    module = spec.handler.rpartition(".")[0]
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", **FAKE_AWS_ENV, **spec.environment}
    result = subprocess.run(  # noqa: S603 - our own interpreter and the template's modules
        [sys.executable, "-I", "-c", CHILD, str(spec.code_uri), str(LAYER_PATH), module],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, list[str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


@pytest.fixture(scope="module")
def inits() -> dict[str, dict[str, list[str]]]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(SPECS, pool.map(_init, SPECS), strict=True))


def test_the_expectations_name_only_http_functions():
    assert set(BODY_MODELS) | EVENT_FUNCTIONS | READ_FUNCTIONS <= set(SPECS)


@pytest.mark.parametrize("logical_id", sorted(SPECS))
def test_init_builds_only_the_body_model_the_function_validates(inits, logical_id):
    # response models serve the OpenAPI document; other routes' request models are not this function's
    assert inits[logical_id]["built"] == sorted(BODY_MODELS.get(logical_id, [])), logical_id


@pytest.mark.parametrize("logical_id", sorted(SPECS))
def test_init_loads_only_what_the_function_needs(inits, logical_id):
    modules = set(inits[logical_id]["modules"])
    assert not modules & set(NEVER_AT_INIT), logical_id
    if logical_id not in EVENT_FUNCTIONS:
        assert not modules & set(LARGE_EVENT_MODULES), logical_id
    if logical_id in READ_FUNCTIONS:
        assert not modules & set(WRITE_PLANNING_MODULES), logical_id
    if logical_id not in {"GetHistoryFunction", "AppendEventFunction"}:
        assert "sessions.usecases.events" not in modules, logical_id
    if logical_id == "GetHistoryFunction":
        assert "sessions.usecases.state" not in modules  # the append's state patches: not the history's
