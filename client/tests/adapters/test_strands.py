"""The Strands Agents session repository, against the service in-process (moto) and over the dev server.

Each test names the upstream test it ports (strands-agents/sdk-python
`tests/strands/session/test_file_session_manager.py`, `test_repository_session_manager.py`,
`tests_integ/test_session.py`): the same calls and assertions, against `ServiceSessionRepository`.
Agent runs use a scripted model like upstream's `tests/fixtures/mocked_model_provider.py`: no
credentials, no network.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Any
from unittest.mock import Mock

import pytest
from inprocess import InProcessTransport
from strands import Agent
from strands.agent.conversation_manager.null_conversation_manager import NullConversationManager
from strands.models import Model
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.content import ContentBlock
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType

from sessions_client.adapters.strands import ServiceSessionRepository, agent_event_type


class ScriptedModel(Model):
    """Upstream's MockedModelProvider, trimmed: streams the given assistant messages in order.

    A dict with `redactedAssistantContent` plays a guardrail that intervenes (it redacts the user's
    last message with `redactedUserContent`).
    """

    def __init__(self, responses: Sequence[dict[str, Any]]) -> None:
        self.responses = list(responses)
        self.index = 0
        self.seen: list[list[dict[str, Any]]] = []

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> Any:
        return {}

    async def structured_output(self, output_model: Any, prompt: Any, system_prompt: Any = None, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def stream(
        self, messages: Any, tool_specs: Any = None, system_prompt: Any = None, **kwargs: Any
    ) -> AsyncGenerator[Any, None]:
        self.seen.append(json.loads(json.dumps(messages, default=str)))
        for event in self._events(self.responses[self.index]):
            yield event
        self.index += 1

    @staticmethod
    def _events(message: dict[str, Any]) -> Iterable[dict[str, Any]]:
        stop_reason = "end_turn"
        yield {"messageStart": {"role": "assistant"}}
        if message.get("redactedAssistantContent"):
            yield {"redactContent": {"redactUserContentMessage": message["redactedUserContent"]}}
            yield {"contentBlockStart": {"start": {}}}
            yield {"contentBlockDelta": {"delta": {"text": message["redactedAssistantContent"]}}}
            yield {"contentBlockStop": {}}
            stop_reason = "guardrail_intervened"
        else:
            for block in message["content"]:
                if "text" in block:
                    yield {"contentBlockStart": {"start": {}}}
                    yield {"contentBlockDelta": {"delta": {"text": block["text"]}}}
                    yield {"contentBlockStop": {}}
                if "toolUse" in block:
                    stop_reason = "tool_use"
                    tool_use = block["toolUse"]
                    yield {
                        "contentBlockStart": {
                            "start": {"toolUse": {"name": tool_use["name"], "toolUseId": tool_use["toolUseId"]}}
                        }
                    }
                    yield {"contentBlockDelta": {"delta": {"toolUse": {"input": json.dumps(tool_use["input"])}}}}
                    yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": stop_reason}}


def said(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"text": text}]}


@pytest.fixture
def repository(sessions_backend: Any) -> ServiceSessionRepository:
    return ServiceSessionRepository(sessions_backend.client())


@pytest.fixture
def sample_session() -> Session:
    return Session(session_id=f"strands-{uuid.uuid4().hex[:12]}", session_type=SessionType.AGENT)


@pytest.fixture
def sample_agent() -> SessionAgent:
    return SessionAgent(
        agent_id="test-agent", state={"key": "value"}, conversation_manager_state=NullConversationManager().get_state()
    )


@pytest.fixture
def sample_message() -> SessionMessage:
    return SessionMessage.from_message(message={"role": "user", "content": [ContentBlock(text="Hello world")]}, index=0)


def message(i: int, text: str | None = None) -> SessionMessage:
    return SessionMessage(
        message={"role": "user", "content": [ContentBlock(text=text or f"Message {i}")]}, message_id=i
    )


def texts(messages: list[SessionMessage]) -> list[str]:
    return [m.to_message()["content"][0]["text"] for m in messages]


# --- the repository, call by call (upstream: test_file_session_manager.py) ------------------------


# upstream: test_create_session, test_read_session
def test_create_and_read_session(repository: ServiceSessionRepository, sample_session: Session) -> None:
    assert repository.create_session(sample_session) is sample_session
    result = repository.read_session(sample_session.session_id)
    assert result is not None
    assert result.session_id == sample_session.session_id
    assert result.session_type == sample_session.session_type
    stored = repository.client.get_session(sample_session.session_id)
    assert stored.metadata["framework"] == "strands"
    with pytest.raises(SessionException, match="already exists"):
        repository.create_session(sample_session)


# FileSessionRepository/S3SessionRepository.read_session: Session.from_dict of the session.json that
# create_session wrote from session.to_dict(), so the Session read back equals the one created
@pytest.mark.parametrize(
    "timestamps",
    [{}, {"created_at": "2024-01-01T00:00:00+00:00", "updated_at": "2024-06-30T12:34:56.789012+00:00"}],
    ids=["strands_defaults", "given"],
)
def test_read_session_returns_the_session_as_created(
    repository: ServiceSessionRepository, timestamps: dict[str, str]
) -> None:
    created = Session(session_id=f"strands-{uuid.uuid4().hex[:12]}", session_type=SessionType.AGENT, **timestamps)
    repository.create_session(created)
    read = repository.read_session(created.session_id)
    assert read == created
    assert read is not None and read.to_dict() == created.to_dict()
    # writes to the session's agents and messages leave it as created (Strands never updates a Session)
    repository.create_agent(created.session_id, SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
    repository.create_message(created.session_id, "a", message(0))
    assert repository.read_session(created.session_id) == created


def test_the_session_manager_reads_back_the_session_it_created(repository: ServiceSessionRepository) -> None:
    session_id = f"strands-{uuid.uuid4().hex[:12]}"
    manager = RepositorySessionManager(session_id=session_id, session_repository=repository)
    assert repository.read_session(session_id) == manager.session


# upstream: test_read_nonexistent_session
def test_read_nonexistent_session(repository: ServiceSessionRepository) -> None:
    assert repository.read_session("nonexistent-session") is None


# upstream: test_delete_session, test_delete_nonexistent_session
def test_delete_session(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    repository.delete_session(sample_session.session_id)
    assert repository.read_session(sample_session.session_id) is None
    with pytest.raises(SessionException, match="does not exist"):
        repository.delete_session("nonexistent-session")


# upstream: test_create_agent, test_read_agent
def test_create_and_read_agent(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    result = repository.read_agent(sample_session.session_id, sample_agent.agent_id)
    assert result is not None
    assert result.agent_id == sample_agent.agent_id
    assert result.state == sample_agent.state
    assert result.conversation_manager_state == sample_agent.conversation_manager_state
    assert result.created_at == sample_agent.created_at


# upstream: test_read_nonexistent_agent
def test_read_nonexistent_agent(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    assert repository.read_agent(sample_session.session_id, "nonexistent_agent") is None
    assert repository.read_agent("nonexistent-session", "nonexistent_agent") is None


# upstream: test_update_agent, test_update_nonexistent_agent
def test_update_agent(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    with pytest.raises(SessionException):
        repository.update_agent(sample_session.session_id, sample_agent)
    repository.create_agent(sample_session.session_id, sample_agent)
    created_at = sample_agent.created_at
    sample_agent.state = {"updated": "value"}
    sample_agent.created_at = "overwritten"
    repository.update_agent(sample_session.session_id, sample_agent)
    result = repository.read_agent(sample_session.session_id, sample_agent.agent_id)
    assert result is not None
    assert result.state == {"updated": "value"}  # replaced whole: the old "key" is gone
    assert result.created_at == created_at


def test_agent_state_round_trips_exactly(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    state = {"none": None, "": "empty key", "big": 10**40, "tiny": 1e-200, "bytes": b"\x00\x01"}
    agent = SessionAgent(agent_id="odd", state=state, conversation_manager_state={})
    repository.create_agent(sample_session.session_id, agent)
    result = repository.read_agent(sample_session.session_id, "odd")
    assert result is not None
    assert result.state == state


# upstream: test_create_message, test_read_message
def test_create_and_read_message(
    repository: ServiceSessionRepository,
    sample_session: Session,
    sample_agent: SessionAgent,
    sample_message: SessionMessage,
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    repository.create_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    sample_message.message_id += 1
    repository.create_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    result = repository.read_message(sample_session.session_id, sample_agent.agent_id, sample_message.message_id)
    assert result is not None
    assert result.message_id == sample_message.message_id
    assert result.message["role"] == sample_message.message["role"]
    assert result.message["content"] == sample_message.message["content"]
    # message_id n is the event with seq n + 1, readable by any consumer of the history
    history = repository.client.get_history(sample_session.session_id)
    assert [(e.seq, e.type, e.role, e.content) for e in history.events] == [
        (1, "strands.test-agent", "user", "Hello world"),
        (2, "strands.test-agent", "user", "Hello world"),
    ]


# upstream: test_read_messages_with_new_agent, test_read_nonexistent_message
def test_read_nonexistent_message(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    assert repository.read_message(sample_session.session_id, sample_agent.agent_id, 999) is None
    assert repository.read_message("nonexistent-session", sample_agent.agent_id, 999) is None


# upstream: test_list_messages_all, test_list_messages_with_limit, test_list_messages_with_offset,
# test_list_messages_with_new_agent
def test_list_messages(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    assert repository.list_messages(sample_session.session_id, sample_agent.agent_id) == []
    for i in range(10):
        repository.create_message(sample_session.session_id, sample_agent.agent_id, message(i))
    sid, aid = sample_session.session_id, sample_agent.agent_id
    assert len(repository.list_messages(sid, aid)) == 10
    assert texts(repository.list_messages(sid, aid, limit=3)) == ["Message 0", "Message 1", "Message 2"]
    assert texts(repository.list_messages(sid, aid, offset=5)) == [f"Message {i}" for i in range(5, 10)]
    assert texts(repository.list_messages(sid, aid, limit=2, offset=7)) == ["Message 7", "Message 8"]
    assert [m.message_id for m in repository.list_messages(sid, aid)] == list(range(10))
    with pytest.raises(SessionException):
        repository.list_messages(sid, "never-created")


def test_list_messages_past_one_page(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    for i in range(105):
        repository.create_message(sample_session.session_id, sample_agent.agent_id, message(i))
    listed = repository.list_messages(sample_session.session_id, sample_agent.agent_id, offset=98)
    assert [m.message_id for m in listed] == list(range(98, 105))


def test_agents_of_one_session_keep_their_own_messages(
    repository: ServiceSessionRepository, sample_session: Session
) -> None:
    repository.create_session(sample_session)
    sid = sample_session.session_id
    for agent_id in ("alpha", "Beta Agent"):
        repository.create_agent(sid, SessionAgent(agent_id=agent_id, state={}, conversation_manager_state={}))
    for i in range(3):
        repository.create_message(sid, "alpha", message(i, f"alpha {i}"))
        repository.create_message(sid, "Beta Agent", message(i, f"beta {i}"))
    assert texts(repository.list_messages(sid, "alpha")) == ["alpha 0", "alpha 1", "alpha 2"]
    assert texts(repository.list_messages(sid, "Beta Agent", offset=1)) == ["beta 1", "beta 2"]
    fresh = ServiceSessionRepository(repository.client)  # no seqs remembered: found in the history
    read = fresh.read_message(sid, "Beta Agent", 2)
    assert read is not None
    assert texts([read]) == ["beta 2"]
    assert agent_event_type("Beta Agent").startswith("strands.h.")
    assert len(agent_event_type("Beta Agent")) == 32


# upstream: test_update_message, test_update_nonexistent_message
def test_update_message(
    repository: ServiceSessionRepository,
    sample_session: Session,
    sample_agent: SessionAgent,
    sample_message: SessionMessage,
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    with pytest.raises(SessionException):
        repository.update_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    repository.create_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    sample_message.message["content"] = [ContentBlock(text="Updated content")]
    repository.update_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    result = repository.read_message(sample_session.session_id, sample_agent.agent_id, sample_message.message_id)
    assert result is not None
    assert result.message["content"][0]["text"] == "Updated content"
    fresh = ServiceSessionRepository(repository.client)
    again = fresh.read_message(sample_session.session_id, sample_agent.agent_id, sample_message.message_id)
    assert again is not None
    assert again.message == result.message


def test_redaction_replaces_what_readers_see(
    repository: ServiceSessionRepository,
    sample_session: Session,
    sample_agent: SessionAgent,
    sample_message: SessionMessage,
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    repository.create_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    sample_message.redact_message = {"role": "user", "content": [ContentBlock(text="[REDACTED]")]}
    repository.update_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    result = repository.read_message(sample_session.session_id, sample_agent.agent_id, 0)
    assert result is not None
    assert result.to_message() == sample_message.redact_message
    assert result.message == sample_message.message  # the original is kept, as Strands keeps it
    event = repository.client.get_history(sample_session.session_id).events[0]
    assert event.content == "[REDACTED]"


# upstream: test_create_multi_agent, test_read_multi_agent, test_read_nonexistent_multi_agent,
# test_update_multi_agent, test_update_nonexistent_multi_agent
def test_multi_agent_state(repository: ServiceSessionRepository, sample_session: Session) -> None:
    multi_agent = Mock()
    multi_agent.id = "test-multi-agent"
    multi_agent.serialize_state.return_value = {"id": "test-multi-agent", "state": {"key": "value"}}
    repository.create_session(sample_session)
    sid = sample_session.session_id
    assert repository.read_multi_agent(sid, "test-multi-agent") is None
    with pytest.raises(SessionException):
        repository.update_multi_agent(sid, multi_agent)
    repository.create_multi_agent(sid, multi_agent)
    assert repository.read_multi_agent(sid, "test-multi-agent") == {"id": "test-multi-agent", "state": {"key": "value"}}
    multi_agent.serialize_state.return_value = {"id": "test-multi-agent", "state": {"updated": "value"}}
    repository.update_multi_agent(sid, multi_agent)
    assert repository.read_multi_agent(sid, "test-multi-agent") == {
        "id": "test-multi-agent",
        "state": {"updated": "value"},
    }


# --- the session manager and agents (upstream: test_repository_session_manager.py, tests_integ) ---


# upstream: test_repository_session_manager.py::test_init_creates_session_if_not_exists,
# ::test_init_uses_existing_session
def test_session_manager_creates_then_reuses_the_session(repository: ServiceSessionRepository) -> None:
    session_id = f"strands-{uuid.uuid4().hex[:12]}"
    manager = RepositorySessionManager(session_id=session_id, session_repository=repository)
    assert manager._is_new_session
    assert repository.read_session(session_id) is not None
    again = RepositorySessionManager(session_id=session_id, session_repository=repository)
    assert not again._is_new_session


# upstream: tests_integ/test_session.py (an agent remembers across instances), test_repository_session_manager.py::
# test_initialize_restores_existing_agent
def test_agent_remembers_across_instances(sessions_backend: Any) -> None:
    session_id = f"strands-{uuid.uuid4().hex[:12]}"
    first = Agent(
        agent_id="assistant",
        model=ScriptedModel([said("Nice to meet you, Ada"), said("I will")]),
        session_manager=RepositorySessionManager(
            session_id=session_id, session_repository=ServiceSessionRepository(sessions_backend.client())
        ),
        callback_handler=None,
    )
    first("My name is Ada")
    first.state.set("favourite_colour", "green")
    first("Remember that")  # the state is synced after the invocation
    assert len(first.messages) == 4

    model = ScriptedModel([said("Your name is Ada")])
    second = Agent(
        agent_id="assistant",
        model=model,
        session_manager=RepositorySessionManager(
            session_id=session_id, session_repository=ServiceSessionRepository(sessions_backend.client())
        ),
        callback_handler=None,
    )
    assert len(second.messages) == 4  # restored from the service
    assert second.state.get("favourite_colour") == "green"
    result = second("What is my name?")
    assert str(result).strip() == "Your name is Ada"
    sent = model.seen[-1]
    assert sent[0]["content"][0]["text"] == "My name is Ada"
    assert sent[-1]["content"][0]["text"] == "What is my name?"
    assert len(second.messages) == 6


def test_guardrail_redaction_through_the_agent(sessions_backend: Any) -> None:
    session_id = f"strands-{uuid.uuid4().hex[:12]}"
    repository = ServiceSessionRepository(sessions_backend.client())
    agent = Agent(
        agent_id="guarded",
        model=ScriptedModel(
            [{"redactedUserContent": "[User input redacted.]", "redactedAssistantContent": "I can't help with that."}]
        ),
        session_manager=RepositorySessionManager(session_id=session_id, session_repository=repository),
        callback_handler=None,
    )
    agent("my password is hunter2")
    stored = repository.list_messages(session_id, "guarded")
    assert stored[0].to_message()["content"][0]["text"] == "[User input redacted.]"
    history = repository.client.get_history(session_id)
    assert all("hunter2" not in (event.content or "") for event in history.events)

    restored = Agent(
        agent_id="guarded",
        model=ScriptedModel([]),
        session_manager=RepositorySessionManager(
            session_id=session_id, session_repository=ServiceSessionRepository(sessions_backend.client())
        ),
        callback_handler=None,
    )
    assert restored.messages[0]["content"][0]["text"] == "[User input redacted.]"


def test_tool_use_is_stored_and_restored(sessions_backend: Any) -> None:
    from strands import tool

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    session_id = f"strands-{uuid.uuid4().hex[:12]}"
    agent = Agent(
        agent_id="calc",
        model=ScriptedModel(
            [
                {
                    "role": "assistant",
                    "content": [{"toolUse": {"toolUseId": "t1", "name": "add", "input": {"a": 2, "b": 2}}}],
                },
                said("2 + 2 = 4"),
            ]
        ),
        tools=[add],
        session_manager=RepositorySessionManager(
            session_id=session_id, session_repository=ServiceSessionRepository(sessions_backend.client())
        ),
        callback_handler=None,
    )
    agent("What is 2+2?")
    restored = Agent(
        agent_id="calc",
        model=ScriptedModel([]),
        tools=[add],
        session_manager=RepositorySessionManager(
            session_id=session_id, session_repository=ServiceSessionRepository(sessions_backend.client())
        ),
        callback_handler=None,
    )
    assert restored.messages == agent.messages
    assert any("toolUse" in block for block in restored.messages[1]["content"])
    assert any("toolResult" in block for block in restored.messages[2]["content"])


def test_a_service_acts_for_a_user(sessions_backend: Any) -> None:
    service = sessions_backend.client(identity=sessions_backend.identity(user="svc-bot", roles=("service",)))
    repository = ServiceSessionRepository(service, user_id="u-ada")
    session_id = f"strands-{uuid.uuid4().hex[:12]}"
    agent = Agent(
        agent_id="assistant",
        model=ScriptedModel([said("Hello Ada")]),
        session_manager=RepositorySessionManager(session_id=session_id, session_repository=repository),
        callback_handler=None,
    )
    agent("Hi, I am Ada")
    ada = sessions_backend.client(identity=sessions_backend.identity(user="u-ada"))
    assert ada.get_session(session_id).user_id == "u-ada"
    assert texts(ServiceSessionRepository(ada).list_messages(session_id, "assistant")) == ["Hi, I am Ada", "Hello Ada"]


# upstream: test_repository_session_manager.py::
# test_initialize_restores_existing_agent_with_summarizing_conversation_manager
# (here the sliding window: the restored agent lists the messages from the window's offset)
def test_conversation_manager_offset_is_restored(sessions_backend: Any) -> None:
    from strands.agent.conversation_manager import SlidingWindowConversationManager

    session_id = f"strands-{uuid.uuid4().hex[:12]}"

    def agent(model: ScriptedModel) -> Agent:
        return Agent(
            agent_id="windowed",
            model=model,
            conversation_manager=SlidingWindowConversationManager(window_size=4),
            session_manager=RepositorySessionManager(
                session_id=session_id, session_repository=ServiceSessionRepository(sessions_backend.client())
            ),
            callback_handler=None,
        )

    first = agent(ScriptedModel([said(f"answer {i}") for i in range(3)]))
    for i in range(3):
        first(f"question {i}")
    assert len(first.messages) == 4
    assert first.conversation_manager.removed_message_count == 2
    restored = agent(ScriptedModel([]))
    assert restored.messages == first.messages


def test_from_url_owns_its_client(sessions_backend: Any, sample_session: Session) -> None:
    options: dict[str, Any] = {"identity": sessions_backend.identity()}
    if sessions_backend.api is not None:
        options["transport"] = InProcessTransport(sessions_backend.api)
    repository = ServiceSessionRepository.from_url(sessions_backend.base_url, **options)
    repository.create_session(sample_session)
    assert repository.read_session(sample_session.session_id) is not None
    repository.close()
    assert repository.client._http.is_closed


def test_a_message_too_large_to_inline_in_a_response(sessions_backend: Any) -> None:
    """As in the OpenAI adapter's test: a presigned `payload_url`, fetched by the client."""
    client = sessions_backend.client(timeout=120)
    repository = ServiceSessionRepository(client)
    session = Session(session_id=f"strands-{uuid.uuid4().hex[:12]}", session_type=SessionType.AGENT)
    repository.create_session(session)
    repository.create_agent(session.session_id, SessionAgent(agent_id="a", state={}, conversation_manager_state={}))
    huge = message(0, '"' * 2_500_000)
    repository.create_message(session.session_id, "a", huge)
    assert client.get_event(session.session_id, 1, inline_parts=False).payload_url
    fresh = ServiceSessionRepository(client)
    assert texts(fresh.list_messages(session.session_id, "a")) == [huge.message["content"][0]["text"]]
    read = fresh.read_message(session.session_id, "a", 0)
    assert read is not None
    assert read.message == huge.message
