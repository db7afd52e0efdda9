"""What the sync and async clients share: requests as data, identity, retries, answers to models."""

from __future__ import annotations

import inspect
import json
import random
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from sessions_client import errors
from sessions_client.models import (
    AppState,
    Erasure,
    Event,
    Export,
    History,
    RemovedEvents,
    Session,
    SessionList,
    Stats,
    TenantSettings,
    UserState,
)

__version__ = "0.1.0"

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
TokenProvider = Callable[[], Any]  # returns str (sync) or an awaitable of str (async client only)
Token = str | TokenProvider
JsonObject = Mapping[str, Any]

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.2  # seconds: attempt n waits uniform(0, min(max_backoff, backoff * 2**n))
DEFAULT_MAX_BACKOFF = 5.0
# what a retry can fix: throttling and a gateway or service that is briefly unavailable. A 500 is
# the service failing on this request: the same request fails again, so it reaches the caller at once.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_JSON = "application/json"
_SEGMENT_SAFE = ":@._-~"


@dataclass(frozen=True)
class DevIdentity:
    """The dev server's identity headers (X-User-Id, X-Tenant-Id, X-Roles); never trusted by a deployed stack."""

    user_id: str
    tenant_id: str | None = None
    roles: Sequence[str] = ()

    def headers(self) -> dict[str, str]:
        headers = {"X-User-Id": self.user_id}
        if self.tenant_id:
            headers["X-Tenant-Id"] = self.tenant_id
        if self.roles:
            headers["X-Roles"] = ",".join(self.roles)
        return headers


def as_identity(value: DevIdentity | Mapping[str, Any] | None) -> DevIdentity | None:
    if value is None or isinstance(value, DevIdentity):
        return value
    roles = value.get("roles") or ()
    return DevIdentity(
        user_id=str(value["user_id"]),
        tenant_id=value.get("tenant_id"),
        roles=tuple(roles.split(",")) if isinstance(roles, str) else tuple(roles),
    )


def bearer_token(token: Token) -> str:
    """The sync client's bearer token: `token` itself, or what the callable returns (a str)."""
    value = token() if callable(token) else token
    if not isinstance(value, str):
        raise TypeError("the token provider must return a str (use AsyncSessionsClient for async providers)")
    return value


async def async_bearer_token(token: Token) -> str:
    """The async client's: the same, and an async callable's answer awaited.

    The one step of the clients written twice: the sync client, generated from the async one
    (local/generators/sync_client.py), calls its twin above, which cannot await and refuses an awaitable.
    """
    value = token() if callable(token) else token
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, str):
        raise TypeError("the token provider must return a str (or an awaitable of one)")
    return value


DEFAULT_URL = "http://127.0.0.1:3000"


def settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Client arguments from SESSIONS_URL, SESSIONS_TOKEN, SESSIONS_USER/TENANT/ROLES (dev server), SESSIONS_ACT_AS."""
    settings: dict[str, Any] = {"base_url": environ.get("SESSIONS_URL") or DEFAULT_URL}
    if environ.get("SESSIONS_TOKEN"):
        settings["token"] = environ["SESSIONS_TOKEN"]
    if environ.get("SESSIONS_USER"):
        roles = tuple(role.strip() for role in environ.get("SESSIONS_ROLES", "").split(",") if role.strip())
        settings["identity"] = DevIdentity(environ["SESSIONS_USER"], environ.get("SESSIONS_TENANT") or None, roles)
    if environ.get("SESSIONS_ACT_AS"):
        settings["user_id"] = environ["SESSIONS_ACT_AS"]
    return settings


class HasVersion(Protocol):
    @property
    def version(self) -> int: ...


IfMatch = int | str | HasVersion | Event


def if_match_header(value: IfMatch | None) -> dict[str, str]:
    """`If-Match: "<version>"` from a version, a Session (its version) or an Event (the session version it carries)."""
    if value is None:
        return {}
    version: Any
    if isinstance(value, Event):
        version = value.session_version
        if version is None:
            raise ValueError("this event carries no session version; pass if_match= a version or a Session")
    elif isinstance(value, bool):
        raise TypeError("if_match takes a version (int), a Session or an Event")
    elif isinstance(value, int | str):
        version = value
    else:
        version = value.version
    text = str(version)
    return {"If-Match": text if text.startswith('"') else f'"{text}"'}


def segment(value: str | int) -> str:
    text = str(value)
    if not text:
        raise ValueError("an identifier in the path cannot be empty")
    return quote(text, safe=_SEGMENT_SAFE)


def timestamp(value: datetime | str) -> str:
    """RFC 3339 for a query: a datetime in UTC with milliseconds and Z (naive ones are taken as UTC)."""
    if isinstance(value, str):
        return value
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dump(body: Any) -> bytes:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json", exclude_none=True)
    return json.dumps(body, default=_json_default, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _params(**values: Any) -> dict[str, str]:
    """Query parameters without the unset ones; booleans as true/false, datetimes as RFC 3339, lists as comma lists."""
    params: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            params[key] = timestamp(value)
        elif isinstance(value, list | tuple | set | frozenset):
            params[key] = ",".join(str(item) for item in value)
        else:
            params[key] = str(value)
    return params


def _metadata_filters(metadata: Mapping[str, str] | None) -> dict[str, list[str]]:
    """metadata=key:value, repeated (a value may hold commas or colons): what lists and history filter on."""
    return {"metadata": [f"{key}:{value}" for key, value in dict(metadata).items()]} if metadata else {}


def _event_body(event: JsonObject | BaseModel | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if isinstance(event, BaseModel):
        body.update(event.model_dump(mode="json", exclude_none=True))
    elif event is not None:
        body.update(event)
    body.update({key: value for key, value in fields.items() if value is not None})
    if "type" not in body:
        raise ValueError("an event needs a type (message, task, tool, system, ...)")
    return body


def _patch_body(patch: JsonObject | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch: `patch` plus keyword fields, None kept (it removes the field)."""
    body = dict(patch or {})
    body.update(fields)
    return body


