"""GET /v1/sessions: the caller's sessions, newest first."""

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query

from sessions import listing
from sessions.api import ActingFor, caller, create_app, json_response, lambda_entry
from sessions.listing import STATUS_LIST_PATTERN
from sessions.models import DATE_TIME, Identifier, Problem, SessionList, SessionType

app = create_app()


@app.get(
    "/v1/sessions",
    summary="List sessions",
    responses={
        200: {"description": "A page of sessions", "content": {"application/json": {"model": SessionList}}},
        400: {"description": "invalid_cursor", "content": {"application/problem+json": {"model": Problem}}},
        403: {
            "description": "forbidden (user_id names another user, without role service or admin)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def list_sessions(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    order: Annotated[Literal["desc", "asc"], Query()] = "desc",
    agent_id: Annotated[Identifier | None, Query()] = None,
    status: Annotated[
        str | None,
        Query(
            description="Comma list: active,paused,completed,crashed",
            json_schema_extra={"pattern": STATUS_LIST_PATTERN},
        ),
    ] = None,
    session_type: Annotated[SessionType | None, Query()] = None,
    app_name: Annotated[Identifier | None, Query()] = None,
    created_after: Annotated[str | None, Query(description="RFC 3339; exclusive", json_schema_extra=DATE_TIME)] = None,
    created_before: Annotated[str | None, Query(description="RFC 3339; exclusive", json_schema_extra=DATE_TIME)] = None,
    user_id: ActingFor = None,
):
    page = listing.list_sessions(
        caller(app),
        limit=limit,
        cursor=cursor,
        ascending=order == "asc",
        agent_id=agent_id,
        status=status,
        session_type=session_type,
        app_name=app_name,
        created_after=created_after,
        created_before=created_before,
    )
    return json_response(page)


lambda_handler = lambda_entry(app)
