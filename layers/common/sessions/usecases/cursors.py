"""Opaque, tamper-proof pagination cursors, bound to the caller and the query that issued them.

A cursor is base64url(JSON {"p": position, "b": binding digest, "s": HMAC}). The HMAC key is a
secret the template creates; it is read once per container. A cursor presented by another caller,
for another query, or edited in any way is refused.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from typing import Any

from sessions.core.errors import InvalidCursor
from sessions.core.settings import get_settings


@functools.cache
def _secret() -> bytes:
    from sessions.store import aws_client

    arn = get_settings().resource("cursor_secret_arn")
    response = aws_client("secretsmanager").get_secret_value(SecretId=arn)
    return str(response["SecretString"]).encode()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _binding_digest(binding: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(binding)).hexdigest()[:32]


def _signature(position: Any, digest: str) -> str:
    mac = hmac.new(_secret(), _canonical({"p": position, "b": digest}), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def encode_cursor(position: Any, binding: dict[str, Any]) -> str:
    digest = _binding_digest(binding)
    token = {"p": position, "b": digest, "s": _signature(position, digest)}
    return base64.urlsafe_b64encode(_canonical(token)).decode().rstrip("=")


def decode_cursor(cursor: str, binding: dict[str, Any]) -> Any:
    """The position a cursor holds; InvalidCursor unless we issued it for this caller and query."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        token = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        position, digest, signature = token["p"], token["b"], token["s"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InvalidCursor("the cursor was not issued by this service") from None
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _signature(position, digest)):
        raise InvalidCursor("the cursor was not issued by this service")
    if not hmac.compare_digest(str(digest), _binding_digest(binding)):
        raise InvalidCursor("the cursor was issued for another caller or query")
    return position
