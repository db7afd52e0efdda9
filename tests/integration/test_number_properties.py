"""Every number a client sends is stored, read back equal and summed exactly: in-process, on moto.

The scenario and its oracle are in tests/number_scenarios.py; the dev server runs the same one
(tests/e2e/test_numbers_e2e.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings

from tests import number_scenarios
from tests.number_scenarios import EVERY_NAMED_NUMBER, Draw, event


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draw=number_scenarios.draws)
@example(draw=EVERY_NAMED_NUMBER)
@example(draw=Draw("1000", "3600", "1E-5", [[event("0.00001", "850", "3", "1e-7")]], False, "0.00001"))
def test_every_number_is_stored_read_back_and_summed_exactly(gateway, draw):
    def send(method: str, path: str, text: str | None, *, user: str, tenant: str, roles: Any = None) -> Any:
        path, _, query = path.partition("?")
        raw = text.encode() if text is not None else None
        reply = gateway.request(method, path, raw=raw, user=user, tenant=tenant, roles=roles, query=query)
        return reply.status, reply.body

    number_scenarios.run(send, draw)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("0e99999999999999999999", 0),
        ("-1e-0", -1),
        ("0e50", 0),
        ("-0.000", 0),
        ("99999999999999999999999999999999999999.0", 10**38 - 1),
        ("12345678901234567890.0", 12345678901234567890),
        ("1e-9999999999999999999", None),  # below 1E-130 (and below a float's range): refused, not taken as 0
        ("-1e-400", None),
        ("1e-131", None),
        ("1e38", None),  # 39 digits
        ("99999999999999999999999999999999999999.5", None),
        ("1e99999999999999999999999", None),
    ],
)
def test_a_number_at_or_past_the_edges_is_stored_exactly_or_refused_with_nothing_written(gateway, text, stored):
    raw = f'{{"session_id":"edge","context":{{"n":{text}}}}}'.encode()
    reply = gateway.request("POST", "/v1/sessions", raw=raw)
    if stored is None:
        assert reply.status == 422 and reply.body["code"] == "validation_error", reply.body
        assert reply.body["errors"][0]["loc"][0] == "context", reply.body
        assert gateway.request("GET", "/v1/sessions/edge").status == 404
        return
    assert reply.status == 201, reply.body
    # the write's answer and every read show the same integer
    assert reply.body["context"] == {"n": stored} and type(reply.body["context"]["n"]) is int
    assert gateway.request("GET", "/v1/sessions/edge").body["context"] == {"n": stored}


def test_a_wrongly_typed_amount_is_one_error_at_its_field(gateway):
    session_id = gateway.create({}).body["session_id"]
    for wrong in ('"3"', "true"):
        raw = f'{{"type":"message","usage":{{"cost_usd":{wrong}}}}}'.encode()
        reply = gateway.request("POST", f"/v1/sessions/{session_id}/events", raw=raw)
        assert reply.status == 422, reply.body
        assert [issue["loc"] for issue in reply.body["errors"]] == [["usage", "cost_usd"]], reply.body
