"""Every number a client sends is stored, read back equal and summed exactly: in-process, on moto.

The scenario and its oracle are in tests/number_scenarios.py; the dev server runs the same one
(tests/e2e/test_numbers_e2e.py).
"""

from __future__ import annotations

from typing import Any

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
