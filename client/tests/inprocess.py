"""The in-process API and its httpx transports (local/api/inprocess.py), as the client's tests import them."""

from local.api.inprocess import (
    AsyncInProcessTransport,
    CountingTransport,
    InProcessApi,
    InProcessTransport,
    fetch_from_aws,
    is_aws_url,
)

__all__ = [
    "AsyncInProcessTransport",
    "CountingTransport",
    "InProcessApi",
    "InProcessTransport",
    "fetch_from_aws",
    "is_aws_url",
]
