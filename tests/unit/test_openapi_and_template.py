"""The committed OpenAPI document is current, and every function's handler imports."""

from __future__ import annotations

import json

import pytest

from local.api.gateway import load_handler
from local.generators.openapi import OPENAPI_PATH, generate_openapi, render
from local.stack.template import function_specs, load_template, local_resolver

SPECS = function_specs(load_template(), local_resolver({}))


def test_committed_openapi_is_current():
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render(generate_openapi()), "run `make openapi`"


def test_openapi_covers_every_route_of_the_template():
    paths = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))["paths"]
    for spec in SPECS.values():
        for method, path in spec.routes:
            assert method.lower() in paths[path], (method, path)


@pytest.mark.parametrize("logical_id", sorted(SPECS))
def test_every_handler_in_the_template_imports(logical_id):
    assert callable(load_handler(SPECS[logical_id]))


def test_functions_run_python_313_on_arm64_with_least_privilege():
    template = load_template()
    function_globals = template["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    for logical_id in SPECS:
        role = template["Resources"][logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
        for policy in template["Resources"][role]["Properties"]["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                assert all("*" not in action for action in statement["Action"]), logical_id
                # X-Ray's actions have no resource-level permissions (tests/unit/test_template_operations.py)
                xray = all(action.startswith("xray:") for action in statement["Action"])
                assert statement["Resource"] != "*" or xray, logical_id


def test_committed_event_schemas_are_current():
    from local.generators.event_schemas import stale_files

    assert stale_files() == [], "run `make openapi`"


def test_every_detail_type_of_the_contract_has_a_schema():
    from local.generators.event_schemas import SCHEMAS_DIR

    contract = {
        "session.created",
        "session.updated",
        "session.paused",
        "session.resumed",
        "session.completed",
        "session.crashed",
        "session.deleted",
        "session.expired",
        "session.event_appended",
        "sessions.cleanup_completed",
    }
    assert {path.stem for path in SCHEMAS_DIR.glob("*.json")} == contract
    for path in SCHEMAS_DIR.glob("session.*.json"):
        properties = json.loads(path.read_text())["properties"]
        assert not {"context", "checkpoint", "content", "payload"} & set(properties)
