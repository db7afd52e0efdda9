"""App- and user-scoped state: JSON documents shared by an app's sessions, changed by merge patch.

An app's state is read by anyone of the tenant and written by roles `service` or `admin`. A
user's state in an app is the user's own: read and written by the user, or by a `service`
caller for any user of its tenant; admins may read it. A document never written reads as `{}`
at version 0. Writes are compare-and-set on the version: with If-Match a lost race is 412;
without it the merge is planned again on the stored document, so no concurrent patch is lost.
An append's `state_patch` and `state_set` (a create's too) write the documents in that write's own
transaction (state_writes): merge patches first, then sets (top-level keys replaced, null stored).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from sessions.core.clock import format_ms, now_ms
from sessions.core.errors import Forbidden, SessionHasNoApp, VersionMismatch
from sessions.core.retrying import back_off, write_attempts
from sessions.domain.identity import Identity
from sessions.domain.merge_patch import apply_merge_patch, set_keys
from sessions.domain.records import SessionRecord, SessionStates, StateDocument, StateView
from sessions.store import StateChanged, StateKey, WriteConflict
from sessions.usecases.access import store

if TYPE_CHECKING:
    from sessions.domain.models import StatePatch, StateSet

NEVER_WRITTEN: StateDocument = {"state": {}, "version": 0, "updated_at": None, "updated_by": None}


# --- who ----------------------------------------------------------------------------------------


def may_write_app_state(identity: Identity) -> bool:
    return identity.is_service or identity.is_admin


def _check_app_write(identity: Identity) -> None:
    if not may_write_app_state(identity):
        raise Forbidden("an app's state is written by roles service or admin only")


def _check_user_access(identity: Identity, user_id: str, *, writing: bool) -> None:
    if user_id == identity.principal or identity.is_service:
        return
    if identity.is_admin and not writing:
        return
    if identity.is_admin:
        raise Forbidden("an admin may read another user's state, not change it")
    raise Forbidden("another user's state needs the service role")


# --- read ---------------------------------------------------------------------------------------


def _stored(key: StateKey) -> StateDocument:
    return store().get_state(key) or NEVER_WRITTEN.copy()


def view(key: StateKey, document: StateDocument) -> StateView:
    state, version, updated_at = document["state"], document["version"], document["updated_at"]
    if key.user_id is None:
        return {"app_name": key.app_name, "state": state, "version": version, "updated_at": updated_at}
    return {
        "app_name": key.app_name,
        "user_id": key.user_id,
        "state": state,
        "version": version,
        "updated_at": updated_at,
    }


def get_app_state(identity: Identity, app_name: str) -> StateView:
    key = StateKey(identity.tenant_id, app_name)
    return view(key, _stored(key))


def get_user_state(identity: Identity, app_name: str, user_id: str) -> StateView:
    _check_user_access(identity, user_id, writing=False)
    key = StateKey(identity.tenant_id, app_name, user_id)
    return view(key, _stored(key))


def session_with_state(identity: Identity, session_id: str) -> tuple[SessionRecord, SessionStates | None]:
    """GET /v1/sessions/{id}?include=state: the session, and the state documents of its app and of its user there
    (None when it has no app_name, so no state documents).

    One read of the session, then one BatchGetItem of both documents. Whoever may read the session may read
    them: the app's state is the tenant's, and the user's is the session owner's (read by the owner or an admin).
    """
    from sessions.usecases.access import get_session

    record = get_session(identity, session_id)
    app_name = record.get("app_name")
    if not app_name:
        return record, None
    keys = [StateKey(identity.tenant_id, app_name), StateKey(identity.tenant_id, app_name, record["user_id"])]
    app, user = (doc or NEVER_WRITTEN.copy() for doc in store().get_states(keys))
    return record, {"app": view(keys[0], app), "user": view(keys[1], user)}


# --- change -------------------------------------------------------------------------------------


def _changed(
    identity: Identity,
    current: StateDocument,
    steps: Iterable[tuple[str, dict[str, Any]]],
    at: int,
    where: str | tuple[str, ...],
) -> StateDocument | None:
    """The next document after `steps` (in order: a merge patch, or a set of top-level keys), or None when the
    state stays as it is."""
    from sessions.domain.patching import checked_object  # imported here: the GET function never merges

    state = current["state"]
    for kind, change in steps:
        state = set_keys(state, change) if kind == "state_set" else apply_merge_patch(state, change)
    if _same_json(state, current["state"]):
        return None
    return {
        "state": checked_object(where, state),
        "version": current["version"] + 1,
        "updated_at": format_ms(at),
        "updated_by": identity.principal,
    }


def _same_json(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # True == 1 in Python, not in JSON


def _update(identity: Identity, key: StateKey, patch: dict[str, Any], if_match: int | None) -> StateView:
    current = _stored(key)
    for attempt in write_attempts():
        if if_match is not None and current["version"] != if_match:
            raise VersionMismatch(current["version"])
        document = _changed(identity, current, [("state_patch", patch)], now_ms(), "state")
        if document is None:
            return view(key, current)  # nothing changes: no write, no new version
        try:
            store().put_state(key, document, read_version=current["version"])
            return view(key, document)
        except StateChanged as changed:
            # the first loss plans again at once on what the store handed back; later ones back off and read
            latest = changed.document if attempt == 0 else None
        except WriteConflict:
            latest = None
        if latest is None:
            back_off(attempt)
            latest = _stored(key)
        current = latest
    raise VersionMismatch(current["version"], f"the state kept changing (now version {current['version']}); retry")


def update_app_state(identity: Identity, app_name: str, patch: dict[str, Any], if_match: int | None) -> StateView:
    _check_app_write(identity)
    return _update(identity, StateKey(identity.tenant_id, app_name), patch, if_match)


def update_user_state(
    identity: Identity, app_name: str, user_id: str, patch: dict[str, Any], if_match: int | None
) -> StateView:
    _check_user_access(identity, user_id, writing=True)
    return _update(identity, StateKey(identity.tenant_id, app_name, user_id), patch, if_match)


# --- with an append (or a create) -------------------------------------------------------------


class StateChanges(Protocol):
    """What carries state changes: an append's event, or a create's body (merge patches first, then sets)."""

    @property
    def state_patch(self) -> StatePatch | None: ...

    @property
    def state_set(self) -> StateSet | None: ...


def _steps(request: StateChanges, part: str) -> list[tuple[str, dict[str, Any]]]:
    """One request's changes to one document (`app` or `user`), in the order they apply: patch, then set."""
    steps = []
    for kind, given in (("state_patch", request.state_patch), ("state_set", request.state_set)):
        value = getattr(given, part) if given is not None else None
        if value is not None:
            steps.append((kind, value))
    return steps


