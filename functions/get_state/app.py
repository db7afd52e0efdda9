"""GET /v1/apps/{app_name}/state and GET /v1/apps/{app_name}/users/{user_id}/state: read a state document."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from sessions import state
from sessions.api import caller, create_app, lambda_entry, versioned_response
from sessions.models import ID_PATTERN, AppState, Problem, UserState

app = create_app()

AppName = Annotated[str, Path(pattern=ID_PATTERN, description="The app, as sessions name it (app_name)")]
UserIdPath = Annotated[str, Path(min_length=1, max_length=256, description="The user whose state it is")]


@app.get(
    "/v1/apps/<app_name>/state",
    summary="Read an app's state",
    responses={
        200: {
            "description": "The app's state ({} at version 0 if never written)",
            "content": {"application/json": {"model": AppState}},
        },
        404: {
            "description": "route_not_found (an app_name or user_id with characters no route takes)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def get_app_state(app_name: AppName):
    return versioned_response(state.get_app_state(caller(app), app_name))


@app.get(
    "/v1/apps/<app_name>/users/<user_id>/state",
    summary="Read a user's state in an app",
    responses={
        200: {
            "description": "The user's state ({} at version 0 if never written)",
            "content": {"application/json": {"model": UserState}},
        },
        403: {
            "description": "forbidden (another user's state, without role service or admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {
            "description": "route_not_found (an app_name or user_id with characters no route takes)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def get_user_state(app_name: AppName, user_id: UserIdPath):
    return versioned_response(state.get_user_state(caller(app), app_name, user_id))


lambda_handler = lambda_entry(app)
