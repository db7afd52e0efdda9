"""What the API's jobs of a user's data (an erasure, an export) share: the empty start body, status and times."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["running", "completed", "failed"]


def timestamp() -> Any:
    """A job's time (started_at, completed_at): an RFC 3339 date-time string."""
    return Field(json_schema_extra={"format": "date-time"})


class StartJobRequest(BaseModel):
    """The body is optional and takes no field today: an unknown one is refused (422)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)
