"""GET /v1/sessions: the caller's sessions (or every user's of an app), newest first."""

from typing import Annotated, Literal
from urllib.parse import parse_qsl

from aws_lambda_powertools.event_handler.openapi.params import Query

from sessions import errors, listing
from sessions.api import USER_ID_PARAMETER, ActingFor, caller, create_app, json_response, lambda_entry
from sessions.listing import METADATA_FILTER_PATTERN, METADATA_FILTERS_MAX, STATUS_LIST_PATTERN
from sessions.models import DATE_TIME, Identifier, Problem, SessionList, SessionType

app = create_app()


@app.get(
    "/v1/sessions",
    summary="List sessions",
    responses={
        200: {"description": "A page of sessions", "content": {"application/json": {"model": SessionList}}},
        400: {"description": "invalid_cursor", "content": {"application/problem+json": {"model": Problem}}},
        403: {
            "description": "forbidden (user_id names another user, without role service or admin; all_users "
            "without role service or admin)",
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
    all_users: Annotated[
        bool,
        Query(
            description="Roles service and admin: every user's sessions of the app named by app_name (required "
            "with it), from the caller's tenant only. Not with user_id."
        ),
    ] = False,
    order_by: Annotated[
        Literal["created_at", "last_active_at"],
        Query(
            description="created_at (default) or last_active_at (the last write that was activity: create, append, "
            "change); order asc|desc applies"
        ),
    ] = "created_at",
    metadata: Annotated[
        list[str] | None,
        Query(
            description="key:value, repeatable: sessions whose metadata holds every pair (key up to the first ':'). "
            "A filter: sessions read and discarded still cost reads, and a page may be short.",
            # stated, not enforced here: API Gateway joins repeated values with commas, which values may hold;
            # listing.metadata_filters checks the values as sent
            json_schema_extra={
                "items": {"type": "string", "pattern": METADATA_FILTER_PATTERN},
                "maxItems": METADATA_FILTERS_MAX,
            },
        ),
    ] = None,
    include_context: Annotated[
        bool,
        Query(description="Each item carries its context; a page then holds at most 20 sessions"),
    ] = False,
    user_id: ActingFor = None,
):
    if all_users and user_id is not None:
        raise errors.InvalidField(("query", USER_ID_PARAMETER), "all_users=true lists every user: no user_id with it")
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
        all_users=all_users,
        order_by=order_by,
        metadata=listing.metadata_filters(_repeated("metadata") if metadata is not None else None),
        include_context=include_context,
    )
    return json_response(page)


def _repeated(name: str) -> list[str]:
    """Every value of a repeated query parameter as sent: API Gateway joins them with commas, values may hold one."""
    raw = app.current_event.raw_event.get("rawQueryString")
    if raw is None:  # a direct invoke without the raw query string: its (comma-joined) values
        joined = (app.current_event.raw_event.get("queryStringParameters") or {}).get(name)
        return [] if joined is None else [joined]
    return [value for key, value in parse_qsl(raw, keep_blank_values=True) if key == name]


lambda_handler = lambda_entry(app)
