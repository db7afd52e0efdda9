"""CPU the emulator's moto spends per append transaction, with its update adaptations and without them.

python -m bench.emulator_writes [--appends N] [--sessions N]

The service's own writes are recorded first: sessions created and events appended through the create and
append functions, in-process on moto (bench/calls.py's stack), every write call the store makes kept with
its parameters. Those writes are then replayed, in order, against fresh moto accounts with the template's
resources, alternately with the adaptations of local/aws/moto_updates.py, moto_conditions.py and
moto_item_sizes.py and with moto's own code in their place (the rest of `adapt_moto` in place both
times), and every replayed call must succeed as it did when recorded. Measured: the thread CPU time
inside moto's TransactWriteItems (its checks of the request and its backend: parsing, conditions,
updates, puts), per transaction, the median of `--rounds` replays of each kind.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from bench.calls import USER, in_process_stack
from bench.common import table
from local.api.gateway import LambdaContext, http_api_event, load_handler, match_route

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
TENANT = "acme"


def _request(stack: Any, method: str, path: str, body: Any, user: str) -> tuple[int, Any]:
    found = match_route(stack.routes, method, path)
    assert found is not None, f"no route for {method} {path}"
    route, params = found
    event = http_api_event(
        method=method,
        path=path,
        route=route,
        path_parameters=params,
        query="",
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
        claims={"sub": user, "tenant_id": TENANT},
    )
    response = load_handler(stack.specs[route.function])(event, LambdaContext(route.function))
    return response["statusCode"], json.loads(response.get("body") or "{}")


def record_writes(sessions: int, appends: int) -> tuple[dict[str, str], list[tuple[str, dict[str, Any]]]]:
    """The template's resource names, and every write call the store made creating `sessions` sessions and
    appending `appends` events (one per request, round robin) through the functions."""
    from sessions import store

    recorded: list[tuple[str, dict[str, Any]]] = []

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in WRITES:
            recorded.append((model.name, copy.deepcopy(params)))

    with in_process_stack() as stack:
        store.dynamodb_client().meta.events.register("provide-client-params.dynamodb", keep)
        ids = []
        for number in range(sessions):
            # a user per session: the open-session cap never refuses one
            user = f"{USER}-{number}"
            status, body = _request(stack, "POST", "/v1/sessions", {"title": f"bench {number}", "app_name": "b"}, user)
            assert status == 201, body
            ids.append(body["session_id"])
        for number in range(appends):
            event = {"type": "message", "role": "user", "content": f"turn {number} " + "x" * 200}
            owner = number % sessions
            status, body = _request(stack, "POST", f"/v1/sessions/{ids[owner]}/events", event, f"{USER}-{owner}")
            assert status == 201, body
        return stack.names, recorded


@contextmanager
def moto_own_code() -> Iterator[None]:
    """moto's UpdateItem, condition parsing and item construction in place of the adaptations."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item

    from local.aws import moto_conditions, moto_item_sizes, moto_updates

    with (
        mock.patch.object(moto_updates, "plan_for", lambda text: None),  # every update to moto's pipeline
        mock.patch.object(ConditionExpressionParser, "parse", moto_conditions.parse.generic),  # type: ignore[attr-defined]
        mock.patch.object(Item, "__init__", moto_item_sizes._init.generic),  # type: ignore[attr-defined]
    ):
        yield


def replay(names: dict[str, str], recorded: list[tuple[str, dict[str, Any]]]) -> list[float]:
    """Replay the writes on a fresh account; the CPU seconds inside moto's TransactWriteItems, per call."""
    import boto3
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoHandler

    from local.stack.template import create_aws_resources

    spent: list[float] = []
    measured = DynamoHandler.transact_write_items

    def timed(self: Any) -> Any:
        started = time.thread_time()
        try:
            return measured(self)
        finally:
            spent.append(time.thread_time() - started)

    with mock_aws(), mock.patch.object(DynamoHandler, "transact_write_items", timed):
        created = create_aws_resources(boto3.Session())
        assert all(created[key] == name for key, name in names.items() if not name.startswith("arn:"))  # secrets
        client = boto3.client("dynamodb")
        methods = {operation: method for method, operation in client.meta.method_to_api_mapping.items()}
        for operation, params in recorded:
            getattr(client, methods[operation])(**params)  # raises if a write that succeeded when recorded fails now
    return spent


def run(*, sessions: int = 20, appends: int = 2000, rounds: int = 3) -> dict[str, Any]:
    from local.aws.moto_fixes import adapt_moto
    from local.testing import TESTS_TTL_SWEEP_SECONDS

    adapt_moto(TESTS_TTL_SWEEP_SECONDS)
    names, recorded = record_writes(sessions, appends)
    transactions = sum(1 for operation, _ in recorded if operation == "TransactWriteItems")
    per_kind: dict[str, list[float]] = {"moto": [], "adapted": []}
    for _ in range(rounds):  # alternately, so that a slower stretch of the machine hits both
        with moto_own_code():
            per_kind["moto"].append(sum(replay(names, recorded)) / transactions * 1000)
        per_kind["adapted"].append(sum(replay(names, recorded)) / transactions * 1000)
    moto_ms, adapted_ms = (statistics.median(per_kind[kind]) for kind in ("moto", "adapted"))
    labels = {"moto": "moto's own (updates, conditions, item sizes)", "adapted": "adapted (this module's docstring)"}
    print(
        table(
            ["moto's TransactWriteItems", "CPU ms per transaction (median)", "rounds"],
            [
                [labels[kind], f"{statistics.median(runs):.3f}", ", ".join(f"{run:.3f}" for run in runs)]
                for kind, runs in per_kind.items()
            ],
            title=f"{transactions} transactions ({sessions} creates, {appends} appends), {len(recorded)} writes",
        )
    )
    print(f"  {moto_ms / adapted_ms:.2f}x less CPU per transaction")
    return {"moto_ms": moto_ms, "adapted_ms": adapted_ms, "ratio": moto_ms / adapted_ms, "transactions": transactions}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_writes", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    run(sessions=args.sessions, appends=args.appends, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
