"""The erasure job as the API shows it (POST /v1/users/{user_id}/erasure, GET /v1/erasures/{erasure_id})."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StartErasureRequest(BaseModel):
    """The body is optional and takes no field today: an unknown one is refused (422)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class ErasureCounts(BaseModel):
    model_config = ConfigDict(defer_build=True)

    sessions_erased: int
    events_deleted: int
    markers_deleted: int = Field(description="Slots, registrations, purge/settled/fork/reader markers")
    objects_deleted: int = Field(description="Large event parts and the user's exports in S3")
    state_documents_deleted: int


class Erasure(BaseModel):
    """A job erasing everything of one user in the tenant; ids and counts only."""

    model_config = ConfigDict(defer_build=True)

    erasure_id: str
    user_id: str
    status: Literal["running", "completed", "failed"]
    started_at: str = Field(json_schema_extra={"format": "date-time"})
    completed_at: str | None = Field(json_schema_extra={"format": "date-time"})
    counts: ErasureCounts = Field(description="What is removed so far (final once completed)")
    remaining: dict[str, int] | None = Field(
        None, description="failed only: what is left (sessions still listed); POST again to run the job again"
    )
