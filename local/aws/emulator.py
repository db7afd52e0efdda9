"""The AWS emulator: moto's server, holding the table and bus that template.yaml defines.

Boto3 reaches it through the standard AWS_ENDPOINT_URL variable, in this process and in every
execution environment started after it, so the functions have no local-only code paths.
"""

from __future__ import annotations

import os

import boto3
from moto.server import ThreadedMotoServer

from local.aws.fake_env import remove_unsafe_aws_env
from local.aws.moto_fixes import adapt_moto
from local.stack.template import create_aws_resources

HOST = "127.0.0.1"
REGION = "us-east-1"


def point_boto3_at(endpoint_url: str) -> None:
    """Dummy credentials, no shared config files, every service at the emulator."""
    remove_unsafe_aws_env(os.environ)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )


class AwsEmulator:
    """Starts moto's server, points boto3 at it and creates the stack's resources from the template."""

    name = "aws-emulator"

    def __init__(self, port: int) -> None:
        self.url = f"http://{HOST}:{port}"
        self.names: dict[str, str] = {}
        self._server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        self._started = False

    def start(self) -> None:
        point_boto3_at(self.url)
        adapt_moto()  # moto runs in this process: make it behave like DynamoDB (moto_fixes)
        self._server.start()
        self._started = True
        self.names = create_aws_resources(boto3.Session())

    def stop(self) -> None:
        if self._started:
            self._started = False
            self._server.stop()
