"""Every number a client sends is stored, read back equal and summed exactly: over HTTP, on the dev server.

The same scenario and oracle as in-process (tests/number_scenarios.py), through the gateway,
the function processes and the emulator's own arithmetic.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings

from tests import number_scenarios


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(draw=number_scenarios.draws)
@example(draw=number_scenarios.EVERY_NAMED_NUMBER)
def test_every_number_is_stored_read_back_and_summed_exactly_over_http(api, draw):
    def send(method: str, path: str, text: str | None, *, user: str, tenant: str, roles: Any = None) -> Any:
        client = api.as_(user=user, tenant=tenant, roles=",".join(roles) if roles else None)
        reply = client.request(method, path, raw=text.encode() if text is not None else None)
        return reply.status, reply.json()

    number_scenarios.run(send, draw)
