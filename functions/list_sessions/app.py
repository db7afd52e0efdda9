"""GET /v1/sessions: the caller's sessions, newest first; GET /v1/apps/{app_name}/sessions: every user's of an app."""

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)

from sessions.domain.filters import METADATA_FILTER_PATTERN, METADATA_FILTERS_MAX, metadata_filters
from sessions.domain.identity import Identity
from sessions.domain.models import DATE_TIME, Identifier, Problem, SessionList, SessionType
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import ActingFor, caller, token_caller
from sessions.http.parameters import AppNamePath, repeated_query
from sessions.usecases import listing
from sessions.usecases.listing import STATUS_LIST_PATTERN

app = create_app(resources=("cursor_secret_arn",))

# the query parameters both lists take
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=4096)]
Order = Annotated[Literal["desc", "asc"], Query()]
AgentId = Annotated[Identifier | None, Query()]
StatusList = Annotated[
    str | None,
    Query(
        description="Comma list: active,paused,completed,crashed", json_schema_extra={"pattern": STATUS_LIST_PATTERN}
    ),
]
TypeFilter = Annotated[SessionType | None, Query()]
CreatedAfter = Annotated[str | None, Query(description="RFC 3339; exclusive", json_schema_extra=DATE_TIME)]
CreatedBefore = Annotated[str | None, Query(description="RFC 3339; exclusive", json_schema_extra=DATE_TIME)]
OrderBy = Annotated[
    Literal["created_at", "last_active_at"],
    Query(
        description="created_at (default) or last_active_at (the last write that was activity: create, append, "
        "change); `order` applies to either"
    ),
]
MetadataFilters = Annotated[
    list[str] | None,
    Query(
        description="key:value, repeatable: sessions whose metadata holds every pair (the key ends at the first "
        "':'). A filter: sessions read and discarded still cost reads, and a page may be short.",
        # stated, not enforced here: API Gateway joins repeated values with commas, which values may hold;
        # listing.metadata_filters checks the values as sent
        json_schema_extra={
            "items": {"type": "string", "pattern": METADATA_FILTER_PATTERN},
            "maxItems": METADATA_FILTERS_MAX,
        },
    ),
]
IncludeContext = Annotated[
    bool, Query(description="Each item carries its context; a page then holds at most 20 sessions")
]
PROBLEM: dict[str, OpenAPIResponseContentModel | OpenAPIResponseContentSchema] = {
    "application/problem+json": {"model": Problem}
}
RESPONSES: dict[int, OpenAPIResponse] = {
    200: {"description": "A page of sessions", "content": {"application/json": {"model": SessionList}}},
    400: {"description": "invalid_cursor", "content": PROBLEM},
    422: {"description": "validation_error", "content": PROBLEM},
}


@app.get(
    "/v1/sessions",
    summary="List sessions",
    responses={
        **RESPONSES,
        403: {
            "description": "forbidden (user_id names another user, without role service or admin)",
            "content": PROBLEM,
        },
    },
)
def list_sessions(
    limit: Limit = 20,
    cursor: Cursor = None,
    order: Order = "desc",
    agent_id: AgentId = None,
    status: StatusList = None,
    session_type: TypeFilter = None,
    app_name: Annotated[Identifier | None, Query()] = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    order_by: OrderBy = "created_at",
    metadata: MetadataFilters = None,
    include_context: IncludeContext = False,
    user_id: ActingFor = None,
):
    return _page(
        caller(app),
        all_users=False,
        limit=limit,
        cursor=cursor,
        order=order,
        agent_id=agent_id,
        status=status,
        session_type=session_type,
        app_name=app_name,
        created_after=created_after,
        created_before=created_before,
        order_by=order_by,
        metadata=metadata,
        include_context=include_context,
    )


@app.get(
    "/v1/apps/<app_name>/sessions",
    summary="List every user's sessions of an app",
    description="Roles service and admin: the sessions of every user of the caller's tenant in the app, with the "
    "filters and orders of GET /v1/sessions. Another tenant's sessions never appear.",
    responses={**RESPONSES, 403: {"description": "forbidden (without role service or admin)", "content": PROBLEM}},
)
def list_app_sessions(
    app_name: AppNamePath,
    limit: Limit = 20,
    cursor: Cursor = None,
    order: Order = "desc",
    agent_id: AgentId = None,
    status: StatusList = None,
    session_type: TypeFilter = None,
    created_after: CreatedAfter = None,
    created_before: CreatedBefore = None,
    order_by: OrderBy = "created_at",
    metadata: MetadataFilters = None,
    include_context: IncludeContext = False,
):
    return _page(
        token_caller(app),
        all_users=True,
        limit=limit,
        cursor=cursor,
        order=order,
        agent_id=agent_id,
        status=status,
        session_type=session_type,
        app_name=app_name,
        created_after=created_after,
        created_before=created_before,
        order_by=order_by,
        metadata=metadata,
        include_context=include_context,
    )


lambda_handler = lambda_entry(app)


def _page(identity: Identity, *, order: str, metadata: list[str] | None, **query: Any) -> Response:
    # both routes take the same filters; ?metadata= repeats, and API Gateway joins repeated values with commas
    return json_response(
        listing.list_sessions(
            identity,
            ascending=order == "asc",
            metadata=metadata_filters(repeated_query(app, "metadata") if metadata is not None else None),
            **query,
        )
    )
