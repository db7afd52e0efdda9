"""export_user and get_export: in-process (no worker runs, so the export stays running) and over the dev
server (its worker runs on the table's stream, so the export completes and its URL reads it back)."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from conftest import SessionsBackend

import sessions_client as sc


def test_export_user_and_follow_it(sessions_backend: SessionsBackend) -> None:
    user = sessions_backend.client()
    session = user.create_session(title="to be exported", app_name="assistant")
    user.append_event(session.session_id, type="message", role="user", content="copy me")

    started = user.export_user()
    assert isinstance(started, sc.Export) and isinstance(started.counts, sc.ExportCounts)
    assert started.user_id == sessions_backend.user and started.status in ("running", "completed")
    assert user.get_export(started.export_id).export_id == started.export_id

    stranger = sessions_backend.client(identity=sessions_backend.identity(user="u-stranger"))
    with pytest.raises(sc.ExportNotFound):
        stranger.get_export(started.export_id)
    with pytest.raises(sc.Forbidden):
        stranger.export_user(sessions_backend.user)
    service = sessions_backend.client(identity=sessions_backend.identity(user="svc", roles=("service",)))
    assert service.get_export(started.export_id).user_id == sessions_backend.user

    if sessions_backend.kind == "inprocess":  # no worker: it runs until one does
        assert user.export_user().export_id == started.export_id  # asked again: the same export
        assert started.download_url is None
        return
    deadline = time.monotonic() + 30
    while (job := user.get_export(started.export_id)).status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.status == "completed" and job.download_url and job.expires_at is not None
    assert (job.counts.sessions, job.counts.events) == (1, 1)
    with urllib.request.urlopen(job.download_url, timeout=10) as response:  # noqa: S310 - the server's own URL
        lines = [json.loads(text) for text in response.read().decode("utf-8").splitlines()]
    assert [line["type"] for line in lines] == ["session", "event"]
    assert lines[1]["event"]["content"] == "copy me"
