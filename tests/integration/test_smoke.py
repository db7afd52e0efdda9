def test_create_then_get(gateway):
    created = gateway.create({"title": "Code review", "context": {"a": 0.1}})
    assert created.status == 201, created.body
    sid = created.body["session_id"]
    got = gateway.request("GET", f"/v1/sessions/{sid}")
    assert got.status == 200, got.body
    assert got.body["context"] == {"a": 0.1}
