"""Credentials and settings that can never reach AWS, for the emulator, the tests and the benchmarks."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

FAKE_AWS_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # in-process moto does not match botocore's account-based endpoints
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "AWS_EC2_METADATA_DISABLED": "true",
    # no shared config or credentials files, as in a Lambda container
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
# variables that could lead boto3 to a real account or another endpoint; every AWS_ENDPOINT_URL_<SERVICE> too
UNSAFE_AWS_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
)
UNSAFE_AWS_ENV_PREFIX = "AWS_ENDPOINT_URL_"


def remove_unsafe_aws_env(environ: MutableMapping[str, str]) -> None:
    """Drop from `environ` every variable that could send boto3 to a real account or another endpoint."""
    for name in [*UNSAFE_AWS_ENV, *(name for name in environ if name.startswith(UNSAFE_AWS_ENV_PREFIX))]:
        environ.pop(name, None)
