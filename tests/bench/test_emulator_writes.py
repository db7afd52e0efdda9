"""bench.emulator_writes: the service's writes replay on moto both ways, and the figures say which is which."""

from __future__ import annotations

import pytest
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models.dynamo_type import Item

from bench import emulator_writes
from local.aws import moto_conditions, moto_item_sizes


def test_a_small_run_replays_every_write_both_ways_and_leaves_the_adaptations_in_place(
    restored_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = emulator_writes.run(sessions=2, appends=10, rounds=1)  # a write that fails on replay raises
    assert figures["transactions"] == 12  # 2 creates and 10 appends, each one transaction
    assert figures["moto_ms"] > 0 and figures["adapted_ms"] > 0
    assert "12 transactions (2 creates, 10 appends)" in capsys.readouterr().out
    assert ConditionExpressionParser.parse is moto_conditions.parse  # moto's own code only for its rounds
    assert Item.__init__ is moto_item_sizes._init
