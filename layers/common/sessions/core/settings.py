"""The functions' configuration: one validated model of the environment variables template.yaml sets.

Built once per container, at INIT: every handler module constructs it on import (create_app for the HTTP
functions, check_settings for the publisher and the cleanup), so a stack that misses a variable or sets a
bad one fails its cold start with a message naming the variable, never a request later. Resource names
have no default: TABLE_NAME is required by every function; the idempotency table, the cursor secret, the
event-parts bucket and the bus only by the functions that use them, which name them at INIT
(`Settings.require`) and read them with `Settings.resource`. Limits and claims keep the defaults of the
template's parameters (docs/API.md, "Configuration"). A variable set to blanks counts as unset.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

# the resources only some functions use (template.yaml gives each function the ones it needs)
ResourceName = Literal["idempotency_table_name", "cursor_secret_arn", "event_blobs_bucket", "event_bus_name"]

DEFAULT_TTL_SECONDS = 30 * 24 * 3600
DEFAULT_MAX_TTL_SECONDS = 365 * 24 * 3600
TTL_MIN_SECONDS = 60  # as low as a request's own ttl_seconds may go (and the template's MinValue)
VALUE_SHOWN_MAX = 60  # how much of a refused value its message repeats


def _one_word(value: str) -> str:
    # no table, bucket, secret, bus, claim, tenant or event source is named with whitespace: one that is, is a typo
    if any(character.isspace() for character in value):
        raise PydanticCustomError("whitespace", "must not contain whitespace")
    return value


def _not_aws_source(source: str) -> str:
    if source.startswith("aws."):
        raise PydanticCustomError("aws_source", "must not start with 'aws.' (EventBridge reserves it)")
    return source


Name = Annotated[str, AfterValidator(_one_word)]


class SettingsError(RuntimeError):
    """The environment does not configure this function: a variable is missing or invalid."""


class Settings(BaseModel):
    """Each field's alias is its environment variable; its description says what it is for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    table_name: Name = Field(
        alias="TABLE_NAME", description="the DynamoDB table of sessions, events and state documents"
    )
    tenant_claim: Name = Field(
        "tenant_id", alias="TENANT_CLAIM", description="the JWT claim that names the caller's tenant"
    )
    default_tenant: Name = Field(
        "",
        alias="DEFAULT_TENANT",
        max_length=128,  # the template's AllowedPattern: ^\S{0,128}$
        description="the tenant of a token without the tenant claim; empty refuses such tokens",
    )
    roles_claim: Name = Field(
        "cognito:groups", alias="ROLES_CLAIM", description="the JWT claim that lists the caller's roles"
    )
    max_open_sessions_per_user: int = Field(
        10, alias="MAX_OPEN_SESSIONS_PER_USER", ge=0, description="open sessions a user may hold; 0 = no cap"
    )
    default_ttl_seconds: int = Field(
        DEFAULT_TTL_SECONDS,
        alias="DEFAULT_TTL_SECONDS",
        ge=TTL_MIN_SECONDS,
        description="a session's lifetime when the request gives no ttl_seconds",
    )
    max_ttl_seconds: int = Field(
        DEFAULT_MAX_TTL_SECONDS,
        alias="MAX_TTL_SECONDS",
        ge=TTL_MIN_SECONDS,
        description="the largest ttl_seconds a request may give",
    )
    max_history_events: int = Field(
        10_000, alias="MAX_HISTORY_EVENTS", ge=1, description="the most events one session's history may hold"
    )
    inactivity_timeout_seconds: int = Field(
        0,
        alias="INACTIVITY_TIMEOUT_SECONDS",
        ge=0,
        description="the cleanup expires sessions idle longer than this; 0 = off",
    )
    event_timestamp_max_age_days: int = Field(
        0,
        alias="EVENT_TIMESTAMP_MAX_AGE_DAYS",
        ge=0,
        description="how far back an event's timestamp may lie; 0 = any past instant",
    )
    event_source: Annotated[Name, AfterValidator(_not_aws_source)] = Field(
        "sessions",
        alias="EVENT_SOURCE",
        max_length=256,  # PutEvents' limit
        description="the source of every lifecycle event on the bus",
    )
    # resources only some functions use: None where the function has no such variable
    idempotency_table_name: Name | None = Field(
        None,
        alias="IDEMPOTENCY_TABLE_NAME",
        description="the DynamoDB table of Idempotency-Key records (create, append, fork)",
    )
    cursor_secret_arn: Name | None = Field(
        None,
        alias="CURSOR_SECRET_ARN",
        description="the Secrets Manager secret that signs pagination cursors (list, history)",
    )
    event_blobs_bucket: Name | None = Field(
        None,
        alias="EVENT_BLOBS_BUCKET",
        description="the S3 bucket of event parts too large for their item (the functions that serve events, cleanup)",
    )
    event_bus_name: Name | None = Field(
        None, alias="EVENT_BUS_NAME", description="the EventBridge bus the publisher puts lifecycle events on"
    )

    @model_validator(mode="after")
    def _default_ttl_within_max(self) -> Self:
        if self.default_ttl_seconds > self.max_ttl_seconds:
            raise PydanticCustomError(
                "ttl_order",
                "DEFAULT_TTL_SECONDS ({default}) must not exceed MAX_TTL_SECONDS ({max})",
                {"default": self.default_ttl_seconds, "max": self.max_ttl_seconds},
            )
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The settings these variables make; SettingsError naming every missing or invalid one."""
        given = {
            field.alias: value
            for field in cls.model_fields.values()
            if field.alias and (value := environ.get(field.alias, "").strip())
        }
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            problems = "; ".join(_problem(error) for error in exc.errors(include_url=False))
            raise SettingsError(f"{_function()} is misconfigured: {problems}") from None

    def require(self, *names: ResourceName) -> None:
        """SettingsError unless every resource of `names` is set: a function's INIT states what it uses."""
        for name in names:
            self.resource(name)

    def resource(self, name: ResourceName) -> str:
        """The resource's name; SettingsError if this function's environment does not give it."""
        value: str | None = getattr(self, name)
        if value is None:
            field = type(self).model_fields[name]
            raise SettingsError(
                f"{_function()} is misconfigured: {field.alias} is not set ({field.description}); "
                "template.yaml gives it to every function that needs it"
            )
        return value


def _problem(error: Any) -> str:
    if not error["loc"]:  # a rule across variables: its message names them
        return str(error["msg"])
    variable = str(error["loc"][0])
    if error["type"] == "missing":
        description = next(field.description for field in Settings.model_fields.values() if field.alias == variable)
        return f"{variable} is not set ({description})"
    value = str(error["input"])
    shown = value if len(value) <= VALUE_SHOWN_MAX else value[:VALUE_SHOWN_MAX] + "…"
    return f"{variable}={shown!r}: {error['msg']}"


def _function() -> str:
    # Lambda names the function in its environment; elsewhere (tests, scripts) it is just this process
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    return f"function {name}" if name else "the sessions service"


@functools.cache
def get_settings() -> Settings:
    """The settings of this container, from its environment (read once; tests clear the cache)."""
    return Settings.from_environ(os.environ)
