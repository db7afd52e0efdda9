"""Every number a client sends, in any JSON form: stored, read back equal, summed exactly.

One scenario, run in-process on moto (tests/integration/test_number_properties.py) and over HTTP
on the dev server (tests/e2e/test_numbers_e2e.py). The bodies are JSON text written here, so a
number reaches the service as `1E-5`, `0.0000100`, `8.5e2` or `123456789.123456789`, as clients
send them, not as Python's json.dumps would.

The oracle is the contract, written out independently of the service's code:
- a number reads back as the value its text denotes: an integral one (`2.0`, `1e20`) exactly, as an
  integer; any other as the nearest binary64 number;
- a session's `usage.cost_usd` is the decimal sum of its events' costs, each step's total the
  nearest binary64 number (so 0.1 + 0.2 totals 0.3);
- stats keep money to 10 decimal places: `cost_usd_total` is the sum of the sessions' costs, each
  rounded to 10 places (half to even).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from hypothesis import strategies as st

from tests.json_values import same_json

# send(method, path, body_text, *, user, tenant, roles) -> (status, JSON body)
Send = Callable[..., tuple[int, Any]]

_ids = itertools.count()

# the issue's own list, and forms of each that clients produce
NAMED_AMOUNTS = ("0.00001", "1e-05", "1E-5", "1e-7", "1E-130", "1e-130", "123456789.123456789", "850", "0", "-0.0")
NAMED_NUMBERS = (*NAMED_AMOUNTS, "1e20", "1E+20", "-1e-7", "99999999999999999999999999999999999999", "2.0", "-12.50")


def meant(text: str) -> int | float:
    """The value a JSON number's text denotes, as the contract returns it."""
    exact = Decimal(text)
    if exact == exact.to_integral_value():
        return int(exact)
    return float(text)


def exact(value: int | float) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def forms(value: int | float) -> list[str]:
    """JSON texts that all denote `value`: shortest, positional, exponent (both cases), trailing zeros."""
    decimal = exact(value)
    positional = format(decimal, "f")
    texts = [repr(value) if isinstance(value, float) else str(value), positional, f"{decimal:e}", f"{decimal:E}"]
    texts.append(positional + ("0" if "." in positional else ".0"))
    return [text for text in texts if Decimal(text) == decimal]


def json_number(values: st.SearchStrategy[int | float]) -> st.SearchStrategy[str]:
    return values.flatmap(lambda value: st.sampled_from(forms(value)))


# Amounts (`cost_usd`, `duration_ms`): 0 or at least 1E-130, at most 1e12
amount_texts = st.sampled_from(NAMED_AMOUNTS) | json_number(
    st.floats(min_value=1e-130, max_value=1e12) | st.integers(0, 10**12) | st.sampled_from([0.1, 0.2, 0.3, 1e-11])
)
# Counts (`tokens`, `token_budget`): integers, in any integral form
count_texts = json_number(st.integers(0, 10**6))
# Numbers inside stored objects: any sign, integral within 38 digits, fractions of at least 1E-130
number_texts = st.sampled_from(NAMED_NUMBERS) | json_number(
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x == 0 or 1e-130 <= abs(x) < 1e37)
    | st.integers(-(10**38) + 1, 10**38 - 1)
)
ttl_texts = st.sampled_from(["3600", "3600.0", "3.6e3", "3.6E+3", "36E2", "86400.000", "8.64e4"])


def event(cost: str, duration: str, tokens: str, inside: str) -> tuple[str, dict[str, Any]]:
    """One event as JSON text with these numbers in it, and what each of them means."""
    text = (
        f'{{"type":"message","usage":{{"cost_usd":{cost},"duration_ms":{duration},"tokens":{tokens}}},'
        f'"payload":{{"n":{inside},"list":[{inside}]}},"context_patch":{{"last":{inside}}}}}'
    )
    usage = {"cost_usd": meant(cost), "duration_ms": meant(duration), "tokens": meant(tokens)}
    return text, {"usage": usage, "inside": meant(inside)}


events = st.builds(event, amount_texts, amount_texts, count_texts, number_texts)


@dataclass(frozen=True)
class Draw:
    budget: str
    ttl: str
    context_number: str
    sessions: list[list[tuple[str, dict[str, Any]]]]  # per session, its events
    batch: bool
    state_number: str


# the issue's own numbers, each in the usage of one event, a batch, and every stored object
EVERY_NAMED_NUMBER = Draw(
    budget="1E+9",
    ttl="3.6e3",
    context_number="1e-130",
    sessions=[
        [event(cost, cost, "1.0e1", cost) for cost in NAMED_AMOUNTS],
        [event("0.1", "0", "0", "123456789.123456789"), event("0.2", "1e-7", "5", "-0.0")],
    ],
    batch=True,
    state_number="1e20",
)


draws = st.builds(
    Draw,
    budget=json_number(st.integers(10**7, 10**9)),
    ttl=ttl_texts,
    context_number=number_texts,
    sessions=st.lists(st.lists(events, min_size=1, max_size=3), min_size=1, max_size=2),
    batch=st.booleans(),
    state_number=number_texts,
)


def _sum_cost(costs: list[int | float]) -> Decimal:
    total: int | float = 0
    for cost in costs:
        total = float(exact(total) + exact(cost))  # each step's total: the nearest binary64 number
    return exact(total)


def _ten_places(value: Decimal) -> Decimal:
    return value.quantize(Decimal("1E-10"), rounding=ROUND_HALF_EVEN)


