"""A `service` caller acting for users, and app and user state: in-process and over the dev server."""

from __future__ import annotations

import pytest
from conftest import SessionsBackend

import sessions_client as sc


def test_service_acts_for_a_user(sessions_backend: SessionsBackend) -> None:
    service = sessions_backend.client(identity=sessions_backend.identity(user="svc-runtime", roles=("service",)))
    user = sessions_backend.client()  # the test's user
    for_user = service.acting_for(sessions_backend.user)

    session = for_user.create_session(title="made by the runtime", app_name="assistant")
    assert session.user_id == sessions_backend.user
    assert user.get_session(session.session_id).title == "made by the runtime"  # the user's own
    for_user.append_event(session.session_id, type="message", role="assistant", content="hello")
    assert [event.content for event in user.iter_history(session.session_id)] == ["hello"]
    assert [s.session_id for s in for_user.iter_sessions()] == [session.session_id]
    assert for_user.get_stats().events_total == 1
    assert service.get_session(session.session_id, user_id=sessions_backend.user).version == 2
    with pytest.raises(sc.SessionNotFound):  # acting as itself, it has no such session
        service.get_session(session.session_id)

    with pytest.raises(sc.Forbidden):  # only a service may act for someone else
        user.get_session(session.session_id, user_id="someone-else")
    assert user.get_session(session.session_id, user_id=sessions_backend.user).session_id == session.session_id

    other_tenant = sessions_backend.client(
        identity=sessions_backend.identity(user="svc-runtime", roles=("service",), tenant="another-tenant"),
        user_id=sessions_backend.user,
    )
    with pytest.raises(sc.SessionNotFound):
        other_tenant.get_session(session.session_id)

    for_user.delete_session(session.session_id)
    with pytest.raises(sc.SessionNotFound):
        user.get_session(session.session_id)


def test_app_state(sessions_backend: SessionsBackend) -> None:
    user = sessions_backend.client()
    service = sessions_backend.client(identity=sessions_backend.identity(user="svc", roles=("service",)))
    fresh = user.get_app_state("assistant")
    assert isinstance(fresh, sc.AppState)
    assert (fresh.app_name, fresh.state, fresh.version, fresh.updated_at) == ("assistant", {}, 0, None)
    with pytest.raises(sc.Forbidden):
        user.update_app_state("assistant", {"model": "m-1"})

    written = service.update_app_state("assistant", {"model": "m-1", "limits": {"a": 1, "b": 2}}, if_match=0)
    assert (written.version, written.state) == (1, {"model": "m-1", "limits": {"a": 1, "b": 2}})
    assert written.updated_at is not None
    merged = service.update_app_state("assistant", limits={"b": None}, if_match=written)
    assert (merged.version, merged.state) == (2, {"model": "m-1", "limits": {"a": 1}})
    with pytest.raises(sc.VersionMismatch) as stale:
        service.update_app_state("assistant", {"model": "m-2"}, if_match=written)
    assert stale.value.current_version == 2
    assert user.get_app_state("assistant") == merged


def test_user_state(sessions_backend: SessionsBackend) -> None:
    user = sessions_backend.client()
    own = user.update_user_state("assistant", {"theme": "dark"})  # the user defaults to the client's identity
    assert isinstance(own, sc.UserState)
    assert (own.user_id, own.state, own.version) == (sessions_backend.user, {"theme": "dark"}, 1)
    assert user.get_user_state("assistant") == own

    service = sessions_backend.client(identity=sessions_backend.identity(user="svc", roles=("service",)))
    by_service = service.update_user_state("assistant", {"lang": "fr"}, user_id=sessions_backend.user, if_match=own)
    assert by_service.state == {"theme": "dark", "lang": "fr"}

    stranger = sessions_backend.client(identity=sessions_backend.identity(user="u-stranger"))
    with pytest.raises(sc.Forbidden):
        stranger.get_user_state("assistant", sessions_backend.user)
    admin = sessions_backend.client(identity=sessions_backend.identity(user="u-admin", roles=("admin",)))
    assert admin.get_user_state("assistant", sessions_backend.user).version == 2
    with pytest.raises(sc.Forbidden):
        admin.update_user_state("assistant", {"x": 1}, user_id=sessions_backend.user)


def test_state_patch_with_an_append(sessions_backend: SessionsBackend) -> None:
    service = sessions_backend.client(
        identity=sessions_backend.identity(user="svc", roles=("service",)), user_id=sessions_backend.user
    )
    session = service.create_session(title="with state", app_name="assistant")
    service.append_event(
        session.session_id,
        type="message",
        content="remember this",
        state_patch={"app": {"turns": 1}, "user": {"last_topic": "billing"}},
    )
    assert service.get_app_state("assistant").state == {"turns": 1}
    assert service.get_user_state("assistant").state == {"last_topic": "billing"}

    bare = service.create_session(title="no app")
    with pytest.raises(sc.SessionHasNoApp) as refused:
        service.append_event(bare.session_id, type="message", state_patch={"user": {"a": 1}})
    assert refused.value.status == 409
    assert service.get_session(bare.session_id).usage.event_count == 0


def test_sets_store_none_as_null(sessions_backend: SessionsBackend) -> None:
    """context_set and state_set (append) and state_patch/state_set (create): None is stored and read back."""
    service = sessions_backend.client(identity=sessions_backend.identity(user="svc", roles=("service",)))
    for_user = service.acting_for(sessions_backend.user)
    user = sessions_backend.client()
    session = for_user.create_session(
        app_name="assistant",
        context={"c": None},
        state_patch={"user": {"p": {"q": 1}}},
        state_set={"app": {"a": None}, "user": {"u": None}},
    )
    assert session.context == {"c": None}
    assert user.get_app_state("assistant").state == {"a": None}
    assert user.get_user_state("assistant", sessions_backend.user).state == {"p": {"q": 1}, "u": None}

    user.append_event(
        session.session_id,
        type="message",
        context_set={"c": {"nested": None}, "d": None},
        state_set={"user": {"p": None}},
    )
    assert user.get_session(session.session_id).context == {"c": {"nested": None}, "d": None}
    document = user.get_user_state("assistant", sessions_backend.user)
    assert document.state == {"p": None, "u": None} and document.version == 2
    with pytest.raises(sc.SessionHasNoApp):
        user.create_session(state_set={"user": {"x": None}})
    with pytest.raises(sc.Forbidden):
        user.append_event(session.session_id, type="message", state_set={"app": {"x": None}})
