"""GET /v1/erasures/{erasure_id}: an erasure's status and counts."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from sessions.domain.erasure import Erasure
from sessions.domain.models import ID_PATTERN, Problem
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import token_caller
from sessions.usecases import erasure

app = create_app()


@app.get(
    "/v1/erasures/<erasure_id>",
    summary="An erasure's status",
    responses={
        200: {"description": "The erasure", "content": {"application/json": {"model": Erasure}}},
        404: {
            "description": "erasure_not_found (unknown, another tenant's, or another user's without role service or "
            "admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
    },
)
def get_erasure(erasure_id: Annotated[str, Path(pattern=ID_PATTERN)]):
    return json_response(erasure.get_erasure(token_caller(app), erasure_id))


lambda_handler = lambda_entry(app)
