"""A create's idempotency record without the user's content or id: a replay takes them from its own request.

Powertools keeps the first response for an hour, under a hash of the request's scope, so an erasure
cannot find the record by the user (http/idempotency.py). What it keeps is therefore made to name no
one: the session's title, context, checkpoint, metadata and runtime_metadata are dropped when they are
the request's own (a replay carries the same body, or is refused), and the user id is left out (a
replay's caller acts for the same user: the scope says so). A field the service changed on the way in
(a number normalised) is kept as answered, so a replay is always byte-for-byte the first answer.
"""

from __future__ import annotations

import json
from typing import Any

_FROM_REQUEST = "fields_from_request"
_CONTENT_DEFAULTS: dict[str, Any] = {
    "title": None,
    "context": {},
    "checkpoint": None,
    "metadata": {},
    "runtime_metadata": {},
}


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def pack_create_response(body: str, request_body: Any) -> str:
    """The create's answer as its record keeps it: without the content its request gave, nor the user id."""
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if not isinstance(answer, dict) or "session_id" not in answer:
        return body  # a problem: no session in it
    requested = request_body if isinstance(request_body, dict) else {}
    taken = [
        name
        for name, default in _CONTENT_DEFAULTS.items()
        if name in answer and _same(answer[name], requested.get(name, default))
    ]
    for name in taken:
        del answer[name]
    answer.pop("user_id", None)
    return json.dumps({_FROM_REQUEST: taken, "body": answer}, ensure_ascii=False, separators=(",", ":"))


def unpack_create_response(stored: str, request_body: Any, user_id: str) -> str:
    """The answer pack_create_response kept, with its content again from the (same) request, and the user."""
    try:
        packed = json.loads(stored)
    except ValueError:
        return stored
    if not isinstance(packed, dict) or _FROM_REQUEST not in packed:
        return stored
    requested = request_body if isinstance(request_body, dict) else {}
    answer = packed["body"]
    for name in packed[_FROM_REQUEST]:
        answer[name] = requested.get(name, _CONTENT_DEFAULTS[name])
    answer["user_id"] = user_id
    ordered = {name: answer[name] for name in _answer_order(answer)}
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def _answer_order(answer: dict[str, Any]) -> list[str]:
    from sessions.domain.models import PUBLIC_FIELDS  # the order the first answer had

    return [name for name in PUBLIC_FIELDS if name in answer] + [name for name in answer if name not in PUBLIC_FIELDS]
