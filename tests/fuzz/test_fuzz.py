"""Schemathesis against the dev server, as an attacker would fuzz the API: every operation, every check.

The dev server is started here on free ports (local/launcher.py) and stopped at the end. The run
fails on any 5xx, any response that breaks the OpenAPI document (schema, status, content type,
headers), and any request the document and the service disagree on (accepted though invalid,
refused though valid). `make test` runs a short, seeded run; `make fuzz` a longer one:

    FUZZ_MAX_EXAMPLES=300 FUZZ_SEED=7 python -m pytest -q tests/fuzz   (what `make fuzz` runs)

Settings the command line cannot hold are in schemathesis.toml beside this file.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.launcher import DevServerFailed, DevServerProcess, launch_dev_server
from local.stack.template import function_specs, load_template, local_resolver
from tests.e2e.client import Client
from tests.e2e.conftest import server_environment

FUZZ_DIR = Path(__file__).resolve().parent
CONFIG = FUZZ_DIR / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# make test: a fixed seed and a bounded budget (about a minute on 2 cores); make fuzz raises both
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
RUN_TIMEOUT_SECONDS = int(os.environ.get("FUZZ_TIMEOUT_SECONDS", "600"))
# see schemathesis.toml for why these two are left out
EXCLUDED_CHECKS = "ignored_auth,unsupported_method"

pytestmark = [pytest.mark.e2e, pytest.mark.fuzz]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServerProcess]:
    # no cap on open sessions: the fuzzer creates many, and a create refused with 429 stores nothing to read back
    environment = {**server_environment(), "MAX_OPEN_SESSIONS_PER_USER": "0"}
    try:
        server = launch_dev_server(tmp_path_factory.mktemp("fuzz-server"), environment)
    except DevServerFailed as failed:
        pytest.fail(str(failed))
    try:
        yield server
    finally:
        server.stop(signal.SIGINT)


def test_schemathesis_finds_nothing(fuzz_server: DevServerProcess, tmp_path: Path) -> None:
    identity = f"fuzz-{uuid.uuid4().hex[:8]}"
    command = [
        str(SCHEMATHESIS),
        "--no-color",
        "--config-file",
        str(CONFIG),
        "run",
        f"{fuzz_server.api_url}/openapi.json",
        "--checks",
        "all",
        "--exclude-checks",
        EXCLUDED_CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",  # one worker: the same seed runs the same cases
        "--header",
        f"X-User-Id: {identity}",
        "--header",
        f"X-Tenant-Id: {identity}",
        # role service: app state is written by it (a plain user's PATCH is only ever 403, untested), and
        # user_id values the fuzzer invents are users it acts for (what others get, 403, is tested apart)
        "--header",
        "X-Roles: service",
        "--output-sanitize",
        "false",
        "--suppress-health-check",
        "too_slow",  # a shared 2-core machine is slow at times; the budget is the example count
    ]
    try:
        # its own directory: schemathesis and hypothesis keep state in the working directory
        run = subprocess.run(  # noqa: S603 - our own command line
            command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"schemathesis ran longer than {RUN_TIMEOUT_SECONDS} s:\n{expired.stdout}")
    tail = run.stdout[-20000:]
    assert run.returncode == 0, f"schemathesis found failures (seed {SEED}):\n{tail}\n{run.stderr[-4000:]}"
    assert "No issues found" in run.stdout, tail


def test_without_identity_every_operation_is_401(fuzz_server: DevServerProcess) -> None:
    """What the left-out ignored_auth check would probe first: no caller, no access."""
    anonymous = Client(fuzz_server.api_url)
    document = json.loads(anonymous.get("/openapi.json").body)
    operations = [(method, path) for path, item in document["paths"].items() for method in item]
    template = load_template()
    routes = [
        route for spec in function_specs(template, local_resolver({}, template)).values() for route in spec.routes
    ]
    assert len(operations) == len(routes)  # every route of the template is in the document
    for method, path in operations:
        concrete = re.sub(r"\{[a-z_]+\}", "1", path)
        reply = anonymous.request(method.upper(), concrete, None if method not in ("post", "patch") else {})
        assert reply.status == 401, (method, path, reply.body)
        assert json.loads(reply.body)["code"] == "unauthenticated"
