"""Shared fixtures: AWS credentials that can never reach AWS, and the layer on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "layers" / "common"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from local.aws.shared_models import share_service_models  # noqa: E402 - needs the path above
from local.stack.template import function_specs, functions_environment, load_template, local_resolver  # noqa: E402
from local.testing import use_fake_aws_env  # noqa: E402

pytest_plugins = ["tests.dev_server", "tests.scheduling"]  # the shared `dev_server` fixture; longest test files first

TEMPLATE = load_template()
use_fake_aws_env(
    {
        # the functions' variables (settings are read from them): resources by their logical ids, until a
        # test's moto account (tests/integration: the `gateway` fixture) sets its own names
        **functions_environment(function_specs(TEMPLATE, local_resolver({}, TEMPLATE)).values()),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "sessions",
        "POWERTOOLS_METRICS_NAMESPACE": "SessionService",
    }
)
# every test builds a moto account, and so boto3 sessions and clients: parse the service models once
share_service_models()
