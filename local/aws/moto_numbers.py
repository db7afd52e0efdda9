"""DynamoDB's number arithmetic in the emulator: exact decimals in any notation, sized by digits.

moto 5.2.5 adds and subtracts numbers in update expressions (`ADD n :v`, `SET n = n + :v`) with
`int()` unless the text holds a ".", so `1e-05` or `1E-7` (exponent notation, which DynamoDB
takes) fails the whole write with a ValueError; its Decimal sums run in Python's default 28-digit
context (DynamoDB keeps 38) and are written back as `str(Decimal)`, which is `1E-7` again. It also
sizes a number by the length of its text, where DynamoDB counts about one byte per two significant
digits, so `0.000…01` in positional notation would count 132 bytes instead of 2.

Here numbers are added and subtracted as DynamoDB does: exact decimals of at most 38 significant
digits (a result needing more is DynamoDB's ValidationException), written back in positional
notation; and a number's size is DynamoDB's: 1 byte plus 1 per two significant digits.

Drop this module once moto does the same.
"""

from __future__ import annotations

from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, Subnormal, Underflow
from typing import Any

from moto.dynamodb.exceptions import IncorrectDataType, MockValidationException
from moto.dynamodb.models.dynamo_type import DDBType, DynamoType

# DynamoDB's numbers: 38 significant digits, magnitudes from 1E-130 to below 1E+126
_DYNAMODB = Context(prec=38, Emax=125, Emin=-130, traps=[Inexact, InvalidOperation, Overflow, Subnormal, Underflow])


def _number(value: DynamoType) -> Decimal:
    return Decimal(value.value)


def _result(compute: Any) -> DynamoType:
    try:
        total = compute()
    except Inexact:
        raise MockValidationException("Attempting to store more than 38 significant digits in a Number") from None
    except ArithmeticError:  # beyond 1E+126 or below 1E-130 in magnitude
        raise MockValidationException(
            "Number overflow. Attempting to store a number outside the supported range"
        ) from None
    return DynamoType({DDBType.NUMBER: format(total.normalize(_DYNAMODB), "f") if total else "0"})


def _add(self: DynamoType, other: DynamoType) -> DynamoType:
    if self.type != other.type:
        raise TypeError("Different types of operandi is not allowed.")
    if not self.is_number():
        raise IncorrectDataType()
    return _result(lambda: _DYNAMODB.add(_number(self), _number(other)))


def _subtract(self: DynamoType, other: DynamoType) -> DynamoType:
    if self.type != other.type:
        raise TypeError("Different types of operandi is not allowed.")
    if not self.is_number():
        raise TypeError("Sum only supported for Numbers.")
    return _result(lambda: _DYNAMODB.subtract(_number(self), _number(other)))


_text_size = DynamoType.size


def _size(self: DynamoType) -> int:
    if not self.is_number():
        return _text_size(self)
    digits = "".join(map(str, _number(self).as_tuple().digits)).strip("0")  # leading and trailing zeros
    return 1 + (len(digits) + 1) // 2


def install() -> None:
    DynamoType.__add__ = _add  # type: ignore[method-assign]
    DynamoType.__sub__ = _subtract  # type: ignore[method-assign]
    DynamoType.size = _size  # type: ignore[method-assign]
