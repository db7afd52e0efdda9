"""GET /v1/exports/{export_id}: an export's status and counts, and once completed a download URL."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from sessions.domain.export import Export
from sessions.domain.models import ID_PATTERN, Problem
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import token_caller
from sessions.usecases import export

app = create_app(resources=("event_blobs_bucket",))


@app.get(
    "/v1/exports/<export_id>",
    summary="An export's status",
    responses={
        200: {"description": "The export", "content": {"application/json": {"model": Export}}},
        404: {
            "description": "export_not_found (unknown, another tenant's, or another user's without role service or "
            "admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
    },
)
def get_export(export_id: Annotated[str, Path(pattern=ID_PATTERN)]):
    return json_response(export.get_export(token_caller(app), export_id))


lambda_handler = lambda_entry(app)
