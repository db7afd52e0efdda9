"""The OpenAPI document, merged by Powertools from the handlers themselves.

python -m local.generators.openapi --write   regenerate openapi.json (committed)
python -m local.generators.openapi --check   exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from enum import Enum
from typing import Any

from local.api.gateway import add_layer_to_path
from local.stack.template import ROOT, function_specs, functions_environment, load_template, local_resolver

OPENAPI_PATH = ROOT / "openapi.json"
DESCRIPTION = (
    "Sessions for AI agents and chat applications: context, checkpoint, status, history and usage. "
    "Every error the functions return is application/problem+json with a stable `code`. "
    "Deployed, every request needs a bearer JWT, checked by API Gateway's authorizer (`jwt`); the dev server "
    "(`make dev`) has no authorizer and takes the caller from identity headers instead (`localIdentity`)."
)
PROBLEM = {"$ref": "#/components/schemas/Problem"}
# What API Gateway itself answers (its authorizer, its payload limit, a failed function): not problem+json.
GATEWAY_MESSAGE = {
    "type": "object",
    "properties": {"message": {"type": "string"}},
    "required": ["message"],
    "description": 'API Gateway\'s own answer, e.g. {"message": "Unauthorized"}',
}
SECURITY_SCHEMES = {
    "jwt": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Deployed: a JWT of the stack's issuer (JwtIssuer) and audience (JwtAudience). `sub` is the "
        "user, the TenantClaim claim the tenant (missing: 401, unless the stack sets DefaultTenant), the RolesClaim "
        "claim the roles.",
    },
    "localIdentity": {
        "type": "apiKey",
        "in": "header",
        "name": "X-User-Id",
        "description": "The dev server only (never trusted by a deployed stack): X-User-Id is the user; X-Tenant-Id "
        "(default `default`) and X-Roles (comma list, e.g. `admin`) complete the identity.",
    },
}
# Every operation can answer these, whatever its own responses say.
COMMON_RESPONSES = {
    "401": ("unauthenticated: no caller identity (deployed: no or an invalid JWT, answered by API Gateway)", True),
    "500": ("internal_error: an unexpected failure, logged with the request's correlation id", True),
    "503": ("service_unavailable: AWS throttled or was briefly unavailable; retry after Retry-After", True),
}
# A path parameter with characters the resolver's route pattern does not take (e.g. private-use
# code points) matches no route: 404 route_not_found, even where the operation never answers 404 itself.
PATH_RESPONSES = {
    "404": ("route_not_found: a path parameter the route cannot take (or session_not_found, event_not_found)", False),
}
BODY_RESPONSES = {
    "400": ("malformed_request: the body is not UTF-8 JSON (NaN, Infinity and lone surrogates are not JSON)", False),
    "413": ("payload_too_large: the body (256 KiB) or a field over its size limit", True),
    "415": ("unsupported_media_type: a body that is not application/json (or merge-patch+json)", False),
}


def generate_openapi() -> dict[str, Any]:
    add_layer_to_path()
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

    template = load_template()
    merge = OpenAPIMerge(
        title="Session service",
        version="1.0.0",
        description=DESCRIPTION,
        on_conflict="error",
    )
    merge._root = ROOT  # handlers import the layer's package, resolved from the repo root
    specs = sorted(function_specs(template, local_resolver({}, template)).values(), key=lambda s: s.logical_id)
    # each handler reads its settings on import; only the variables' presence matters to the document
    for key, value in functions_environment(specs).items():
        os.environ.setdefault(key, value)
    for spec in specs:
        if spec.routes:
            merge.add_file(spec.code_uri / "app.py")
    # the merged document still holds Powertools' models: make it plain JSON
    return with_shared_parts(json.loads(json.dumps(merge.get_openapi_schema(), default=_plain)))


def with_shared_parts(document: dict[str, Any]) -> dict[str, Any]:
    """What every operation shares, stated once here rather than in each handler.

    How callers authenticate (deployed and locally), the answers any operation can give (401, 500;
    400 and 413 with a body), problem+json for 422 in place of Powertools' default, what a stored
    JSON object may hold (limits.STORABLE_JSON_SCHEMAS), no body for 204, and bodies that may be
    empty (an empty body is `{}`).
    """
    from sessions.domain.limits import STORABLE_JSON_SCHEMAS

    components = document["components"]
    components["securitySchemes"] = SECURITY_SCHEMES
    document["security"] = [{"jwt": []}, {"localIdentity": []}]
    components["schemas"].update(STORABLE_JSON_SCHEMAS)
    for operation in (op for path in document["paths"].values() for op in path.values()):
        responses = operation["responses"]
        responses["422"] = _problem_response(
            "validation_error: well-formed JSON that breaks the schema, or a query parameter the operation "
            "does not take",
            False,
        )
        shared = COMMON_RESPONSES | (BODY_RESPONSES if "requestBody" in operation else {})
        if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
            shared = shared | PATH_RESPONSES
        for status, (description, from_gateway) in shared.items():
            responses.setdefault(status, _problem_response(description, from_gateway))
        if "204" in responses:
            responses["204"].pop("content", None)
        body_schema = _schema_of(document, operation["requestBody"]) if "requestBody" in operation else {}
        if "requestBody" in operation and not (body_schema.get("required") or "oneOf" in body_schema):
            operation["requestBody"].update(required=False, description="Every field is optional: no body is `{}`.")
    for path in document["paths"].values():
        if "patch" in path:  # a merge patch may say so (RFC 7396)
            content = path["patch"]["requestBody"]["content"]
            content["application/merge-patch+json"] = content["application/json"]
    for unused in ("HTTPValidationError", "ValidationError"):
        components["schemas"].pop(unused, None)
    return document


def _schema_of(document: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    schema = body["content"]["application/json"]["schema"]
    if "$ref" not in schema:
        return schema  # stated inline (a state document's merge patch; a body of one of several shapes, oneOf)
    return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]


def _problem_response(description: str, from_gateway: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/problem+json": {"schema": PROBLEM}}
    if from_gateway:
        content["application/json"] = {"schema": GATEWAY_MESSAGE}
    return {"description": description, "content": content}


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
