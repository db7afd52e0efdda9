"""bench overhead and bench cold time each HTTP function on a canned request: it must be one the function
serves (2xx). A refused request times the path of a refusal, and overhead then leaves the function out."""

from __future__ import annotations

import pytest

from bench import overhead
from bench.common import http_functions, use_functions_environment
from local.api.gateway import LambdaContext, load_handler
from sessions.usecases.access import use_store


@pytest.fixture(autouse=True)
def functions_environment():
    use_functions_environment()
    yield
    use_store(None)


@pytest.mark.parametrize("spec", http_functions(), ids=lambda spec: spec.logical_id)
@pytest.mark.parametrize(
    "store", [overhead.fake_client_store, lambda _: overhead.fake_store()], ids=["real store", "fake store"]
)
def test_the_canned_request_is_served(spec, store) -> None:
    use_store(store(spec.environment["TABLE_NAME"]))
    answer = load_handler(spec)(overhead.request_for(spec)(), LambdaContext(spec.logical_id, 10))
    assert overhead.succeeded(answer["statusCode"]), answer["body"]
