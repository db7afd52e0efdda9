"""POST /v1/users/{user_id}/erasure: start erasing everything of a user in the tenant (or answer the running one)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from sessions.domain.erasure import Erasure, StartErasureRequest
from sessions.domain.models import Problem
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import token_caller
from sessions.http.parameters import UserIdPath
from sessions.usecases import erasure

app = create_app()


@app.post(
    "/v1/users/<user_id>/erasure",
    summary="Erase a user's data",
    responses={
        202: {
            "description": "The erasure runs (started now, or already running: the same erasure_id)",
            "content": {"application/json": {"model": Erasure}},
        },
        403: {
            "description": "forbidden (another user, without role service or admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def start_erasure(user_id: UserIdPath, request: Annotated[StartErasureRequest | None, Body()] = None):
    job, _started = erasure.start_erasure(token_caller(app), user_id)
    return json_response(job, 202, {"Location": f"/v1/erasures/{job['erasure_id']}"})


lambda_handler = lambda_entry(app)
