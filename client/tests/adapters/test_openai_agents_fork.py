"""ServiceSession forks: AdvancedSQLiteSession's branches (openai-agents 0.24.0) as new sessions of the service.

Ported from openai-agents `tests/extensions/memory/test_advanced_sqlite_session.py`, the assertions that
apply to a branch made as a new session: the items before the turn (the turn excluded), the parent
untouched, the error for a turn without a user message, blank and used branch names, a branch from
content. What does not apply, and why:
- switching (`_current_branch_id`, `switch_to_branch`, `get_items(branch_id=...)`): a branch here is its own
  `ServiceSession` object; the parent object never switches, so there is nothing to switch back from;
- `list_branches`, `delete_branch` (and its force, orphan cleanup, reservations kept after delete): a branch is
  a session, listed and deleted as sessions are (`list_sessions`, `delete_session`); the messages it shares with
  its parent are the service's business (a fork reads them until they change, then holds copies);
- `store_run_usage`/`get_session_usage` per branch, tool-usage per branch: the SDK's own tables; the service
  keeps usage per session (a fork's usage is exactly what its history holds);
- branch ids reserved forever, generated `branch_from_turn_{n}_{ts}` names, cross-process serialisation: a branch
  id is a session id; the service refuses a live one atomically and takes over a deleted one, as for creates.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from agents import Agent, Runner, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message

from sessions_client.adapters.openai_agents import ServiceSession

set_tracing_disabled(True)
pytestmark = pytest.mark.anyio


def new_session(backend: Any) -> ServiceSession:
    return ServiceSession(f"oai-{uuid.uuid4().hex[:12]}", backend.async_client())


def turns(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        item
        for question, answer in pairs
        for item in ({"role": "user", "content": question}, {"role": "assistant", "content": answer})
    ]


THREE_TURNS = turns(
    ("First question", "First answer"), ("Second question", "Second answer"), ("Third question", "Third answer")
)


# upstream: test_branching_functionality (create a branch from turn 2; the branch and main after it)
async def test_branching_functionality(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    for start in (0, 2, 4):
        await session.add_items(THREE_TURNS[start : start + 2])
    assert len(await session.get_items()) == 6

    branch = await session.create_branch_from_turn(2, f"{session.session_id}-test_branch")
    assert branch.session_id == f"{session.session_id}-test_branch"
    branch_items = await branch.get_items()
    assert len(branch_items) == 2  # only the first turn's items (before turn 2)
    assert branch_items[0].get("content") == "First question"
    assert branch_items[1].get("content") == "First answer"
    assert len(await session.get_items()) == 6  # main still has every item: it never moved
    assert await session.get_items() == THREE_TURNS
    stored = await session.client.get_session(branch.session_id)
    assert stored.forked_from is not None and (stored.forked_from.session_id, stored.forked_from.seq) == (
        session.session_id,
        2,
    )

    # both go on independently (the SDK's branch-specific add_items)
    await branch.add_items([{"role": "user", "content": "Branch question"}])
    await session.add_items([{"role": "user", "content": "Main question"}])
    assert [item["content"] for item in await branch.get_items()] == [
        "First question",
        "First answer",
        "Branch question",
    ]
    assert (await session.get_items())[-1]["content"] == "Main question" and len(await session.get_items()) == 7
    assert await branch.pop_item() == {"role": "user", "content": "Branch question"}
    assert len(await session.get_items()) == 7


# upstream: test_branch_specific_operations (a branch from turn 1 is empty; items added to it are its own)
async def test_a_branch_from_the_first_turn_is_empty(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items(turns(("Main branch question", "Main branch answer")))
    branch = await session.create_branch_from_turn(1)
    assert await branch.get_items() == []
    assert str(uuid.UUID(branch.session_id, version=4)) == branch.session_id  # named by the service when unnamed
    await branch.add_items(turns(("Branch question", "Branch answer")))
    main_items = await session.get_items()
    assert len(main_items) == 2 and main_items[0].get("content") == "Main branch question"
    assert len(await branch.get_items()) == 2


# upstream: test_create_branch_from_content (the first matching user turn; an unmatched term is an error)
async def test_create_branch_from_content(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items(
        turns(
            ("First question about math", "Math answer"),
            ("Second question about science", "Science answer"),
            ("Another math question", "Another math answer"),
        )
    )
    branch = await session.create_branch_from_content("math")
    assert await branch.get_items() == []  # no messages before turn 1
    science = await session.create_branch_from_content("SCIENCE")  # LIKE matches ASCII case-insensitively
    assert [item["content"] for item in await science.get_items()] == ["First question about math", "Math answer"]
    with pytest.raises(ValueError, match="No user turns found containing 'nonexistent'"):
        await session.create_branch_from_content("nonexistent")
    assert len(await session.get_items()) == 6


# upstream: test_branch_error_handling (a turn without a user message); the switch/delete errors do not apply
@pytest.mark.parametrize("turn", [5, 0, -1])
async def test_a_turn_without_a_user_message_is_an_error(sessions_backend: Any, turn: int) -> None:
    empty = new_session(sessions_backend)
    with pytest.raises(ValueError, match=f"Turn {turn} does not contain a user message"):
        await empty.create_branch_from_turn(turn, "error_branch")
    session = new_session(sessions_backend)
    await session.add_items(THREE_TURNS[:4])
    before = await session.client.list_sessions()
    with pytest.raises(ValueError, match=f"Turn {turn} does not contain a user message"):
        await session.create_branch_from_turn(turn)
    assert (await session.client.list_sessions()).sessions == before.sessions  # nothing written


# upstream: test_create_branch_rejects_blank_name, test_create_branch_rejects_populated_branch_id
@pytest.mark.parametrize("branch_name", ["", "   ", "\t"])
async def test_a_blank_branch_name_is_refused(sessions_backend: Any, branch_name: str) -> None:
    session = new_session(sessions_backend)
    await session.add_items(THREE_TURNS[:3])
    with pytest.raises(ValueError, match="Branch name cannot be empty"):
        await session.create_branch_from_turn(2, branch_name)
    with pytest.raises(ValueError, match="Branch name cannot be empty"):
        await session.create_branch_from_content("Second question", branch_name)
    assert await session.get_items() == THREE_TURNS[:3]


async def test_a_used_branch_name_is_refused_and_nothing_is_appended_to_it(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items(THREE_TURNS)
    existing = ServiceSession(f"{session.session_id}-existing", session.client)
    await existing.add_items([{"role": "user", "content": "existing"}])
    for name in (existing.session_id, session.session_id):
        with pytest.raises(ValueError, match=f"Branch ID '{name}' has already been used"):
            await session.create_branch_from_turn(2, name)
    assert await existing.get_items() == [{"role": "user", "content": "existing"}]
    assert await session.get_items() == THREE_TURNS


async def test_fork_at_the_latest_item_and_of_a_session_never_written(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items(THREE_TURNS)
    copy = await session.fork(f"{session.session_id}-copy")
    assert await copy.get_items() == THREE_TURNS and copy.user_id == session.user_id
    assert copy.client is session.client and copy.session_settings == session.session_settings
    never = await new_session(sessions_backend).fork()
    assert await never.get_items() == []
    await never.add_items([{"role": "user", "content": "first"}])  # created on its first write, as any session
    assert await never.get_items() == [{"role": "user", "content": "first"}]


async def test_a_fork_of_a_compacted_session_reads_as_the_parent_did(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    await session.add_items(THREE_TURNS)
    summary = [{"role": "user", "content": "Summary question"}, {"role": "assistant", "content": "summary"}]
    assert await session._atomic_replace_items(summary)  # the compaction output becomes the history's base
    await session.add_items(turns(("After question", "After answer")))
    read = await session.get_items()
    assert read == [*summary, *turns(("After question", "After answer"))]
    stored = await session.client.get_session(session.session_id)
    assert stored.history_base_seq is not None
    whole = await session.fork()
    assert await whole.get_items() == read
    assert await whole.get_items(limit=3) == await session.get_items(limit=3)
    # turns count what get_items returns (from the base on): turn 2 is "After question"
    branch = await session.create_branch_from_turn(2)
    assert await branch.get_items() == summary
    assert (await session.client.get_session(branch.session_id)).history_base_seq == stored.history_base_seq


async def test_a_runner_continues_a_branch(sessions_backend: Any) -> None:
    session = new_session(sessions_backend)
    agent = Agent(
        name="a",
        model=ScriptedModel([[assistant_message("one")], [assistant_message("two")], [assistant_message("again")]]),
    )
    await Runner.run(agent, "first", session=session)
    await Runner.run(agent, "second", session=session)
    branch = await session.create_branch_from_turn(2)
    await Runner.run(agent, "second, differently", session=branch)
    branch_items = await branch.get_items()
    assert [item.get("content") for item in branch_items if item.get("role") == "user"] == [
        "first",
        "second, differently",
    ]
    assert [item.get("content") for item in await session.get_items() if item.get("role") == "user"] == [
        "first",
        "second",
    ]
