"""Idempotency-Key for create and append, with Powertools' idempotency utility.

A retry with the same key and body within an hour replays the first response; the same key
with another body is refused. Records live in their own table (with its own TTL), so they never
reach the sessions table's stream. The key is scoped to the operation, the tenant, the user, the
caller (a service acting for the user is another caller) and (for an append) the session: another
caller's identical key neither sees the first response nor is blocked by it. Failed requests are
not recorded, so a retry after an error runs again.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response

from sessions.core.errors import IdempotencyKeyInProgress, IdempotencyKeyReused, InvalidField
from sessions.core.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    from sessions.domain.identity import Identity

KEY_MAX_LENGTH = 255
# Visible ASCII, inner spaces allowed: what an HTTP header carries unchanged (it trims outer spaces).
KEY_PATTERN = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
_KEY = re.compile(KEY_PATTERN)
REPLAY_WINDOW_SECONDS = 3600


@functools.cache
def _persistence() -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from sessions.store import dynamodb_client

    return DynamoDBPersistenceLayer(
        table_name=get_settings().resource("idempotency_table_name"), boto3_client=dynamodb_client()
    )


@functools.cache
def _config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="body",
        expires_after_seconds=REPLAY_WINDOW_SECONDS,
        raise_on_no_idempotency_key=True,
    )


def _check_key(key: str) -> None:
    if not _KEY.fullmatch(key):
        raise InvalidField(
            ("header", "idempotency-key"), f"Idempotency-Key must be 1 to {KEY_MAX_LENGTH} visible ASCII characters"
        )


def idempotent(
    key: str | None,
    *,
    scope: tuple[str, ...],
    identity: Identity,
    body: Any,
    lambda_context: Any,
    operation: Callable[[], Response[str]],
    stored_form: tuple[Callable[[str], str], Callable[[str, Any], str]] | None = None,
) -> Response[str]:
    """Run operation once per (scope, caller, key, body); replay its response for retries.

    `stored_form`: (pack, unpack) when the record keeps a response body other than the one answered
    (pack(body) -> what is stored; unpack(stored, request body) -> the body replayed), for bodies
    that could pass DynamoDB's item limit (large_events.pack_append_response).
    """
    if key is None:
        return operation()
    _check_key(key)
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = _config()
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    @idempotent_function(
        data_keyword_argument="request", persistence_store=_persistence(), config=config, key_prefix=scope[0]
    )
    def run(request: dict[str, Any]) -> dict[str, Any]:
        response = answered["response"] = operation()
        kept = stored_form[0](response.body) if stored_form and isinstance(response.body, str) else response.body
        return {"status": response.status_code, "headers": dict(response.headers), "body": kept}

    answered: dict[str, Response[str]] = {}

    # the caller's own key: a service acting for a user never replays (nor is blocked by) the user's requests;
    # a user's own request keeps the scope it had before acting for users existed (retries across a deploy)
    caller = [identity.tenant_id, identity.user_id]
    if identity.principal != identity.user_id:
        caller.append(identity.principal)
    request = {"scope": json.dumps([*scope, *caller, key]), "body": body}
    try:
        stored = run(request=request)
    except IdempotencyValidationError:
        raise IdempotencyKeyReused("this Idempotency-Key was used with another body") from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyKeyInProgress("a request with this Idempotency-Key is in progress; retry shortly") from None
    if "response" in answered:
        return answered["response"]  # this request ran the operation: its own response, not the record's form
    replayed = stored_form[1](stored["body"], body) if stored_form else stored["body"]
    return Response(status_code=stored["status"], headers=stored["headers"], body=replayed)
