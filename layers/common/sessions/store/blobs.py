"""The only module that talks to S3: event parts too large for their DynamoDB item.

    object  {tenant}/{session_id}/{incarnation}/{event_id}/{part}
    export  #exports/{tenant}/{user}/{export_id}.jsonl   (a user's export: JSON Lines, one object)

`tenant` is key_part(tenant_id) with '/' escaped as well, so that no tenant's prefix is a prefix
of another's; session ids hold no '/'. All objects of one incarnation of a session share the
prefix `{tenant}/{session_id}/{incarnation}/`, which the cleanup deletes when it purges that
history (an object whose append failed after its upload lies there too). The bucket's lifecycle
rule expires whatever is left after the longest session lifetime plus two days. Exports lie under
`#exports/`, a prefix no escaped tenant can start with ('#' is escaped), with a shorter rule of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sessions.core.settings import get_settings
from sessions.domain.records import BlobPointer, SessionRecord
from sessions.store.client import aws_client
from sessions.store.keys import key_part

PRESIGN_SECONDS = 15 * 60
DELETE_OBJECTS_MAX = 1000  # keys per DeleteObjects call (and per ListObjectsV2 page)


def _tenant_part(escaped_tenant: str) -> str:
    return escaped_tenant.replace("/", "%2F")  # '%' is already escaped by key_part: still one-to-one


def blob_prefix(tenant_id: str, session_id: str, incarnation: str) -> str:
    """Where every object of one incarnation of a session lies."""
    return f"{_tenant_part(key_part(tenant_id))}/{session_id}/{incarnation}/"


def blob_key(tenant_id: str, session_id: str, incarnation: str, event_id: str, part: str) -> str:
    """The object of one part ("content", "payload") of one event; a new version of a part takes a new name."""
    return f"{blob_prefix(tenant_id, session_id, incarnation)}{event_id}/{part}"


def history_blob_prefix(session_pk: str, incarnation: str) -> str:
    """blob_prefix from a session's table key (T#{tenant}#S#{session_id}), as the cleanup's index gives it."""
    escaped_tenant, _, session_id = session_pk.removeprefix("T#").partition("#S#")
    return f"{_tenant_part(escaped_tenant)}/{session_id}/{incarnation}/"


EXPORTS_PREFIX = "#exports/"  # template.yaml's lifecycle rule and the export worker's grants name it


def export_prefix(tenant_id: str, user_id: str) -> str:
    """Where every export of one user lies (an erasure of the user deletes it)."""
    return f"{EXPORTS_PREFIX}{_tenant_part(key_part(tenant_id))}/{_tenant_part(key_part(user_id))}/"


def export_key(tenant_id: str, user_id: str, export_id: str) -> str:
    return f"{export_prefix(tenant_id, user_id)}{export_id}.jsonl"


@dataclass(frozen=True)
class PrefixDeletion:
    deleted: int  # objects S3 confirmed deleted
    complete: bool  # False when S3 refused some: they are tried again by the next purge of the prefix


class EventBlobs:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes | None:
        """The object's bytes; None when it is missing."""
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            return None
        body: bytes = response["Body"].read()
        return body

    def copy(self, source_key: str, key: str) -> bool:
        """Copy an object within the bucket (server side, no bytes through Lambda); False when the source is missing."""
        try:
            self._client.copy_object(
                Bucket=self._bucket, Key=key, CopySource={"Bucket": self._bucket, "Key": source_key}
            )
        except self._client.exceptions.NoSuchKey:
            return False
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            return False
        return True

    def presigned_get(self, key: str, expires_in: int = PRESIGN_SECONDS) -> str:
        """A URL that reads the object without credentials for `expires_in` seconds (signed locally: no call)."""
        url: str = self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    # --- multipart uploads (exports: each part uploaded once, whatever the runs) ---------------------------

    def start_upload(self, key: str, content_type: str) -> str:
        """Begin a multipart upload of `key`; its upload id."""
        response = self._client.create_multipart_upload(Bucket=self._bucket, Key=key, ContentType=content_type)
        return str(response["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        """Upload part `number` (1-based; every part but the last at least 5 MiB); its ETag."""
        response = self._client.upload_part(
            Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return str(response["ETag"])

    def complete_upload(self, key: str, upload_id: str, etags: list[str]) -> None:
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, start=1)]
        self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    def abort_upload(self, key: str, upload_id: str) -> None:
        """Drop an upload's parts (a missing upload is no error: it was completed or aborted already)."""
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except self._client.exceptions.NoSuchUpload:
            return

    def delete_keys(self, keys: list[str]) -> list[str]:
        """Delete these objects (a missing one counts as deleted); the keys S3 could not delete."""
        failed: list[str] = []
        for start in range(0, len(keys), DELETE_OBJECTS_MAX):
            batch = keys[start : start + DELETE_OBJECTS_MAX]
            response = self._client.delete_objects(
                Bucket=self._bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            failed += [error["Key"] for error in response.get("Errors", [])]
        return failed

    def delete_prefix(self, prefix: str) -> PrefixDeletion:
        """Delete every object under the prefix: one ListObjectsV2 per 1,000 objects, one DeleteObjects per page."""
        request: dict[str, Any] = {"Bucket": self._bucket, "Prefix": prefix, "MaxKeys": DELETE_OBJECTS_MAX}
        deleted, complete = 0, True
        while True:
            response = self._client.list_objects_v2(**request)
            keys = [entry["Key"] for entry in response.get("Contents", [])]
            if keys:
                failed = self.delete_keys(keys)
                deleted += len(keys) - len(failed)
                complete = complete and not failed
            if not response.get("IsTruncated"):
                return PrefixDeletion(deleted, complete)
            request["ContinuationToken"] = response["NextContinuationToken"]


def own_copies(
    blobs: EventBlobs, session: SessionRecord, event_id: str, pointers: dict[str, BlobPointer]
) -> dict[str, BlobPointer]:
    """Pointers to copies, under the session's own prefix, of objects another session's event points at.

    A fork that takes an inherited event as its own (a copy before its source changes it, or its own
    PATCH) copies its large parts too: the source's objects are deleted with the source. A source
    object already gone stays gone (reading the event logs it, as for any lost part).
    """
    own: dict[str, BlobPointer] = {}
    for part, pointer in pointers.items():
        name = pointer["key"].rsplit("/", 1)[-1]  # "content", or a PATCH's "content.<revision>"
        key = blob_key(session["tenant_id"], session["session_id"], session["incarnation"], event_id, name)
        if key != pointer["key"]:
            blobs.copy(pointer["key"], key)
        own[part] = {**pointer, "key": key}
    return own


def default_blobs() -> EventBlobs:
    return EventBlobs(aws_client("s3"), get_settings().resource("event_blobs_bucket"))
