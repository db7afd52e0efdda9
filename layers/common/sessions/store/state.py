"""App- and user-scoped state documents: one item each, written whole, conditioned on its version.

    app state   PK T#{tenant}#APP#{app_name}           SK #STATE
    user state  PK T#{tenant}#APP#{app_name}#U#{user}  SK #STATE

Attributes: `state` (the JSON object), `version` (0 = never written: no item), `updated_at`,
`updated_by` (the principal of the last write). No stream consumer acts on them (the publisher's
filter passes session items only), no index holds them, and they have no TTL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sessions.core.attribute_values import to_item
from sessions.core.errors import UserErasureInProgress
from sessions.domain.records import StateDocument
from sessions.store.base import TableAccess, WriteConflict
from sessions.store.erasure import not_being_erased, refused_by_erasure, user_state_registration
from sessions.store.keys import STATE_SK, record_of, state_pk


@dataclass(frozen=True)
class StateKey:
    """Which document: the app's (user_id None) or one user's in that app, within a tenant."""

    tenant_id: str
    app_name: str
    user_id: str | None = None

    def item_key(self) -> dict[str, Any]:
        return {"PK": {"S": state_pk(self.tenant_id, self.app_name, self.user_id)}, "SK": {"S": STATE_SK}}


class StateChanged(Exception):
    """A conditional write of a state document lost a race; `document` is what is stored now (None: never written)."""

    def __init__(self, document: StateDocument | None) -> None:
        super().__init__("the state document changed since it was read")
        self.document = document


def state_put(table: str, key: StateKey, document: StateDocument, *, read_version: int) -> dict[str, Any]:
    """A Put of the whole document (its `version` already the next one), if it is still at `read_version`.

    A transaction item (the append's); StateDocuments.put_state sends the same Put alone.
    """
    item = {
        "PK": state_pk(key.tenant_id, key.app_name, key.user_id),
        "SK": STATE_SK,
        "state": document["state"],
        "version": document["version"],
        "updated_at": document["updated_at"],
        "updated_by": document["updated_by"],
    }
    if read_version == 0:
        condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(PK)"}
    else:
        condition = {
            "ConditionExpression": "#version = :version",
            "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": {":version": {"N": str(read_version)}},
        }
    return {"Put": {"TableName": table, "Item": to_item(item), **condition}}


class StateDocuments(TableAccess):
    def get_state(self, key: StateKey) -> StateDocument | None:
        """The stored document (`state`, `version`, `updated_at`, `updated_by`), or None if never written."""
        response = self._client.get_item(TableName=self._table, Key=key.item_key(), ConsistentRead=True)
        item = response.get("Item")
        if not item:
            return None
        return _document(record_of(item))

    def get_states(self, keys: list[StateKey]) -> list[StateDocument | None]:
        """The stored documents of `keys` (None for one never written), in one BatchGetItem (strongly consistent)."""
        wanted = [key.item_key() for key in keys]
        found = {
            (item["PK"]["S"], item["SK"]["S"]): _document(record_of(item))
            for item in self._batch_get(wanted, what="state document", ConsistentRead=True)
        }
        return [found.get((key["PK"]["S"], key["SK"]["S"])) for key in wanted]

    def state_write(self, key: StateKey, document: StateDocument, *, read_version: int) -> dict[str, Any]:
        """The conditioned Put of a document, as an item of another write's transaction (an append's)."""
        return state_put(self._table, key, document, read_version=read_version)

    def user_state_registration(self, key: StateKey) -> dict[str, Any]:
        """A user document's first write registers it in the user's partition, where an erasure finds it."""
        return user_state_registration(self._table, key)

    def put_state(self, key: StateKey, document: StateDocument, *, read_version: int) -> None:
        """Write the document if it is still at `read_version`; StateChanged carries what is stored now.

        A user's document written for the first time is registered in the same transaction, which
        is refused while the user is being erased (UserErasureInProgress).
        """
        if read_version == 0 and key.user_id is not None:
            self._create_user_state(key, document)
            return
        put = state_put(self._table, key, document, read_version=read_version)["Put"]
        try:
            self._client.put_item(**put, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            stored: Any = exc.response.get("Item")
            raise StateChanged(_document(record_of(stored)) if stored else None) from None
        except self._client.exceptions.TransactionConflictException:
            raise WriteConflict("a transaction was writing the state document") from None

    def _create_user_state(self, key: StateKey, document: StateDocument) -> None:
        assert key.user_id is not None  # noqa: S101 - put_state's caller checked
        put = state_put(self._table, key, document, read_version=0)
        put["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        check = not_being_erased(self._table, key.tenant_id, key.user_id)
        reasons = self._transact([put, user_state_registration(self._table, key), check])
        if reasons is None:
            return
        if refused_by_erasure(reasons):
            raise UserErasureInProgress(
                "the user is being erased: no state document of theirs is created until it ends"
            )
        stored = reasons[0].get("Item")
        raise StateChanged(_document(record_of(stored)) if stored else None)


def _document(record: Mapping[str, Any]) -> StateDocument:
    return {
        "state": record["state"],  # every write puts the whole document (state_put)
        "version": record["version"],
        "updated_at": record.get("updated_at"),
        "updated_by": record.get("updated_by"),
    }
