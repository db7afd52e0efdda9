"""The OpenAPI document and its Swagger UI, served locally (no CDN: the machine may be offline)."""

from __future__ import annotations

import re

from tests.e2e.client import Client


def test_openapi_json_describes_the_sessions_paths(api: Client) -> None:
    reply = api.get("/openapi.json")
    assert reply.status == 200
    assert reply.content_type.startswith("application/json")
    document = reply.json()
    assert document["openapi"].startswith("3.")
    assert "/v1/sessions" in document["paths"]
    assert "/v1/sessions/{session_id}" in document["paths"]


def test_docs_is_a_swagger_ui_page_whose_assets_are_served_locally(api: Client) -> None:
    page = api.get("/docs")
    assert page.status == 200
    assert page.content_type.startswith("text/html")
    html = page.body.decode()
    assert "SwaggerUIBundle" in html
    assert "/openapi.json" in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    for source in sources:
        assert source.startswith("/"), f"{source} is not served by the dev server"
        asset = api.get(source)
        assert asset.status == 200, source
        assert len(asset.body) > 10_000, source
    assert api.get("/docs/swagger-ui-bundle.min.js").content_type.startswith("text/javascript")


def test_docs_routes_answer_get_only(api: Client) -> None:
    assert api.post("/openapi.json", {}).status == 404