def _ms(timestamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


def run(send: Send, draw: Draw) -> None:
    """The scenario: a user (and tenant) of its own, so its stats start at zero."""
    serial = next(_ids)
    tenant, user, app = f"t-num-{serial}", f"u-num-{serial}", f"app-num-{serial}"
    as_user: dict[str, Any] = {"user": user, "tenant": tenant}

    def call(method: str, path: str, text: str | None = None, **identity: Any) -> tuple[int, Any]:
        return send(method, path, text, **{**as_user, **identity})

    session_costs, tokens_total, events_total = [], 0, 0
    for index, session_events in enumerate(draw.sessions):
        session_id = f"num-{serial}-{index}"
        # the first session takes its first event on create, the others by append
        initial = session_events[:1] if index == 0 else []
        create = (
            f'{{"session_id":"{session_id}","app_name":"{app}","token_budget":{draw.budget},'
            f'"ttl_seconds":{draw.ttl},"context":{{"n":{draw.context_number}}},'
            f'"checkpoint":{{"n":[{draw.context_number}]}},'
            f'"events":[{",".join(_without_context_patch(text) for text, _ in initial)}]}}'
        )
        status, created = call("POST", "/v1/sessions", create)
        assert status == 201, (create, created)
        assert created["token_budget"] == meant(draw.budget) and type(created["token_budget"]) is int
        assert _ms(created["expires_at"]) - _ms(created["created_at"]) == meant(draw.ttl) * 1000, (draw.ttl, created)
        assert same_json(created["context"], {"n": meant(draw.context_number)}), (draw.context_number, created)
        assert same_json(created["checkpoint"], {"n": [meant(draw.context_number)]}), created

        appended = session_events[len(initial) :]
        if appended and draw.batch:
            body = f'{{"events":[{",".join(text for text, _ in appended)}]}}'
            status, reply = call("POST", f"/v1/sessions/{session_id}/events", body)
            assert status == 201, (body, reply)
            answers = reply["events"]
        else:
            answers = []
            for text, _ in appended:
                status, reply = call("POST", f"/v1/sessions/{session_id}/events", text)
                assert status == 201, (text, reply)
                answers.append(reply)

        status, history = call("GET", f"/v1/sessions/{session_id}/history?include_payload=true")
        assert status == 200, history
        stored = history["events"]
        assert len(stored) == len(session_events)
        for event, (text, wanted) in zip(stored, session_events, strict=True):
            assert same_json(event["usage"], wanted["usage"]), (text, event["usage"])
            assert same_json(event["payload"], {"n": wanted["inside"], "list": [wanted["inside"]]}), text
        # one number form in every answer: the append's 201 is what every read shows
        for answer, event in zip(answers, stored[len(initial) :], strict=True):
            for part in ("usage", "payload"):
                assert json.dumps(answer[part]) == json.dumps(event[part]), (part, answer, event)

        costs = [wanted["usage"]["cost_usd"] for _, wanted in session_events]
        status, session = call("GET", f"/v1/sessions/{session_id}")
        assert status == 200, session
        usage = session["usage"]
        assert exact(usage["cost_usd"]) == _sum_cost(costs), (costs, usage)
        assert usage["tokens_used"] == sum(wanted["usage"]["tokens"] for _, wanted in session_events), usage
        assert usage["event_count"] == len(session_events)
        if appended:
            assert same_json(session["context"]["last"], appended[-1][1]["inside"]), session["context"]
        session_costs.append(_sum_cost(costs))
        tokens_total += usage["tokens_used"]
        events_total += len(session_events)

    expected_cost = sum((_ten_places(cost) for cost in session_costs), Decimal(0))
    for scope, identity in (("user", {}), ("tenant", {"roles": ["admin"]})):
        status, stats = call("GET", f"/v1/sessions/stats?scope={scope}", **identity)
        assert status == 200, stats
        assert stats["tokens_used_total"] == tokens_total and stats["events_total"] == events_total, stats
        assert exact(stats["cost_usd_total"]) == exact(float(expected_cost)), (scope, session_costs, stats)

    # state documents, written alone and with an append
    status, state = call("PATCH", f"/v1/apps/{app}/users/{user}/state", f'{{"n":{draw.state_number}}}')
    assert status == 200 and same_json(state["state"], {"n": meant(draw.state_number)}), state
    status, state = call("PATCH", f"/v1/apps/{app}/state", f'{{"n":{draw.state_number}}}', roles=["service"])
    assert status == 200 and same_json(state["state"], {"n": meant(draw.state_number)}), state
    body = f'{{"type":"note","state_patch":{{"user":{{"m":{draw.state_number}}}}}}}'
    status, reply = call("POST", f"/v1/sessions/num-{serial}-0/events", body)
    assert status == 201, reply
    status, state = call("GET", f"/v1/apps/{app}/users/{user}/state")
    expected_state = {"n": meant(draw.state_number), "m": meant(draw.state_number)}
    assert status == 200 and same_json(state["state"], expected_state), state

    # metadata holds strings only: a number there is refused, with nothing written
    status, refused = call("POST", "/v1/sessions", f'{{"session_id":"num-{serial}-meta","metadata":{{"k":1e-7}}}}')
    assert status == 422 and refused["code"] == "validation_error", refused
    assert call("GET", f"/v1/sessions/num-{serial}-meta")[0] == 404


def _without_context_patch(text: str) -> str:
    # a create's initial events take no context_patch (the create sets the context)
    head, _, _ = text.rpartition(',"context_patch":')
    return head + "}"
