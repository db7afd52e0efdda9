"""DELETE /v1/sessions/{session_id}/events?from_seq=N | ?seq=N&seq=M…: rewind a history, or remove selected events."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from pydantic import Field

import sessions.domain.appending  # noqa: F401 - every removal's last_seq (sessions.usecases.event_edits imports it on use)
from sessions.domain.limits import REWIND_MAX_EVENTS
from sessions.domain.models import SEQ_MAX, EventsRemoved, Problem
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import ActingFor, caller
from sessions.http.parameters import parse_if_match
from sessions.usecases import event_edits

app = create_app(resources=("event_blobs_bucket",))

Seq = Annotated[int, Field(ge=1, le=SEQ_MAX)]


@app.delete(
    "/v1/sessions/<session_id>/events",
    summary="Rewind from a seq on, or remove selected events",
    description=f"With from_seq (a rewind): removes every event with seq >= from_seq. With seq (repeatable, or a "
    f"comma list): removes exactly those events; seqs that hold no event are passed over. One of the two, never "
    f"both (422). In one atomic step with the session: usage, event_count and task_count are corrected and the "
    f"version grows by one (nothing removed: nothing written, the version stays). At most {REWIND_MAX_EVENTS} "
    "events per call: a rewind that would remove more is 409 rewind_too_large, nothing removed; more than "
    f"{REWIND_MAX_EVENTS} seqs, or one seq twice, is 422. Seqs are never given again. The ETag of the answer is the "
    "session's version. With return_events=true every removed event comes back with its parts inline, never as "
    "URLs (their objects are deleted after the commit); parts that would pass Lambda's 6 MB response limit are "
    "left out and named in the event's parts_omitted.",
    responses={
        200: {"description": "What was removed", "content": {"application/json": {"model": EventsRemoved}}},
        403: {
            "description": "forbidden (user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
        404: {"description": "session_not_found", "content": {"application/problem+json": {"model": Problem}}},
        409: {
            "description": "rewind_too_large, session_closed",
            "content": {"application/problem+json": {"model": Problem}},
        },
        412: {"description": "version_mismatch", "content": {"application/problem+json": {"model": Problem}}},
        422: {
            "description": "validation_error (also: both from_seq and seq, or neither)",
            "content": {"application/problem+json": {"model": Problem}},
        },
    },
)
def delete_events(
    session_id: str,
    from_seq: Annotated[
        int | None, Query(ge=1, le=SEQ_MAX, description="Rewind: the first seq to remove; every later event goes too")
    ] = None,
    seq: Annotated[
        list[Seq] | None,
        Query(
            min_length=1,
            max_length=REWIND_MAX_EVENTS,
            description=f"Remove exactly these events: repeatable (or a comma list), 1-{REWIND_MAX_EVENTS} distinct "
            "seqs; seqs that hold no event are passed over",
            json_schema_extra={"uniqueItems": True},
        ),
    ] = None,
    return_events: Annotated[bool, Query(description="Return the removed events, payload included")] = False,
    if_match: Annotated[str | None, Header(alias="if-match", description='"<version>" of the session')] = None,
    user_id: ActingFor = None,
):
    body, session = event_edits.delete_events(
        caller(app),
        session_id,
        from_seq,
        seqs=seq,
        return_events=return_events,
        if_match=parse_if_match(if_match),
    )
    return json_response(body, headers={"ETag": f'"{session["version"]}"'})


lambda_handler = lambda_entry(app)
