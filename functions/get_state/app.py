"""GET /v1/apps/{app_name}/state and GET /v1/apps/{app_name}/users/{user_id}/state: read a state document."""

from sessions.domain.models import AppState, Problem, UserState
from sessions.http.app import create_app, lambda_entry, versioned_response
from sessions.http.identity import token_caller
from sessions.http.parameters import AppNamePath, UserIdPath
from sessions.usecases import state

app = create_app()


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
def get_app_state(app_name: AppNamePath):
    return versioned_response(state.get_app_state(token_caller(app), app_name))


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
def get_user_state(app_name: AppNamePath, user_id: UserIdPath):
    return versioned_response(state.get_user_state(token_caller(app), app_name, user_id))


lambda_handler = lambda_entry(app)
