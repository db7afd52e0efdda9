"""GET /v1/sessions/{session_id}/history: a session's events, page by page."""

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query

from sessions.domain.filters import METADATA_FILTER_PATTERN, METADATA_FILTERS_MAX, metadata_filters, seq_range
from sessions.domain.models import DATE_TIME, SEQ_MAX, EventType, History, Problem
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import ActingFor, caller
from sessions.http.parameters import repeated_query
from sessions.usecases.events import get_history as history_page

app = create_app(resources=("cursor_secret_arn", "event_blobs_bucket"))

MetadataFilters = Annotated[
    list[str] | None,
    Query(
        description="key:value, repeatable: events whose metadata holds every pair (the key ends at the first "
        "':'). A filter: events read and discarded still cost reads, and a page may be short.",
        # stated, not enforced here: API Gateway joins repeated values with commas, which values may hold;
        # metadata_filters checks the values as sent (the list's parameter, the same rules)
        json_schema_extra={
            "items": {"type": "string", "pattern": METADATA_FILTER_PATTERN},
            "maxItems": METADATA_FILTERS_MAX,
        },
    ),
]


@app.get(
    "/v1/sessions/<session_id>/history",
    summary="Read a session's history",
    responses={
        200: {"description": "A page of events", "content": {"application/json": {"model": History}}},
        400: {"description": "invalid_cursor", "content": {"application/problem+json": {"model": Problem}}},
        403: {
            "description": "forbidden (user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {"description": "session_not_found", "content": {"application/problem+json": {"model": Problem}}},
        422: {"description": "validation_error", "content": {"application/problem+json": {"model": Problem}}},
    },
)
def get_history(
    session_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
    order: Annotated[Literal["asc", "desc"], Query()] = "asc",
    type: Annotated[EventType | None, Query()] = None,
    after: Annotated[
        str | None, Query(description="RFC 3339; events whose timestamp is at or after it", json_schema_extra=DATE_TIME)
    ] = None,
    before: Annotated[
        str | None, Query(description="RFC 3339; events whose timestamp is before it", json_schema_extra=DATE_TIME)
    ] = None,
    include_payload: Annotated[bool, Query()] = False,
    include_compacted: Annotated[
        bool,
        Query(
            description="true: read every stored event, those before the history's base (compacted) included; "
            "default: from the latest base on"
        ),
    ] = False,
    metadata: MetadataFilters = None,
    from_seq: Annotated[
        int | None,
        Query(ge=1, le=SEQ_MAX, description="events whose seq is at or after it (a key condition)"),
    ] = None,
    to_seq: Annotated[
        int | None,
        Query(ge=1, le=SEQ_MAX, description="events whose seq is at or before it (a key condition)"),
    ] = None,
    user_id: ActingFor = None,
):
    history = history_page(
        caller(app),
        session_id,
        limit=limit,
        cursor=cursor,
        ascending=order == "asc",
        event_type=type,
        after=after,
        before=before,
        include_payload=include_payload,
        include_compacted=include_compacted,
        metadata=metadata_filters(repeated_query(app, "metadata") if metadata is not None else None),
        seq_range=seq_range(from_seq, to_seq),
    )
    return json_response(history)


lambda_handler = lambda_entry(app)
