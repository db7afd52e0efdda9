"""The export job as the API shows it (POST /v1/users/{user_id}/export, GET /v1/exports/{export_id})."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StartExportRequest(BaseModel):
    """The body is optional and takes no field today: an unknown one is refused (422)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class ExportCounts(BaseModel):
    model_config = ConfigDict(defer_build=True)

    sessions: int = Field(description="Session lines written")
    events: int = Field(description="Event lines written (large parts inline)")
    state_documents: int = Field(description="The user's state documents, one line per app")
    bytes: int = Field(description="The size of the JSON Lines object")


class Export(BaseModel):
    """A job writing a copy of one user's data in the tenant as JSON Lines; ids and counts only."""

    model_config = ConfigDict(defer_build=True)

    export_id: str
    user_id: str
    status: Literal["running", "completed", "failed"]
    started_at: str = Field(json_schema_extra={"format": "date-time"})
    completed_at: str | None = Field(json_schema_extra={"format": "date-time"})
    counts: ExportCounts = Field(description="What is written so far (final once completed)")
    download_url: str | None = Field(
        None,
        description="completed only: a presigned GET of the JSON Lines object, valid for url_expires_in seconds "
        "from this answer; null once the object has expired (expires_at)",
    )
    url_expires_in: int | None = Field(None, description="completed only: how long download_url is valid, seconds")
    expires_at: str | None = Field(
        None,
        description="completed only: when the bucket's lifecycle removes the object (and no URL is answered)",
        json_schema_extra={"format": "date-time"},
    )
