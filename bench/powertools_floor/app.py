"""The floor under every function's cold start: Powertools' resolver with validation, Logger and Metrics.

`python -m bench cold` measures this beside the functions, with a DynamoDB client made as theirs are
(botocore's session, no boto3). It is what each of them imports before any project code
(GetSession's route and signature, a canned answer, no `sessions` package), so
the difference between a function and this row is what the project's own code costs at INIT.
"""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

app = APIGatewayHttpResolver(enable_validation=True)
logger = Logger()
metrics = Metrics()


@app.get("/v1/sessions/<session_id>")
def get_session(session_id: str, user_id: Annotated[str | None, Query(min_length=1)] = None) -> dict[str, Any]:
    return {"session_id": session_id}


@metrics.log_metrics(capture_cold_start_metric=True)
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
