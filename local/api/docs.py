"""GET /openapi.json and a Swagger UI at /docs, from the assets Powertools bundles (no CDN needed)."""

from __future__ import annotations

import importlib.util
import logging
import threading
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from local.api.wsgi import json_response, problem
from local.stack.template import ROOT

LOG = logging.getLogger("local")
OPENAPI_FILE = ROOT / "openapi.json"
ASSETS = {"swagger-ui-bundle.min.js": "text/javascript; charset=utf-8", "swagger-ui.min.css": "text/css; charset=utf-8"}

# "Try it out" sends the local identity headers, since the dev server has no JWT authorizer
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Session service API (local)</title>
  <link rel="stylesheet" href="/docs/swagger-ui.min.css">
  <style>
    #identity { font: 14px sans-serif; padding: 10px 20px; background: #f7f7f7; border-bottom: 1px solid #ddd; }
    #identity input { margin: 0 16px 0 6px; }
  </style>
</head>
<body>
  <form id="identity">Local identity, sent by "Try it out":
    <label>X-User-Id<input name="X-User-Id" value="dev-user"></label>
    <label>X-Tenant-Id<input name="X-Tenant-Id" value="dev"></label>
    <label>X-Roles<input name="X-Roles" placeholder="admin"></label>
  </form>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.min.js"></script>
  <script>
    SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      layout: "BaseLayout",
      presets: [SwaggerUIBundle.presets.apis],
      requestInterceptor: (request) => {
        for (const input of document.querySelectorAll("#identity input")) {
          if (input.value) request.headers[input.name] = input.value;
        }
        return request;
      },
    });
  </script>
</body>
</html>
"""


def _swagger_ui_dir() -> Path | None:
    # located without importing Powertools into the server process
    spec = importlib.util.find_spec("aws_lambda_powertools")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "event_handler" / "openapi" / "swagger_ui"


class Docs:
    """Serves the committed openapi.json (re-read on every request), else one generated from the handlers."""

    def __init__(self) -> None:
        self._generated: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._assets = _swagger_ui_dir()

    def __call__(self, request: Request) -> Response | None:
        if request.method not in ("GET", "HEAD"):
            return None
        if request.path == "/openapi.json":
            return self.openapi()
        if request.path in ("/docs", "/docs/"):
            return Response(PAGE, content_type="text/html; charset=utf-8")
        asset = request.path.removeprefix("/docs/")
        if request.path.startswith("/docs/") and asset in ASSETS:
            return self.asset(asset)
        return None

    def openapi(self) -> Response:
        if OPENAPI_FILE.exists():
            return Response(OPENAPI_FILE.read_bytes(), content_type="application/json")
        with self._lock:
            if self._generated is None:
                try:
                    from local.generators.openapi import generate_openapi

                    self._generated = generate_openapi()
                except Exception:
                    LOG.exception("cannot generate the OpenAPI document")
                    return problem(503, "openapi_unavailable", "Service unavailable", "the OpenAPI document is missing")
        return json_response(self._generated)

    def asset(self, name: str) -> Response:
        path = self._assets / name if self._assets else None
        if path is None or not path.is_file():
            return problem(503, "docs_unavailable", "Service unavailable", "Swagger UI assets are not installed")
        return Response(path.read_bytes(), content_type=ASSETS[name], headers={"Cache-Control": "max-age=3600"})
