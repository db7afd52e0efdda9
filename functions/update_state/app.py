"""PATCH /v1/apps/{app_name}/state and PATCH /v1/apps/{app_name}/users/{user_id}/state: merge-patch a state document."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body, Header

import sessions.domain.patching  # noqa: F401 - checks every merged state (sessions.usecases.state imports it on use)
from sessions.domain.models import AppState, JsonPatch, Problem, UserState
from sessions.http.app import create_app, lambda_entry, versioned_response
from sessions.http.identity import token_caller
from sessions.http.parameters import AppNamePath, UserIdPath, parse_if_match
from sessions.usecases import state

app = create_app()

IfMatch = Annotated[
    str | None, Header(alias="if-match", description='"<version>" from the ETag; "0" writes only a never-written one')
]
PatchBody = Annotated[JsonPatch, Body(description="A JSON merge patch (RFC 7396) over the state; null removes a key")]
PROBLEMS: dict[int, Any] = {
    404: {
        "description": "route_not_found (an app_name or user_id with characters no route takes)",
        "content": {"application/problem+json": {"model": Problem}},
    },
    412: {"description": "version_mismatch", "content": {"application/problem+json": {"model": Problem}}},
    413: {"description": "payload_too_large", "content": {"application/problem+json": {"model": Problem}}},
    422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
}


@app.patch(
    "/v1/apps/<app_name>/state",
    summary="Change an app's state (JSON merge patch)",
    responses={
        200: {"description": "The app's new state", "content": {"application/json": {"model": AppState}}},
        403: {
            "description": "forbidden (without role service or admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        **PROBLEMS,
    },
)
def update_app_state(app_name: AppNamePath, patch: PatchBody, if_match: IfMatch = None):
    return versioned_response(state.update_app_state(token_caller(app), app_name, patch, parse_if_match(if_match)))


@app.patch(
    "/v1/apps/<app_name>/users/<user_id>/state",
    summary="Change a user's state in an app (JSON merge patch)",
    responses={
        200: {"description": "The user's new state", "content": {"application/json": {"model": UserState}}},
        403: {
            "description": "forbidden (another user's state, without role service)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        **PROBLEMS,
    },
)
def update_user_state(app_name: AppNamePath, user_id: UserIdPath, patch: PatchBody, if_match: IfMatch = None):
    identity = token_caller(app)
    return versioned_response(state.update_user_state(identity, app_name, user_id, patch, parse_if_match(if_match)))


lambda_handler = lambda_entry(app)
