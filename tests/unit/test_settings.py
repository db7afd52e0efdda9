"""The functions' settings (sessions.core.settings), read from the environment template.yaml gives each function.

One test per variable: its default (or that it is required), a valid value as parsed, and a bad value
refused with a message naming the variable. Then the model against the template (the same variables,
the same defaults), and each function's INIT: it starts with exactly the variables the template gives
it, and refuses to start without any resource variable among them.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from local.stack.template import FunctionSpec, function_specs, load_template, local_resolver
from sessions.core.settings import Settings, SettingsError, get_settings

TEMPLATE = load_template()
SPECS = function_specs(TEMPLATE, local_resolver({}, TEMPLATE))
VARIABLES = {field.alias for field in Settings.model_fields.values()}
RESOURCE_VARIABLES = {
    "TABLE_NAME",
    "IDEMPOTENCY_TABLE_NAME",
    "CURSOR_SECRET_ARN",
    "EVENT_BLOBS_BUCKET",
    "EVENT_BUS_NAME",
}
# read by Powertools, not by the sessions package
POWERTOOLS_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()  # the next test reads the environment it restores


def settings(**variables: str) -> Settings:
    """The settings of an environment with a table (every function has one) and these variables."""
    return Settings.from_environ({"TABLE_NAME": "sessions-prod", **variables})


def refusal(**variables: str) -> str:
    with pytest.raises(SettingsError) as refused:
        settings(**variables)
    return str(refused.value)


# --- one test per variable ----------------------------------------------------------------------


def test_table_name_is_required():
    with pytest.raises(SettingsError, match=r"TABLE_NAME is not set \(the DynamoDB table of sessions"):
        Settings.from_environ({})
    assert "TABLE_NAME is not set" in refusal(TABLE_NAME="  ")  # blanks count as unset
    assert settings(TABLE_NAME=" sessions-prod-SessionsTable-1X2Y ").table_name == "sessions-prod-SessionsTable-1X2Y"
    assert "TABLE_NAME='sessions prod': must not contain whitespace" in refusal(TABLE_NAME="sessions prod")


def test_tenant_claim():
    assert settings().tenant_claim == "tenant_id"
    assert settings(TENANT_CLAIM="custom:tenant_id").tenant_claim == "custom:tenant_id"
    assert "TENANT_CLAIM='custom: tenant_id': must not contain whitespace" in refusal(TENANT_CLAIM="custom: tenant_id")


def test_default_tenant():
    assert settings().default_tenant == ""  # a token without the tenant claim is refused
    assert settings(DEFAULT_TENANT=" solo ").default_tenant == "solo"
    assert "DEFAULT_TENANT='two words': must not contain whitespace" in refusal(DEFAULT_TENANT="two words")
    assert "DEFAULT_TENANT=" in refusal(DEFAULT_TENANT="t" * 129)  # the template's AllowedPattern: 128 at most


def test_roles_claim():
    assert settings().roles_claim == "cognito:groups"
    assert settings(ROLES_CLAIM="https://example.com/roles").roles_claim == "https://example.com/roles"
    assert "ROLES_CLAIM='cognito groups': must not contain whitespace" in refusal(ROLES_CLAIM="cognito groups")


def test_max_open_sessions_per_user():
    assert settings().max_open_sessions_per_user == 10
    assert settings(MAX_OPEN_SESSIONS_PER_USER="0").max_open_sessions_per_user == 0  # no cap
    assert settings(MAX_OPEN_SESSIONS_PER_USER=" 25 ").max_open_sessions_per_user == 25
    assert "MAX_OPEN_SESSIONS_PER_USER='-1': Input should be greater than or equal to 0" in refusal(
        MAX_OPEN_SESSIONS_PER_USER="-1"
    )
    assert "MAX_OPEN_SESSIONS_PER_USER='ten': Input should be a valid integer" in refusal(
        MAX_OPEN_SESSIONS_PER_USER="ten"
    )


def test_default_ttl_seconds():
    assert settings().default_ttl_seconds == 30 * 24 * 3600
    assert settings(DEFAULT_TTL_SECONDS="3600").default_ttl_seconds == 3600
    assert "DEFAULT_TTL_SECONDS='59': Input should be greater than or equal to 60" in refusal(DEFAULT_TTL_SECONDS="59")
    # never longer than a request may ask for
    assert "DEFAULT_TTL_SECONDS (7200) must not exceed MAX_TTL_SECONDS (3600)" in refusal(
        DEFAULT_TTL_SECONDS="7200", MAX_TTL_SECONDS="3600"
    )


def test_max_ttl_seconds():
    assert settings().max_ttl_seconds == 365 * 24 * 3600
    assert settings(MAX_TTL_SECONDS="86400", DEFAULT_TTL_SECONDS="86400").max_ttl_seconds == 86400
    assert "MAX_TTL_SECONDS='1.5': Input should be a valid integer" in refusal(MAX_TTL_SECONDS="1.5")
    # lowered below the default lifetime alone: the default no longer fits
    assert "must not exceed MAX_TTL_SECONDS (86400)" in refusal(MAX_TTL_SECONDS="86400")


def test_max_history_events():
    assert settings().max_history_events == 10_000
    assert settings(MAX_HISTORY_EVENTS="3").max_history_events == 3
    assert "MAX_HISTORY_EVENTS='0': Input should be greater than or equal to 1" in refusal(MAX_HISTORY_EVENTS="0")


def test_inactivity_timeout_seconds():
    assert settings().inactivity_timeout_seconds == 0  # off
    assert settings(INACTIVITY_TIMEOUT_SECONDS="3600").inactivity_timeout_seconds == 3600
    assert "INACTIVITY_TIMEOUT_SECONDS='-60'" in refusal(INACTIVITY_TIMEOUT_SECONDS="-60")


def test_event_timestamp_max_age_days():
    assert settings().event_timestamp_max_age_days == 0  # any past instant
    assert settings(EVENT_TIMESTAMP_MAX_AGE_DAYS="365").event_timestamp_max_age_days == 365
    assert "EVENT_TIMESTAMP_MAX_AGE_DAYS='a year'" in refusal(EVENT_TIMESTAMP_MAX_AGE_DAYS="a year")


def test_event_source():
    assert settings().event_source == "sessions"
    assert settings(EVENT_SOURCE="com.example.sessions").event_source == "com.example.sessions"
    assert "EVENT_SOURCE='aws.sessions': must not start with 'aws.'" in refusal(EVENT_SOURCE="aws.sessions")
    assert "EVENT_SOURCE=" in refusal(EVENT_SOURCE="s" * 257)  # PutEvents takes 256 characters


def test_idempotency_table_name():
    assert settings().idempotency_table_name is None  # only create, append and fork have it
    with pytest.raises(SettingsError, match="IDEMPOTENCY_TABLE_NAME is not set"):
        settings().resource("idempotency_table_name")
    given = settings(IDEMPOTENCY_TABLE_NAME="sessions-prod-IdempotencyTable-9Z")
    assert given.resource("idempotency_table_name") == "sessions-prod-IdempotencyTable-9Z"
    assert "IDEMPOTENCY_TABLE_NAME='a table': must not contain whitespace" in refusal(IDEMPOTENCY_TABLE_NAME="a table")


def test_cursor_secret_arn():
    assert settings().cursor_secret_arn is None  # only the list and the history have it
    with pytest.raises(SettingsError, match="CURSOR_SECRET_ARN is not set"):
        settings().resource("cursor_secret_arn")
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:CursorSecret-AbCdEf"
    assert settings(CURSOR_SECRET_ARN=arn).resource("cursor_secret_arn") == arn
    assert "CURSOR_SECRET_ARN='arn:aws: secret'" in refusal(CURSOR_SECRET_ARN="arn:aws: secret")


def test_event_blobs_bucket():
    assert settings().event_blobs_bucket is None  # only the functions that serve events, and the cleanup
    with pytest.raises(SettingsError, match="EVENT_BLOBS_BUCKET is not set"):
        settings().resource("event_blobs_bucket")
    assert settings(EVENT_BLOBS_BUCKET="sessions-prod-blobs").resource("event_blobs_bucket") == "sessions-prod-blobs"
    assert "EVENT_BLOBS_BUCKET='my bucket': must not contain whitespace" in refusal(EVENT_BLOBS_BUCKET="my bucket")


def test_event_bus_name():
    assert settings().event_bus_name is None  # only the publisher has it
    with pytest.raises(SettingsError, match=r"EVENT_BUS_NAME is not set \(the EventBridge bus"):
        settings().resource("event_bus_name")
    assert settings(EVENT_BUS_NAME="sessions-prod-bus").resource("event_bus_name") == "sessions-prod-bus"
    assert "EVENT_BUS_NAME='the bus': must not contain whitespace" in refusal(EVENT_BUS_NAME="the bus")


# --- the model as a whole -----------------------------------------------------------------------


def test_every_problem_is_named_at_once_with_the_function():
    message = refusal(MAX_HISTORY_EVENTS="many", DEFAULT_TENANT="a b", EVENT_SOURCE="aws.x")
    assert message.startswith("the sessions service is misconfigured: ")
    for variable in ("MAX_HISTORY_EVENTS", "DEFAULT_TENANT", "EVENT_SOURCE"):
        assert variable in message


def test_a_deployed_function_names_itself(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "sessions-prod-PublishEventsFunction-1AB")
    with pytest.raises(SettingsError, match=r"^function sessions-prod-PublishEventsFunction-1AB is misconfigured: "):
        settings().require("event_bus_name")


def test_a_long_refused_value_is_shortened_in_the_message():
    message = refusal(EVENT_SOURCE="s" * 300)
    assert "s" * 60 + "…'" in message
    assert "s" * 61 not in message


def test_settings_are_read_once_per_container(monkeypatch, fresh_settings):
    monkeypatch.setenv("MAX_HISTORY_EVENTS", "7")
    first = get_settings()
    monkeypatch.setenv("MAX_HISTORY_EVENTS", "8")
    assert get_settings() is first
    assert first.max_history_events == 7
    get_settings.cache_clear()  # a new container
    assert get_settings().max_history_events == 8


def _template_variables() -> dict[str, Any]:
    """Every variable any function has, as template.yaml writes it (Globals, then each function's own)."""
    variables = dict(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    for spec in SPECS.values():
        variables.update(
            TEMPLATE["Resources"][spec.logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        )
    return variables


def test_the_model_reads_every_variable_the_template_sets_and_no_other():
    assert set(_template_variables()) - POWERTOOLS_VARIABLES == VARIABLES


@pytest.mark.parametrize(
    "variable",
    sorted(name for name, value in _template_variables().items() if isinstance(value, dict) and "Ref" in value),
)
def test_a_default_is_the_default_of_the_template_parameter_that_sets_it(variable):
    parameter = TEMPLATE["Parameters"].get(_template_variables()[variable]["Ref"])
    if parameter is None:
        assert variable in RESOURCE_VARIABLES  # a resource of the stack: no default
        return
    field = next(name for name, field in Settings.model_fields.items() if field.alias == variable)
    assert str(getattr(settings(), field)) == str(parameter["Default"]), variable


# --- each function's INIT -----------------------------------------------------------------------


def _init(spec: FunctionSpec, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the function's handler module anew, as Lambda's INIT does, with only these settings variables."""
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    module_file = spec.handler.rpartition(".")[0]
    name = f"init_{spec.logical_id}_{uuid.uuid4().hex}"
    loader = importlib.util.spec_from_file_location(name, spec.code_uri / f"{module_file}.py")
    assert loader is not None
    assert loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    monkeypatch.setitem(sys.modules, name, module)
    loader.loader.exec_module(module)
    return module


@pytest.mark.parametrize("logical_id", sorted(SPECS))
def test_a_function_starts_with_the_variables_the_template_gives_it(logical_id, monkeypatch, fresh_settings):
    spec = SPECS[logical_id]
    assert callable(_init(spec, spec.environment, monkeypatch).lambda_handler)


@pytest.mark.parametrize(
    ("logical_id", "variable"),
    sorted(
        (logical_id, name)
        for logical_id, spec in SPECS.items()
        for name in spec.environment.keys() & RESOURCE_VARIABLES
    ),
)
def test_a_function_refuses_to_start_without_a_resource_it_uses(logical_id, variable, monkeypatch, fresh_settings):
    spec = SPECS[logical_id]
    without = {key: value for key, value in spec.environment.items() if key != variable}
    with pytest.raises(SettingsError, match=rf"{variable} is not set \("):
        _init(spec, without, monkeypatch)
