"""POST /v1/users/{user_id}/export: start exporting a user's data in the tenant (or answer the running export)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from sessions.domain.export import Export, StartExportRequest
from sessions.domain.models import Problem
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import token_caller
from sessions.http.parameters import UserIdPath
from sessions.usecases import export

app = create_app()


@app.post(
    "/v1/users/<user_id>/export",
    summary="Export a user's data",
    responses={
        202: {
            "description": "The export runs (started now, or already running: the same export_id)",
            "content": {"application/json": {"model": Export}},
        },
        403: {
            "description": "forbidden (another user, without role service or admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        409: {
            "description": "user_erasure_in_progress (an erasure of the user runs)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def start_export(user_id: UserIdPath, request: Annotated[StartExportRequest | None, Body()] = None):
    job, _started = export.start_export(token_caller(app), user_id)
    return json_response(job, 202, {"Location": f"/v1/exports/{job['export_id']}"})


lambda_handler = lambda_entry(app)
