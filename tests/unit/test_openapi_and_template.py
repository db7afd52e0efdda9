"""The committed OpenAPI document is current, and every function's handler imports."""

from __future__ import annotations

import json
import re

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
        "session.events_removed",
        "session.event_changed",
        "sessions.cleanup_completed",
        "user.erased",
    }
    assert {path.stem for path in SCHEMAS_DIR.glob("*.json")} == contract
    for path in SCHEMAS_DIR.glob("session.*.json"):
        properties = json.loads(path.read_text())["properties"]
        assert not {"context", "checkpoint", "content", "payload"} & set(properties)


# --- deploy-time parameters ----------------------------------------------------------------------

PARAMETERS = load_template()["Parameters"]


def test_the_identity_provider_has_no_default_so_a_deploy_without_it_fails_fast():
    for name in ("JwtIssuer", "JwtAudience"):
        assert "Default" not in PARAMETERS[name], name
        assert PARAMETERS[name]["ConstraintDescription"], name


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", True),
        ("https://tenant.eu.auth0.com/", True),
        ("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0", True),
        ("http://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", False),
        ("cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123", False),
        ("https://cognito-idp.<region>.amazonaws.com/<user pool id>", False),
        ("", False),
    ],
)
def test_a_malformed_issuer_is_refused_by_its_pattern(value, allowed):
    # CloudFormation matches the whole value (Java regex; this pattern means the same in Python)
    assert bool(re.fullmatch(PARAMETERS["JwtIssuer"]["AllowedPattern"], value)) is allowed


@pytest.mark.parametrize(("value", "allowed"), [("4r1bq0v3example0client0id", True), ("a b", False), ("", False)])
def test_each_audience_matches_its_pattern(value, allowed):
    assert bool(re.fullmatch(PARAMETERS["JwtAudience"]["AllowedPattern"], value)) is allowed


def test_default_tenant_is_empty_or_one_tenant_id():
    pattern = PARAMETERS["DefaultTenant"]["AllowedPattern"]
    assert re.fullmatch(pattern, PARAMETERS["DefaultTenant"]["Default"])
    assert re.fullmatch(pattern, "acme") and not re.fullmatch(pattern, "ac me")


def test_the_functions_get_the_default_tenant_from_the_stack_and_the_local_stack_is_single_tenant():
    from local.stack.template import parameter_defaults

    assert all(spec.environment["DEFAULT_TENANT"] == "default" for spec in SPECS.values())  # local_resolver
    assert parameter_defaults(load_template())["DefaultTenant"] == ""  # what a deploy gets


def test_a_parameter_without_default_or_local_value_cannot_be_resolved_locally():
    from local.stack.template import MissingParameter

    with pytest.raises(MissingParameter, match="JwtIssuer"):
        local_resolver({}).resolve({"Ref": "JwtIssuer"})


def test_no_samconfig_profile_deploys_a_placeholder_identity_provider():
    import tomllib

    from local.stack.template import ROOT

    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    for profile in config.values():
        if isinstance(profile, dict) and "deploy" in profile:
            overrides = profile["deploy"]["parameters"].get("parameter_overrides", "")
            assert "EXAMPLE" not in overrides.upper(), overrides


def test_the_dev_server_runs_multi_tenant_when_the_shell_empties_default_tenant():
    """`DEFAULT_TENANT= make dev`: callers without X-Tenant-Id are refused, as by a deployed stack."""
    from local.stack.config import with_shell_overrides

    specs, overrides = with_shell_overrides(SPECS, {}, {"DEFAULT_TENANT": ""})
    assert overrides == {"DEFAULT_TENANT": ""}
    assert all(spec.environment["DEFAULT_TENANT"] == "" for spec in specs.values())
    assert with_shell_overrides(SPECS, {}, {})[0] == SPECS
