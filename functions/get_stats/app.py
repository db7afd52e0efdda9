"""GET /v1/sessions/stats: session counts and totals for the caller, or (admins) the tenant."""

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query

from sessions.domain.models import Problem, Stats
from sessions.http.app import create_app, json_response, lambda_entry
from sessions.http.identity import ActingFor, caller
from sessions.usecases import stats

app = create_app()


@app.get(
    "/v1/sessions/stats",
    summary="Statistics",
    responses={
        200: {"description": "Counts and totals", "content": {"application/json": {"model": Stats}}},
        403: {
            "description": "forbidden (scope=tenant without admin; user_id names another user)",
            "content": {"application/problem+json": {"model": Problem}},
        },
    },
)
def get_stats(scope: Annotated[Literal["user", "tenant"], Query()] = "user", user_id: ActingFor = None):
    return json_response(stats.get_stats(caller(app), scope))


lambda_handler = lambda_entry(app)