def check_state_changes(identity: Identity, session: SessionRecord, requests: Iterable[StateChanges]) -> None:
    """Refuse state changes (state_patch, state_set) that the caller may not apply or the session cannot take."""
    requests = list(requests)
    named = {kind for request in requests for part in ("app", "user") for kind, _ in _steps(request, part)}
    if not named:
        return  # none given, or given with no part: nothing to check, nothing to write
    if not session.get("app_name"):
        # 409 like session_closed: the request is valid, the session (its app_name is fixed at create) refuses it
        names = " and ".join(sorted(named))
        raise SessionHasNoApp(f"{names} need{'s' if len(named) == 1 else ''} a session created with an app_name")
    if any(_steps(request, "app") for request in requests):
        _check_app_write(identity)


def state_writes(identity: Identity, session: SessionRecord, requests: Iterable[StateChanges]) -> list[dict[str, Any]]:
    """The conditioned Puts that state changes (each request's state_patch then state_set, in order) add to a write.

    Each document is read now and written only if still at that version: a lost race cancels the
    whole transaction, which is planned again (the store raises WriteConflict). A document the
    changes leave as it is gets no write.
    """
    requests = list(requests)
    check_state_changes(identity, session, requests)  # changes to a session without an app_name are refused
    app_name = session.get("app_name")
    if not app_name or not any(_steps(request, part) for request in requests for part in ("app", "user")):
        return []
    at = now_ms()
    writes = []
    for part, key in (
        ("app", StateKey(session["tenant_id"], app_name)),
        ("user", StateKey(session["tenant_id"], app_name, session["user_id"])),
    ):
        steps = [step for request in requests for step in _steps(request, part)]
        if not steps:
            continue
        current = _stored(key)
        document = _changed(identity, current, steps, at, (steps[-1][0], part))
        if document is not None:
            writes.append(store().state_write(key, document, read_version=current["version"]))
            if current["version"] == 0 and key.user_id is not None:  # its first write: registered for erasures
                writes.append(store().user_state_registration(key))
    return writes
