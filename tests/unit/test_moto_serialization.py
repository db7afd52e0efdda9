"""local/aws/moto_serialization.py: items are written into responses exactly as moto 5.2.5's generic walk writes them.

Each response is serialized twice with moto's own serializer for the operation, once with the direct path and once
with moto's walk (the function the module replaces), and the two bodies compared byte for byte.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from moto.core.responses import XFormedAttributePicker
from moto.core.serialize import BaseJSONSerializer, get_serializer_class
from moto.core.utils import get_service_model

from local.aws.moto_fixes import adapt_moto
from local.testing import TESTS_TTL_SWEEP_SECONDS

adapt_moto(TESTS_TTL_SWEEP_SECONDS)

EVERY_TYPE: dict[str, Any] = {
    "PK": {"S": "TENANT#t#SESSION#s"},
    "n": {"N": "1.50"},
    "decimal": {"N": Decimal("12345678901234567890.123")},
    "blob": {"B": b"\x00\xffbytes"},
    "blob_text": {"B": "already text"},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"x", "y"]},
    "null": {"NULL": True},
    "flag": {"BOOL": False},
    "empty": {"S": ""},
    "map": {
        "M": {"inner": {"L": [{"S": "x"}, {"M": {}}, {"L": []}, {"NULL": True}]}, "deep": {"M": {"n": {"N": "0"}}}}
    },
    "list": {"L": [{"BOOL": True}, {"SS": ["z"]}, {"N": "-1E-130"}]},
    "none_member": {"S": None, "N": "3"},
}

RESPONSES = [
    ("GetItem", {"Item": EVERY_TYPE}),
    ("Query", {"Items": [EVERY_TYPE, {"PK": {"S": "other"}}], "Count": 2, "LastEvaluatedKey": {"PK": {"S": "k"}}}),
    ("UpdateItem", {"Attributes": EVERY_TYPE, "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0}}),
    ("TransactGetItems", {"Responses": [{"Item": EVERY_TYPE}, {}]}),
    ("BatchGetItem", {"Responses": {"t": [EVERY_TYPE]}, "UnprocessedKeys": {}}),
    ("Query", {"Items": [{"odd": {"M": {"nested": "not a dict"}}}], "Count": 1}),  # moto's walk writes it
]


def serialize(service: str, operation: str, result: dict[str, Any]) -> Any:
    model = get_service_model(service)
    serializer_class = get_serializer_class(model.service_name, "json")
    serializer = serializer_class(
        operation_model=model.operation_model(operation), pretty_print=False, value_picker=XFormedAttributePicker()
    )
    return serializer.serialize(result)


@pytest.mark.parametrize(("operation", "result"), RESPONSES)
def test_an_item_is_written_as_moto_writes_it(
    operation: str, result: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    direct = serialize("dynamodb", operation, result)
    direct_path = BaseJSONSerializer._serialize_type_structure
    assert getattr(direct_path, "_attribute_values_direct", False)
    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", direct_path.generic)
    walked = serialize("dynamodb", operation, result)
    assert direct == walked
    assert json.loads(direct["body"])  # a JSON body, not an empty one
