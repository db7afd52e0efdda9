"""What a JSON merge patch does to a stored session: the rules of PATCH, without I/O."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from sessions.core.clock import format_ms
from sessions.core.errors import InvalidField, PayloadTooLarge, SessionClosed
from sessions.domain.limits import ObjectTooLarge, check_json_object
from sessions.domain.merge_patch import apply_merge_patch
from sessions.domain.models import METADATA_MAX_PAIRS, RuntimeBackend
from sessions.domain.records import SessionChanges, SessionRecord
from sessions.domain.status import Status, check_transition, is_open

if TYPE_CHECKING:
    from sessions.domain.models import UpdateSessionRequest

# What a completed session still lets a client change.
EDITABLE_WHEN_COMPLETED = frozenset({"title", "metadata", "ttl_seconds"})
# Object fields merge; removing one leaves an empty object, except the checkpoint, which becomes null.
OBJECT_FIELDS: dict[str, dict[str, Any] | None] = {"context": {}, "runtime_metadata": {}, "checkpoint": None}


def plan_patch(current: SessionRecord, patch: UpdateSessionRequest, now: int) -> SessionChanges:
    """The attributes a merge patch changes; none when it changes nothing."""
    status = Status(current["status"])
    new_status = _check_allowed(status, patch)
    candidate = _patched_values(current, patch, now)
    if new_status != status:
        candidate["status"] = new_status.value
    # compared as JSON: in Python True == 1, but a patch from 1 to true is a change
    changes = {name: value for name, value in candidate.items() if _as_json(current.get(name)) != _as_json(value)}
    if not changes:
        return {}
    timestamp = format_ms(now)
    changes["updated_at"] = changes["last_active_at"] = timestamp
    if bool(current.get("holds_slot")) != is_open(new_status):
        changes["holds_slot"] = is_open(new_status)  # the open-session slot follows the status
    return cast("SessionChanges", changes)  # the fields of UpdateSessionRequest, as stored


def _check_allowed(status: Status, patch: UpdateSessionRequest) -> Status:
    """The status the patch leads to, if the lifecycle rules allow the patch at all."""
    given = patch.model_fields_set
    new_status = patch.status or status
    # naming the current status is not a change, so a retried pause is harmless
    changing = (given - {"status"}) | ({"status"} if new_status != status else set())
    if status is Status.COMPLETED and changing - EDITABLE_WHEN_COMPLETED:
        names = ", ".join(sorted(changing - EDITABLE_WHEN_COMPLETED))
        raise SessionClosed(f"session is completed; {names} can no longer change")
    if new_status != status:
        check_transition(status, new_status)
    return new_status


def _patched_values(current: SessionRecord, patch: UpdateSessionRequest, now: int) -> dict[str, Any]:
    given = patch.model_fields_set
    values: dict[str, Any] = {name: getattr(patch, name) for name in ("title", "token_budget") if name in given}
    for name, removed in OBJECT_FIELDS.items():
        if name in given:
            value = getattr(patch, name)
            merged = removed if value is None else apply_merge_patch(current.get(name) or {}, value)
            values[name] = merged if merged is None else checked_object(name, merged)
    if "metadata" in given:
        metadata = {} if patch.metadata is None else apply_merge_patch(current.get("metadata") or {}, patch.metadata)
        if len(metadata) > METADATA_MAX_PAIRS:
            raise InvalidField(("body", "metadata"), f"metadata holds at most {METADATA_MAX_PAIRS} pairs")
        values["metadata"] = metadata
    if "runtime_backend" in given:
        values["runtime_backend"] = (patch.runtime_backend or RuntimeBackend.UNKNOWN).value
    if patch.ttl_seconds is not None:
        values["expires_at"] = format_ms(now + patch.ttl_seconds * 1000)
    return values


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def checked_object(name: str | tuple[str, ...], value: dict[str, Any]) -> dict[str, Any]:
    """`value` if it is a JSON object the table can hold; `name` is where it is in the body."""
    path = (name,) if isinstance(name, str) else name
    try:
        return check_json_object(value)
    except ObjectTooLarge as exc:
        raise PayloadTooLarge(f"{'.'.join(path)}: {exc}") from None
    except ValueError as exc:
        raise InvalidField(("body", *path), str(exc)) from None
