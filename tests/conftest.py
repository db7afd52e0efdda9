"""Shared fixtures: AWS credentials that can never reach AWS, and the layer on sys.path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "layers" / "common"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        # in-process moto does not match botocore's account-based endpoints
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "sessions",
        "POWERTOOLS_METRICS_NAMESPACE": "SessionService",
    }
)
for variable in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
    os.environ.pop(variable, None)
