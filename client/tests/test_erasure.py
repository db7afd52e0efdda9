"""erase_user and get_erasure: in-process (no worker runs, so the erasure stays running) and over the dev
server (its worker runs on the table's stream, so the erasure completes)."""

from __future__ import annotations

import time

import pytest
from conftest import SessionsBackend

import sessions_client as sc


def test_erase_user_and_follow_it(sessions_backend: SessionsBackend) -> None:
    user = sessions_backend.client()
    session = user.create_session(title="to be erased", app_name="assistant")
    user.append_event(session.session_id, type="message", role="user", content="forget me")

    started = user.erase_user()
    assert isinstance(started, sc.Erasure) and isinstance(started.counts, sc.ErasureCounts)
    assert started.user_id == sessions_backend.user and started.status in ("running", "completed")
    assert user.get_erasure(started.erasure_id).erasure_id == started.erasure_id

    stranger = sessions_backend.client(identity=sessions_backend.identity(user="u-stranger"))
    with pytest.raises(sc.ErasureNotFound):
        stranger.get_erasure(started.erasure_id)
    with pytest.raises(sc.Forbidden):
        stranger.erase_user(sessions_backend.user)
    service = sessions_backend.client(identity=sessions_backend.identity(user="svc", roles=("service",)))
    assert service.get_erasure(started.erasure_id).user_id == sessions_backend.user

    if sessions_backend.kind == "inprocess":  # no worker: it runs until one does
        assert user.erase_user().erasure_id == started.erasure_id  # asked again: the same erasure
        with pytest.raises(sc.UserErasureInProgress):
            user.create_session(title="not while it runs")
        return
    deadline = time.monotonic() + 30
    while (job := user.get_erasure(started.erasure_id)).status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.status == "completed" and job.completed_at is not None
    assert (job.counts.sessions_erased, job.counts.events_deleted) == (1, 1)
    with pytest.raises(sc.SessionNotFound):
        user.get_session(session.session_id)
    assert user.create_session(title="after the erasure").title == "after the erasure"