@dataclass
class Call(Generic[T]):
    """One logical API call: everything but the auth headers, the same for each of its attempts."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str | list[str]] = field(default_factory=dict)  # a list: the parameter repeated
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    url: str | None = None  # absolute, instead of base_url + path (a presigned URL)
    anonymous: bool = False  # no identity, no token (a presigned URL carries its own authorization)


def parse_model(model: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        return model.model_validate_json(response.content)

    return parse


def _version_from_etag(response: httpx.Response) -> int | None:
    tag = response.headers.get("etag", "").removeprefix("W/").strip('"')
    return int(tag) if tag.isdigit() else None


def _parse_event(response: httpx.Response) -> Event:
    event = Event.model_validate_json(response.content)
    event._session_version = _version_from_etag(response)
    return event


class _EventBatch(BaseModel):
    events: list[Event]


def _parse_events(response: httpx.Response) -> list[Event]:
    events = _EventBatch.model_validate_json(response.content).events
    version = _version_from_etag(response)
    for event in events:
        event._session_version = version
    return events


def _parse_nothing(response: httpx.Response) -> None:
    return None


def _parse_text(response: httpx.Response) -> str:
    return response.content.decode("utf-8")


def _parse_object(response: httpx.Response) -> dict[str, Any]:
    value = json.loads(response.content)
    if not isinstance(value, dict):
        raise errors.SessionsError("a payload URL answered something other than a JSON object", status=200)
    return value


def part_calls(event: Event) -> dict[str, Call[Any]]:
    """GETs of the parts an answer left out as presigned URLs (events too large to inline)."""
    calls: dict[str, Call[Any]] = {}
    if event.content_url:
        calls["content"] = Call("GET", "", _parse_text, url=event.content_url, anonymous=True)
    if event.payload_url:
        calls["payload"] = Call("GET", "", _parse_object, url=event.payload_url, anonymous=True)
    return calls


def with_parts(event: Event, parts: dict[str, Any]) -> Event:
    updated = event.model_copy(update={**parts, **{f"{name}_url": None for name in parts}})
    updated._session_version = event._session_version
    return updated


def error_from(response: httpx.Response) -> errors.SessionsError:
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.text or None
    return errors.error_for(response.status_code, body, dict(response.headers))


def finish(call: Call[T], response: httpx.Response) -> T:
    if response.status_code >= 400:
        raise error_from(response)
    return call.parse(response)


class ClientCore:
    """Configuration and the requests of every operation; `SessionsClient` and `AsyncSessionsClient` send them."""

    def __init__(
        self,
        base_url: str,
        *,
        token: Token | None = None,
        identity: DevIdentity | Mapping[str, Any] | None = None,
        user_id: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.identity = as_identity(identity)
        self.user_id = user_id
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.default_headers = {"Accept": _JSON, "User-Agent": f"sessions-client/{__version__}", **(headers or {})}
        if self.identity is not None:
            self.default_headers.update(self.identity.headers())
        self._random = random.Random()  # noqa: S311 - jitter, not security

    # --- retries --------------------------------------------------------------------------------

    def should_retry(self, response: httpx.Response) -> bool:
        """429 (throttling, not the open-session cap: waiting does not free a slot) and 502/503/504; never 500."""
        if response.status_code not in RETRY_STATUSES:
            return False
        return not (response.status_code == 429 and b"session_limit_reached" in response.content)

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Exponential back-off with full jitter; a Retry-After in seconds is waited at least (up to max_backoff)."""
        wait = self._random.uniform(0, min(self.max_backoff, self.backoff * (2**attempt)))
        retry_after = response.headers.get("retry-after", "") if response is not None else ""
        if retry_after.isdigit():
            wait = max(wait, min(float(retry_after), self.max_backoff))
        return wait

    def _user(self, user_id: str | None) -> str | None:
        return user_id if user_id is not None else self.user_id

    def request_headers(self, call: Call[Any], auth: Mapping[str, str]) -> dict[str, str]:
        if call.anonymous:
            return {"User-Agent": self.default_headers["User-Agent"], **call.headers}
        return {**self.default_headers, **call.headers, **auth}

    def _headers(self, extra: Mapping[str, str] | None = None, *, body: bool = False) -> dict[str, str]:
        headers = dict(extra or {})
        if body:
            headers["Content-Type"] = _JSON
        return headers

    def _post_headers(self, idempotency_key: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = self._headers(extra, body=True)
        headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        return headers

    # --- sessions -------------------------------------------------------------------------------

    def _create_session(
        self, body: dict[str, Any], user_id: str | None, idempotency_key: str | None, only_new: bool = False
    ) -> Call[Session]:
        payload = {key: value for key, value in body.items() if value is not None}
        acting_for = self._user(user_id)
        if acting_for is not None:
            payload["user_id"] = acting_for
        return Call(
            "POST",
            "/v1/sessions",
            parse_model(Session),
            body=dump(payload),
            headers=self._post_headers(idempotency_key, {"If-None-Match": "*"} if only_new else None),
        )

    def _fork_session(
        self, session_id: str, body: dict[str, Any], user_id: str | None, idempotency_key: str | None
    ) -> Call[Session]:
        return Call(
            "POST",
            f"/v1/sessions/{segment(session_id)}/fork",
            parse_model(Session),
            _params(user_id=self._user(user_id)),
            dump({key: value for key, value in body.items() if value is not None}),
            self._post_headers(idempotency_key),
        )

    def _get_session(self, session_id: str, user_id: str | None, include_state: bool = False) -> Call[Session]:
        params = _params(include="state" if include_state else None, user_id=self._user(user_id))
        return Call("GET", f"/v1/sessions/{segment(session_id)}", parse_model(Session), params)

    def _update_session(
        self, session_id: str, patch: dict[str, Any], if_match: IfMatch | None, user_id: str | None
    ) -> Call[Session]:
        return Call(
            "PATCH",
            f"/v1/sessions/{segment(session_id)}",
            parse_model(Session),
            _params(user_id=self._user(user_id)),
            dump(patch),
            self._headers(if_match_header(if_match), body=True),
        )

    def _delete_session(self, session_id: str, user_id: str | None) -> Call[None]:
        return Call(
            "DELETE", f"/v1/sessions/{segment(session_id)}", _parse_nothing, _params(user_id=self._user(user_id))
        )

    def _list_sessions(self, filters: dict[str, Any], user_id: str | None) -> Call[SessionList]:
        metadata = filters.pop("metadata", None)
        path, acting_for = "/v1/sessions", self._user(user_id)
        if filters.pop("all_users", None):  # every user's sessions of the app: its own route, no user_id
            app_name = filters.pop("app_name", None)
            if app_name is None or user_id is not None:
                raise ValueError("all_users lists every user's sessions of one app: give app_name, not user_id")
            path, acting_for = f"/v1/apps/{segment(app_name)}/sessions", None
        params: dict[str, str | list[str]] = {**_params(**filters, user_id=acting_for), **_metadata_filters(metadata)}
        return Call("GET", path, parse_model(SessionList), params)

    def _get_stats(self, scope: str | None, user_id: str | None) -> Call[Stats]:
        return Call("GET", "/v1/sessions/stats", parse_model(Stats), _params(scope=scope, user_id=self._user(user_id)))

    # --- events ---------------------------------------------------------------------------------

    def _append_event(
        self,
        session_id: str,
        event: dict[str, Any],
        if_match: IfMatch | None,
        idempotency_key: str | None,
        user_id: str | None,
    ) -> Call[Event]:
        return Call(
            "POST",
            f"/v1/sessions/{segment(session_id)}/events",
            _parse_event,
            _params(user_id=self._user(user_id)),
            dump(event),
            self._post_headers(idempotency_key, if_match_header(if_match)),
        )

    def _append_events(
        self,
        session_id: str,
        events: Iterable[JsonObject | BaseModel],
        if_match: IfMatch | None,
        idempotency_key: str | None,
        user_id: str | None,
        replace_from_seq: int | None = None,
    ) -> Call[list[Event]]:
        bodies = [_event_body(event, {}) for event in events]
        if not bodies:
            raise ValueError("append_events needs at least one event")
        body: dict[str, Any] = {"events": bodies}
        if replace_from_seq is not None:
            body["replace_from_seq"] = int(replace_from_seq)
        return Call(
            "POST",
            f"/v1/sessions/{segment(session_id)}/events",
            _parse_events,
            _params(user_id=self._user(user_id)),
            dump(body),
            self._post_headers(idempotency_key, if_match_header(if_match)),
        )

    def _get_history(self, session_id: str, query: dict[str, Any], user_id: str | None) -> Call[History]:
        metadata = query.pop("metadata", None)
        return Call(
            "GET",
            f"/v1/sessions/{segment(session_id)}/history",
            parse_model(History),
            {**_params(**query, user_id=self._user(user_id)), **_metadata_filters(metadata)},
        )

    def _get_event(self, session_id: str, seq: int, user_id: str | None) -> Call[Event]:
        return Call(
            "GET",
            f"/v1/sessions/{segment(session_id)}/events/{int(seq)}",
            _parse_event,
            _params(user_id=self._user(user_id)),
        )

    def _update_event(
        self, session_id: str, seq: int, patch: dict[str, Any], if_match: IfMatch | None, user_id: str | None
    ) -> Call[Event]:
        return Call(
            "PATCH",
            f"/v1/sessions/{segment(session_id)}/events/{int(seq)}",
            _parse_event,
            _params(user_id=self._user(user_id)),
            dump(patch),
            self._headers(if_match_header(if_match), body=True),
        )

    def _delete_events(
        self,
        session_id: str,
        from_seq: int | None,
        seqs: Iterable[int] | None,
        return_events: bool,
        if_match: IfMatch | None,
        user_id: str | None,
    ) -> Call[RemovedEvents]:
        selected = None if seqs is None else [str(int(seq)) for seq in seqs]
        if (from_seq is None) == (selected is None) or selected == []:
            raise ValueError("delete_events takes from_seq (a rewind) or seqs (1 to 90 events), one of them")
        params: dict[str, str | list[str]] = {
            **_params(
                from_seq=None if from_seq is None else int(from_seq),
                return_events=return_events or None,
                user_id=self._user(user_id),
            )
        }
        if selected is not None:
            params["seq"] = selected  # seq=N, repeated
        return Call(
            "DELETE",
            f"/v1/sessions/{segment(session_id)}/events",
            parse_model(RemovedEvents),
            params,
            headers=self._headers(if_match_header(if_match)),
        )

    # --- state ----------------------------------------------------------------------------------

    def _state_user(self, user_id: str | None) -> str:
        chosen = user_id or self.user_id or (self.identity.user_id if self.identity else None)
        if not chosen:
            raise ValueError("name the user: user_id=, or a client made with user_id= or identity=")
        return chosen

    def _get_app_state(self, app_name: str) -> Call[AppState]:
        return Call("GET", f"/v1/apps/{segment(app_name)}/state", parse_model(AppState))

    def _update_app_state(self, app_name: str, patch: dict[str, Any], if_match: IfMatch | None) -> Call[AppState]:
        return Call(
            "PATCH",
            f"/v1/apps/{segment(app_name)}/state",
            parse_model(AppState),
            body=dump(patch),
            headers=self._headers(if_match_header(if_match), body=True),
        )

    def _get_user_state(self, app_name: str, user_id: str | None) -> Call[UserState]:
        path = f"/v1/apps/{segment(app_name)}/users/{segment(self._state_user(user_id))}/state"
        return Call("GET", path, parse_model(UserState))

    def _update_user_state(
        self, app_name: str, patch: dict[str, Any], user_id: str | None, if_match: IfMatch | None
    ) -> Call[UserState]:
        path = f"/v1/apps/{segment(app_name)}/users/{segment(self._state_user(user_id))}/state"
        return Call(
            "PATCH",
            path,
            parse_model(UserState),
            body=dump(patch),
            headers=self._headers(if_match_header(if_match), body=True),
        )

    # --- tenant settings ------------------------------------------------------------------------

    def _get_tenant_settings(self) -> Call[TenantSettings]:
        return Call("GET", "/v1/tenant/settings", parse_model(TenantSettings))

    def _update_tenant_settings(self, patch: dict[str, Any], if_match: IfMatch | None) -> Call[TenantSettings]:
        return Call(
            "PATCH",
            "/v1/tenant/settings",
            parse_model(TenantSettings),
            body=dump(patch),
            headers=self._headers(if_match_header(if_match), body=True),
        )

    # --- erasure ------------------------------------------------------------------------------

    def _erase_user(self, user_id: str | None) -> Call[Erasure]:
        path = f"/v1/users/{segment(self._state_user(user_id))}/erasure"
        return Call("POST", path, parse_model(Erasure))

    def _get_erasure(self, erasure_id: str) -> Call[Erasure]:
        return Call("GET", f"/v1/erasures/{segment(erasure_id)}", parse_model(Erasure))

    # --- export -------------------------------------------------------------------------------

    def _export_user(self, user_id: str | None) -> Call[Export]:
        path = f"/v1/users/{segment(self._state_user(user_id))}/export"
        return Call("POST", path, parse_model(Export))

    def _get_export(self, export_id: str) -> Call[Export]:
        return Call("GET", f"/v1/exports/{segment(export_id)}", parse_model(Export))


def create_body(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def event_body(event: JsonObject | BaseModel | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    return _event_body(event, fields)


def patch_body(patch: JsonObject | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    return _patch_body(patch, fields)
