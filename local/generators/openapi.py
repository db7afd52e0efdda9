"""The OpenAPI document, merged by Powertools from the handlers themselves.

python -m local.generators.openapi --write   regenerate openapi.json (committed)
python -m local.generators.openapi --check   exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from enum import Enum
from typing import Any

from local.api.gateway import add_layer_to_path
from local.stack.template import ROOT, function_specs, load_template, local_resolver

OPENAPI_PATH = ROOT / "openapi.json"
DESCRIPTION = (
    "Sessions for AI agents and chat applications: context, checkpoint, status, history and usage. "
    "Every error is application/problem+json with a stable `code`. "
    "Every request needs a JWT (API Gateway's authorizer) naming the caller's tenant in the stack's tenant claim "
    "(else 401 unauthenticated, unless the stack sets DefaultTenant); "
    "locally, X-User-Id, X-Tenant-Id and X-Roles headers."
)


def generate_openapi() -> dict[str, Any]:
    add_layer_to_path()
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    template = load_template()
    merge = OpenAPIMerge(
        title="Session service",
        version="1.0.0",
        description=DESCRIPTION,
        security_schemes={"jwt": HTTPBearer(bearerFormat="JWT")},
        security=[{"jwt": []}],
        on_conflict="error",
    )
    merge._root = ROOT  # handlers import the layer's package, resolved from the repo root
    for spec in sorted(function_specs(template, local_resolver({}, template)).values(), key=lambda s: s.logical_id):
        if spec.routes:
            merge.add_file(spec.code_uri / "app.py")
    # the merged document still holds Powertools' models (security schemes): make it plain JSON
    return json.loads(json.dumps(merge.get_openapi_schema(), default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    return value.model_dump(by_alias=True, exclude_none=True, mode="json")


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="write openapi.json")
    parser.add_argument("--check", action="store_true", help="fail when openapi.json is stale")
    args = parser.parse_args()
    text = render(generate_openapi())
    if args.write:
        OPENAPI_PATH.write_text(text, encoding="utf-8")
        return 0
    if args.check:
        stale = not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text(encoding="utf-8") != text
        if stale:
            print("openapi.json is stale: run `make openapi`", file=sys.stderr)
        return int(stale)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
