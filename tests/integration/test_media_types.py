"""Bodies are JSON: another media type is 415, none at all is taken as JSON."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_of_another_media_type_is_415(gateway, content_type):
    reply = gateway.request("POST", "/v1/sessions", raw=b"{}", headers={"content-type": content_type})
    assert reply.status == 415
    assert reply.body["code"] == "unsupported_media_type"


def test_json_with_parameters_and_no_content_type_are_json(gateway):
    json_utf8 = gateway.request(
        "POST", "/v1/sessions", raw=b"{}", headers={"content-type": "application/json; charset=utf-8"}
    )
    assert json_utf8.status == 201
    assert gateway.request("POST", "/v1/sessions", raw=b"{}", headers={"content-type": ""}).status == 201


def test_a_merge_patch_media_type_is_accepted(gateway):
    session_id = gateway.create({}).body["session_id"]
    reply = gateway.request(
        "PATCH", f"/v1/sessions/{session_id}", {"title": "t"}, headers={"content-type": "application/merge-patch+json"}
    )
    assert (reply.status, reply.body["title"]) == (200, "t")
