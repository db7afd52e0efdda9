"""The Strands Agents session repository, against the service in-process (moto) and over the dev server.

Each test names the upstream test it ports, from strands-agents 1.62.0 (the sdist ships its tests):
`tests/strands/session/test_file_session_manager.py`, `test_s3_session_manager.py`,
`test_repository_session_manager.py` (there over its MockedSessionRepository, here over
`ServiceSessionRepository`), `tests_integ/test_session.py`, `tests_integ/interrupts/test_session.py`,
`tests_integ/interrupts/multiagent/test_session.py`, `tests_integ/test_invalid_tool_names.py`: the same
calls and assertions. Where upstream reads its storage (session.json, agent.json, message_<id>.json),
the port reads what the repository stored in the service. Agent runs use a scripted model like
upstream's `tests/fixtures/mocked_model_provider.py`: no credentials, no network.

Not ported, as nothing here corresponds: `test_s3_session_manager.py::test_init_s3_session_manager*`
(the boto3 client's user agent and endpoint) and `::test__get_session_path_prefix_normalization` (S3
key prefixes); `test_file_session_manager_symlink_protection.py` (symlinks in the storage directory);
`test_snapshot_session_manager.py` and the snapshot integration tests (SnapshotSessionManager stores
through the `Storage` protocol, not a `SessionRepository`); `tests/strands/types/test_session.py` (the
record types' own serialization).
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncGenerator, Iterable, Sequence
from typing import Any, ClassVar
from unittest.mock import Mock

import pytest
from inprocess import CountingTransport, InProcessTransport
from strands import Agent
from strands.agent.conversation_manager.null_conversation_manager import NullConversationManager
from strands.agent.conversation_manager.sliding_window_conversation_manager import SlidingWindowConversationManager
from strands.agent.conversation_manager.summarizing_conversation_manager import SummarizingConversationManager
from strands.agent.state import AgentState
from strands.bidi.agent import BidiAgent
from strands.hooks import AfterInvocationEvent
from strands.interrupt import _InterruptState
from strands.models import Model
from strands.session.repository_session_manager import RepositorySessionManager
from strands.types.content import ContentBlock
from strands.types.exceptions import SessionException
from strands.types.session import Session, SessionAgent, SessionMessage, SessionType
from strands.types.tools import ToolContext

from sessions_client import DevIdentity, SessionsClient, errors
from sessions_client.adapters import strands as strands_adapter
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
def offline_repository() -> ServiceSessionRepository:
    """A repository whose client can reach nothing: what it refuses, it refuses before any request."""
    return ServiceSessionRepository(SessionsClient("http://sessions.invalid", identity=DevIdentity("u-1", "t-1", ())))


# upstream's fixtures (each test has a tenant of its own, so upstream's fixed ids are kept)
@pytest.fixture
def sample_session() -> Session:
    return Session(session_id="test-session", session_type=SessionType.AGENT)


@pytest.fixture
def sample_agent() -> SessionAgent:
    return SessionAgent(
        agent_id="test-agent", state={"key": "value"}, conversation_manager_state=NullConversationManager().get_state()
    )


@pytest.fixture
def sample_message() -> SessionMessage:
    return SessionMessage.from_message(message={"role": "user", "content": [ContentBlock(text="Hello world")]}, index=0)


@pytest.fixture
def mock_multi_agent() -> Mock:
    mock = Mock()
    mock.id = "test-multi-agent"
    mock.state = {"key": "value"}
    mock.serialize_state.return_value = {"id": "test-multi-agent", "state": {"key": "value"}}
    return mock


def message(i: int, text: str | None = None) -> SessionMessage:
    return SessionMessage(
        message={"role": "user", "content": [ContentBlock(text=text or f"Message {i}")]}, message_id=i
    )


def texts(messages: list[SessionMessage]) -> list[str]:
    return [m.to_message()["content"][0]["text"] for m in messages]


def stored_record(repository: ServiceSessionRepository, session_id: str, kind: str, record_id: str) -> Any:
    """What the repository wrote for an agent or multi-agent (upstream reads agent.json / multi_agent.json)."""
    return json.loads(repository.client.get_session(session_id).context["strands"][kind][record_id])


def stored_message_payloads(repository: ServiceSessionRepository, session_id: str) -> list[dict[str, Any]]:
    """The payloads of the session's events (upstream reads message_<id>.json)."""
    history = repository.client.get_history(session_id, include_payload=True, limit=100)
    return [event.payload or {} for event in history.events]


# --- the repository, call by call: upstream tests/strands/session/test_file_session_manager.py and
# --- test_s3_session_manager.py (same names; where both have a test, its assertions are united here)


# upstream: test_create_session (file; s3: also `result == sample_session`)
def test_create_session(repository: ServiceSessionRepository, sample_session: Session) -> None:
    result = repository.create_session(sample_session)
    assert result == sample_session
    # the stored session (upstream: session_<id>/session.json exists and holds the session)
    stored = repository.client.get_session(sample_session.session_id)
    assert stored.session_id == sample_session.session_id
    assert stored.context["strands"]["session_type"] == sample_session.session_type
    assert stored.metadata["framework"] == "strands"


# upstream: test_create_session_already_exists (s3)
def test_create_session_already_exists(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    with pytest.raises(SessionException):
        repository.create_session(sample_session)


def test_create_session_an_id_another_user_holds(sessions_backend: Any, sample_session: Session) -> None:
    """To Strands a session another user of the tenant holds exists (the service: 409 session_id_taken)."""
    other = sessions_backend.client(identity=sessions_backend.identity(user="u-other"))
    other.create_session(session_id=sample_session.session_id)
    repository = ServiceSessionRepository(sessions_backend.client())
    assert repository.read_session(sample_session.session_id) is None  # not this user's
    with pytest.raises(SessionException, match="already exists"):
        repository.create_session(sample_session)
    with pytest.raises(SessionException, match="already exists"):
        RepositorySessionManager(session_id=sample_session.session_id, session_repository=repository)


# upstream: test_read_session (file, s3)
def test_read_session(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    result = repository.read_session(sample_session.session_id)
    assert result is not None
    assert result.session_id == sample_session.session_id
    assert result.session_type == sample_session.session_type


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


# upstream: test_read_nonexistent_session (file, s3)
def test_read_nonexistent_session(repository: ServiceSessionRepository) -> None:
    result = repository.read_session("nonexistent-session")
    assert result is None


# upstream: test_delete_session (file; s3: the session object is then a 404)
def test_delete_session(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    assert repository.client.get_session(sample_session.session_id) is not None
    repository.delete_session(sample_session.session_id)
    with pytest.raises(errors.SessionNotFound):
        repository.client.get_session(sample_session.session_id)
    assert repository.read_session(sample_session.session_id) is None


# upstream: test_delete_nonexistent_session (file)
def test_delete_nonexistent_session(repository: ServiceSessionRepository) -> None:
    with pytest.raises(SessionException, match="does not exist"):
        repository.delete_session("nonexistent-session")


# upstream: test_create_agent (file, s3)
def test_create_agent(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    data = stored_record(repository, sample_session.session_id, "agents", sample_agent.agent_id)
    assert data["agent_id"] == sample_agent.agent_id
    assert data["state"] == sample_agent.state


# upstream: test_read_agent (file, s3)
def test_read_agent(repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    result = repository.read_agent(sample_session.session_id, sample_agent.agent_id)
    assert result is not None
    assert result.agent_id == sample_agent.agent_id
    assert result.state == sample_agent.state
    assert result.conversation_manager_state == sample_agent.conversation_manager_state
    assert result.created_at == sample_agent.created_at


# upstream: test_read_nonexistent_agent (file: no session; s3: the session exists)
def test_read_nonexistent_agent(repository: ServiceSessionRepository, sample_session: Session) -> None:
    result = repository.read_agent(sample_session.session_id, "nonexistent_agent")
    assert result is None
    repository.create_session(sample_session)
    result = repository.read_agent(sample_session.session_id, "nonexistent_agent")
    assert result is None


# upstream: test_update_agent (file, s3)
def test_update_agent(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    created_at = sample_agent.created_at
    sample_agent.state = {"updated": "value"}
    sample_agent.created_at = "overwritten"
    repository.update_agent(sample_session.session_id, sample_agent)
    result = repository.read_agent(sample_session.session_id, sample_agent.agent_id)
    assert result is not None
    assert result.state == {"updated": "value"}  # replaced whole: the old "key" is gone
    assert result.created_at == created_at  # as FileSessionManager.update_agent keeps it


# upstream: test_update_nonexistent_agent (file, s3)
def test_update_nonexistent_agent(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    with pytest.raises(SessionException):
        repository.update_agent(sample_session.session_id, sample_agent)


def test_agent_state_round_trips_exactly(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    state = {"none": None, "": "empty key", "big": 10**40, "tiny": 1e-200, "bytes": b"\x00\x01"}
    agent = SessionAgent(agent_id="odd", state=state, conversation_manager_state={})
    repository.create_agent(sample_session.session_id, agent)
    result = repository.read_agent(sample_session.session_id, "odd")
    assert result is not None
    assert result.state == state


# upstream: test_create_message (file, s3)
def test_create_message(
    repository: ServiceSessionRepository,
    sample_session: Session,
    sample_agent: SessionAgent,
    sample_message: SessionMessage,
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    repository.create_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    (data,) = stored_message_payloads(repository, sample_session.session_id)
    assert data["message_id"] == sample_message.message_id


def test_create_message_with_an_existing_id_overwrites_it(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    """FileSessionManager/S3SessionManager.create_message write message_<id>.json: a second create replaces it."""
    sid, aid = sample_session.session_id, sample_agent.agent_id
    repository.create_session(sample_session)
    repository.create_agent(sid, sample_agent)
    for i in range(3):
        repository.create_message(sid, aid, message(i))
    replacement = SessionMessage(
        message={"role": "assistant", "content": [ContentBlock(text="replaced")]},
        message_id=1,
        created_at="2020-01-01T00:00:00+00:00",
        updated_at="2020-01-02T00:00:00+00:00",
    )
    repository.create_message(sid, aid, replacement)
    assert repository.read_message(sid, aid, 1) == replacement
    # what other readers of the history see follows, but for the role, which an event cannot change
    event = repository.client.get_event(sid, 2)
    assert (event.content, event.role) == ("replaced", "user")
    assert texts(repository.list_messages(sid, aid)) == ["Message 0", "replaced", "Message 2"]
    assert len(repository.client.get_history(sid).events) == 3  # no second event
    # a repository that remembers nothing (another process) overwrites it too
    fresh = ServiceSessionRepository(repository.client)
    fresh.create_message(sid, aid, message(1, "again"))
    assert texts(fresh.list_messages(sid, aid)) == ["Message 0", "again", "Message 2"]
    assert [m.message_id for m in fresh.list_messages(sid, aid)] == [0, 1, 2]
    assert len(repository.client.get_history(sid).events) == 3


# upstream: test_message_durable_id_persists (file)
def test_message_durable_id_persists(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    durable = SessionMessage.from_message(
        message={"role": "user", "content": [ContentBlock(text="Hello")], "tracking_id": "durable-1"},
        index=0,
    )
    repository.create_message(sample_session.session_id, sample_agent.agent_id, durable)
    (data,) = stored_message_payloads(repository, sample_session.session_id)
    assert data["message"]["tracking_id"] == "durable-1"
    result = repository.read_message(sample_session.session_id, sample_agent.agent_id, durable.message_id)
    assert result is not None
    assert result.to_message()["tracking_id"] == "durable-1"


# upstream: test_read_message (file, s3)
def test_read_message(
    repository: ServiceSessionRepository,
    sample_session: Session,
    sample_agent: SessionAgent,
    sample_message: SessionMessage,
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    repository.create_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    sample_message.message_id += 1  # several messages when reading
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


# upstream: test_read_messages_with_new_agent (file)
def test_read_messages_with_new_agent(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    result = repository.read_message(sample_session.session_id, sample_agent.agent_id, 999)
    assert result is None


# upstream: test_read_nonexistent_message (file: no session; s3: session and agent exist)
def test_read_nonexistent_message(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    result = repository.read_message(sample_session.session_id, sample_agent.agent_id, 999)
    assert result is None
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    result = repository.read_message(sample_session.session_id, sample_agent.agent_id, 999)
    assert result is None


def create_messages(repository: ServiceSessionRepository, session: Session, agent: SessionAgent, n: int) -> None:
    repository.create_session(session)
    repository.create_agent(session.session_id, agent)
    for i in range(n):
        repository.create_message(session.session_id, agent.agent_id, message(i))


# upstream: test_list_messages_all (file, s3)
def test_list_messages_all(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    create_messages(repository, sample_session, sample_agent, 5)
    result = repository.list_messages(sample_session.session_id, sample_agent.agent_id)
    assert len(result) == 5
    assert [m.message_id for m in result] == [0, 1, 2, 3, 4]


# upstream: test_list_messages_single_message (s3)
def test_list_messages_single_message(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    single = SessionMessage({"role": "user", "content": [ContentBlock(text="Single Message")]}, 0)
    repository.create_message(sample_session.session_id, sample_agent.agent_id, single)
    result = repository.list_messages(sample_session.session_id, sample_agent.agent_id)
    assert len(result) == 1


# upstream: test_list_messages_with_limit (file)
def test_list_messages_with_limit(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    create_messages(repository, sample_session, sample_agent, 10)
    result = repository.list_messages(sample_session.session_id, sample_agent.agent_id, limit=3)
    assert len(result) == 3
    assert texts(result) == ["Message 0", "Message 1", "Message 2"]


# upstream: test_list_messages_with_offset (file)
def test_list_messages_with_offset(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    create_messages(repository, sample_session, sample_agent, 10)
    result = repository.list_messages(sample_session.session_id, sample_agent.agent_id, offset=5)
    assert len(result) == 5
    assert texts(result) == [f"Message {i}" for i in range(5, 10)]


# upstream: test_list_messages_with_pagination (s3)
def test_list_messages_with_pagination(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    create_messages(repository, sample_session, sample_agent, 10)
    sid, aid = sample_session.session_id, sample_agent.agent_id
    assert len(repository.list_messages(sid, aid, limit=3)) == 3
    assert len(repository.list_messages(sid, aid, offset=5)) == 5
    # every window a slice of the file repository's sorted list would give
    every = texts(repository.list_messages(sid, aid))
    for offset, limit in [
        (0, 0),
        (2, 3),
        (8, 1),
        (8, 5),
        (9, None),
        (10, None),
        (12, None),
        (12, 2),
        (-3, None),
        (7, -1),
    ]:
        window = every[offset : offset + limit] if limit is not None else every[offset:]
        assert texts(repository.list_messages(sid, aid, limit=limit, offset=offset)) == window, (offset, limit)


# upstream: test_list_messages_with_new_agent (file), test_list_no_messages (s3)
def test_list_messages_with_new_agent(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    result = repository.list_messages(sample_session.session_id, sample_agent.agent_id)
    assert len(result) == 0


def test_list_messages_of_an_agent_never_created(repository: ServiceSessionRepository, sample_session: Session) -> None:
    """FileSessionManager: "Messages directory missing from agent" (a SessionException)."""
    repository.create_session(sample_session)
    with pytest.raises(SessionException):
        repository.list_messages(sample_session.session_id, "never-created")


def test_list_messages_sorts_by_message_id(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    """As the file and S3 repositories sort message_<id>.json by id, whatever the order of creation."""
    sid, aid = sample_session.session_id, sample_agent.agent_id
    repository.create_session(sample_session)
    repository.create_agent(sid, sample_agent)
    for i in (0, 3, 1, 2):
        repository.create_message(sid, aid, message(i))
    assert [m.message_id for m in repository.list_messages(sid, aid)] == [0, 1, 2, 3]
    assert [m.message_id for m in repository.list_messages(sid, aid, offset=2)] == [2, 3]
    assert [m.message_id for m in repository.list_messages(sid, aid, limit=2, offset=1)] == [1, 2]
    fresh = ServiceSessionRepository(repository.client)
    assert [m.message_id for m in fresh.list_messages(sid, aid, offset=3)] == [3]


def test_list_messages_with_offset_reads_only_the_messages_it_returns(
    sessions_backend: Any, sample_session: Session, sample_agent: SessionAgent
) -> None:
    """A restore after a conversation manager removed most messages reads the few kept ones, newest first."""
    counting = CountingTransport(sessions_backend.transport())
    repository = ServiceSessionRepository(sessions_backend.client(transport=counting))
    create_messages(repository, sample_session, sample_agent, 12)
    counting.requests.clear()
    listed = repository.list_messages(sample_session.session_id, sample_agent.agent_id, offset=10)
    assert [m.message_id for m in listed] == [10, 11]
    history_reads = [r for r in counting.requests if r.url.path.endswith("/history")]
    assert len(history_reads) == 1
    assert history_reads[0].url.params["order"] == "desc"
    assert int(history_reads[0].url.params["limit"]) <= 3
    # a history rewound behind the repository's back: read from the oldest, still right
    repository.client.delete_events(sample_session.session_id, from_seq=12)
    listed = repository.list_messages(sample_session.session_id, sample_agent.agent_id, offset=10)
    assert [m.message_id for m in listed] == [10]


def test_messages_written_before_the_bookkeeping(
    sessions_backend: Any, sample_session: Session, sample_agent: SessionAgent
) -> None:
    """A history without `context.strands.messages` (an earlier version of the repository): listed whole, sorted,
    and counted by that listing, so the next message appends without another read of the history."""
    repository = ServiceSessionRepository(sessions_backend.client())
    create_messages(repository, sample_session, sample_agent, 4)
    repository.client.update_session(sample_session.session_id, {"context": {"strands": {"messages": None}}})
    counting = CountingTransport(sessions_backend.transport())
    fresh = ServiceSessionRepository(sessions_backend.client(transport=counting))
    sid, aid = sample_session.session_id, sample_agent.agent_id
    assert [m.message_id for m in fresh.list_messages(sid, aid, offset=2)] == [2, 3]
    fresh.create_message(sid, aid, message(4))
    fresh.create_message(sid, aid, message(2, "replaced"))
    assert [r.url.path.endswith("/history") for r in counting.requests].count(True) == 1
    assert texts(fresh.list_messages(sid, aid)) == ["Message 0", "Message 1", "replaced", "Message 3", "Message 4"]
    stored = fresh.client.get_session(sid).context["strands"]["messages"][aid]
    assert stored == {"count": 5, "last": 4, "ordered": True}


def test_list_messages_past_one_page(
    repository: ServiceSessionRepository,
    sample_session: Session,
    sample_agent: SessionAgent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(strands_adapter, "PAGE_SIZE", 4)
    create_messages(repository, sample_session, sample_agent, 11)
    sid, aid = sample_session.session_id, sample_agent.agent_id
    assert [m.message_id for m in repository.list_messages(sid, aid, offset=2)] == list(range(2, 11))
    assert [m.message_id for m in repository.list_messages(sid, aid, offset=9)] == [9, 10]
    assert [m.message_id for m in repository.list_messages(sid, aid)] == list(range(11))
    assert [m.message_id for m in repository.list_messages(sid, aid, limit=6, offset=1)] == list(range(1, 7))


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
    assert texts(repository.list_messages(sid, "Beta Agent", offset=2)) == ["beta 2"]
    fresh = ServiceSessionRepository(repository.client)  # no seqs remembered: found in the history
    read = fresh.read_message(sid, "Beta Agent", 2)
    assert read is not None
    assert texts([read]) == ["beta 2"]
    assert agent_event_type("Beta Agent").startswith("strands.h.")
    assert len(agent_event_type("Beta Agent")) == 32


# upstream: test_update_message (file, s3)
def test_update_message(
    repository: ServiceSessionRepository,
    sample_session: Session,
    sample_agent: SessionAgent,
    sample_message: SessionMessage,
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    repository.create_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    sample_message.message["content"] = [ContentBlock(text="Updated content")]
    repository.update_message(sample_session.session_id, sample_agent.agent_id, sample_message)
    result = repository.read_message(sample_session.session_id, sample_agent.agent_id, sample_message.message_id)
    assert result is not None
    assert result.message["content"][0]["text"] == "Updated content"
    assert result == sample_message  # as given; created_at kept (FileSessionManager.update_message)
    fresh = ServiceSessionRepository(repository.client)
    again = fresh.read_message(sample_session.session_id, sample_agent.agent_id, sample_message.message_id)
    assert again == result


# upstream: test_update_nonexistent_message (file, s3)
def test_update_nonexistent_message(
    repository: ServiceSessionRepository,
    sample_session: Session,
    sample_agent: SessionAgent,
    sample_message: SessionMessage,
) -> None:
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    with pytest.raises(SessionException):
        repository.update_message(sample_session.session_id, sample_agent.agent_id, sample_message)


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


# upstream: test_corrupted_json_file (file: a session.json that is not JSON is "Invalid JSON", a SessionException);
# here the records the repository keeps as JSON text in the session's context, spoiled by another writer
def test_corrupted_json_file(
    repository: ServiceSessionRepository, sample_session: Session, mock_multi_agent: Mock
) -> None:
    repository.create_session(sample_session)
    corrupt = {"agents": {"test-agent": "invalid json content"}, "multi_agents": {"test-multi-agent": "[1, 2"}}
    repository.client.update_session(sample_session.session_id, {"context": {"strands": corrupt}})
    with pytest.raises(SessionException, match="Invalid JSON"):
        repository.read_agent(sample_session.session_id, "test-agent")
    with pytest.raises(SessionException, match="Invalid JSON"):
        repository.read_multi_agent(sample_session.session_id, "test-multi-agent")


def test_corrupted_message_payload(
    repository: ServiceSessionRepository, sample_session: Session, sample_agent: SessionAgent
) -> None:
    """test_corrupted_json_file for messages: an event of the agent's type whose message is not JSON
    (FileSessionManager: a message_<id>.json that is not JSON) is "Invalid JSON", a SessionException."""
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    repository.client.append_event(
        sample_session.session_id,
        {
            "type": agent_event_type(sample_agent.agent_id),
            "payload": {"agent_id": sample_agent.agent_id, "message_id": 0, "message_json": "{not json"},
        },
    )
    with pytest.raises(SessionException, match="Invalid JSON"):
        repository.read_message(sample_session.session_id, sample_agent.agent_id, 0)
    with pytest.raises(SessionException, match="Invalid JSON"):
        repository.list_messages(sample_session.session_id, sample_agent.agent_id)


# upstream: test_permission_error_handling (file: a write the storage refuses is a SessionException);
# here the service refuses: an ordinary user may not act for another user
def test_permission_error_handling(sessions_backend: Any) -> None:
    repository = ServiceSessionRepository(sessions_backend.client(), user_id="u-someone-else")
    session = Session(session_id="test", session_type=SessionType.AGENT)
    with pytest.raises(SessionException) as raised:
        repository.create_session(session)
    assert isinstance(raised.value.__cause__, errors.SessionsError)


# upstream: test__get_session_path_invalid_session_id (file, s3): every call taking a session id
@pytest.mark.parametrize("session_id", ["a/../b", "a/b"])
def test__get_session_path_invalid_session_id(
    session_id: str, offline_repository: ServiceSessionRepository, sample_agent: SessionAgent, mock_multi_agent: Mock
) -> None:
    repository = offline_repository
    calls = [
        lambda: repository.create_session(Session(session_id=session_id, session_type=SessionType.AGENT)),
        lambda: repository.read_session(session_id),
        lambda: repository.delete_session(session_id),
        lambda: repository.create_agent(session_id, sample_agent),
        lambda: repository.read_agent(session_id, "agent1"),
        lambda: repository.update_agent(session_id, sample_agent),
        lambda: repository.create_message(session_id, "agent1", message(0)),
        lambda: repository.read_message(session_id, "agent1", 0),
        lambda: repository.update_message(session_id, "agent1", message(0)),
        lambda: repository.list_messages(session_id, "agent1"),
        lambda: repository.create_multi_agent(session_id, mock_multi_agent),
        lambda: repository.read_multi_agent(session_id, "multi1"),
        lambda: repository.update_multi_agent(session_id, mock_multi_agent),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=f"session_id={session_id} | id cannot contain path separators"):
            call()


def test_a_session_id_the_service_cannot_hold(offline_repository: ServiceSessionRepository) -> None:
    """FileSessionManager takes any id without a path separator; the service's ids are `[A-Za-z0-9._:-]`."""
    repository = offline_repository
    with pytest.raises(ValueError, match="session_id=my session"):
        repository.create_session(Session(session_id="my session", session_type=SessionType.AGENT))
    with pytest.raises(ValueError, match="session_id=my session"):
        RepositorySessionManager(session_id="my session", session_repository=repository)


# upstream: test__get_agent_path_invalid_agent_id (file, s3): every call taking an agent id
@pytest.mark.parametrize("agent_id", ["a/../b", "a/b"])
def test__get_agent_path_invalid_agent_id(agent_id: str, offline_repository: ServiceSessionRepository) -> None:
    repository = offline_repository
    agent = SessionAgent(agent_id=agent_id, state={}, conversation_manager_state={})
    multi_agent = Mock(id=agent_id)
    calls = [
        lambda: repository.create_agent("session1", agent),
        lambda: repository.read_agent("session1", agent_id),
        lambda: repository.update_agent("session1", agent),
        lambda: repository.create_message("session1", agent_id, message(0)),
        lambda: repository.read_message("session1", agent_id, 0),
        lambda: repository.update_message("session1", agent_id, message(0)),
        lambda: repository.list_messages("session1", agent_id),
        # FileSessionManager._get_multi_agent_path validates multi-agent ids as agent ids
        lambda: repository.create_multi_agent("session1", multi_agent),
        lambda: repository.read_multi_agent("session1", agent_id),
        lambda: repository.update_multi_agent("session1", multi_agent),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=f"agent_id={agent_id} | id cannot contain path separators"):
            call()


# upstream: test__get_message_path_invalid_message_id (file, s3): every call taking a message id
@pytest.mark.parametrize(
    "message_id", ["../../../secret", "../../attack", "../escape", "path/traversal", "not_an_int", None, []]
)
def test__get_message_path_invalid_message_id(message_id: Any, offline_repository: ServiceSessionRepository) -> None:
    repository = offline_repository
    bad = SessionMessage(message={"role": "user", "content": [ContentBlock(text="x")]}, message_id=message_id)
    calls = [
        lambda: repository.create_message("session1", "agent1", bad),
        lambda: repository.read_message("session1", "agent1", message_id),
        lambda: repository.update_message("session1", "agent1", bad),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"message_id=<.*> \| message id must be an integer"):
            call()


# upstream: test_create_multi_agent (file, s3)
def test_create_multi_agent(
    repository: ServiceSessionRepository, sample_session: Session, mock_multi_agent: Mock
) -> None:
    repository.create_session(sample_session)
    repository.create_multi_agent(sample_session.session_id, mock_multi_agent)
    data = stored_record(repository, sample_session.session_id, "multi_agents", mock_multi_agent.id)
    assert data["id"] == mock_multi_agent.id
    assert data["state"] == mock_multi_agent.state


# upstream: test_read_multi_agent (file, s3)
def test_read_multi_agent(
    repository: ServiceSessionRepository, sample_session: Session, mock_multi_agent: Mock
) -> None:
    repository.create_session(sample_session)
    repository.create_multi_agent(sample_session.session_id, mock_multi_agent)
    result = repository.read_multi_agent(sample_session.session_id, mock_multi_agent.id)
    assert result is not None
    assert result["id"] == mock_multi_agent.id
    assert result["state"] == mock_multi_agent.state


# upstream: test_read_nonexistent_multi_agent (file, s3: no session)
def test_read_nonexistent_multi_agent(repository: ServiceSessionRepository, sample_session: Session) -> None:
    result = repository.read_multi_agent(sample_session.session_id, "nonexistent")
    assert result is None
    repository.create_session(sample_session)
    assert repository.read_multi_agent(sample_session.session_id, "nonexistent") is None


# upstream: test_update_multi_agent (file, s3)
def test_update_multi_agent(
    repository: ServiceSessionRepository, sample_session: Session, mock_multi_agent: Mock
) -> None:
    repository.create_session(sample_session)
    repository.create_multi_agent(sample_session.session_id, mock_multi_agent)
    updated_mock = Mock()
    updated_mock.id = mock_multi_agent.id
    updated_mock.serialize_state.return_value = {"id": mock_multi_agent.id, "state": {"updated": "value"}}
    repository.update_multi_agent(sample_session.session_id, updated_mock)
    result = repository.read_multi_agent(sample_session.session_id, mock_multi_agent.id)
    assert result is not None
    assert result["state"] == {"updated": "value"}
    assert result == {"id": mock_multi_agent.id, "state": {"updated": "value"}}  # replaced whole


# upstream: test_update_nonexistent_multi_agent (file, s3)
def test_update_nonexistent_multi_agent(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    nonexistent_mock = Mock()
    nonexistent_mock.id = "nonexistent"
    with pytest.raises(SessionException):
        repository.update_multi_agent(sample_session.session_id, nonexistent_mock)


# upstream: test_create_session_multi_agent_directory_structure (file: create_session makes the session's
# multi_agents/ directory); here: right after create_session the session takes multi-agent state
def test_create_session_multi_agent_directory_structure(
    repository: ServiceSessionRepository, sample_session: Session, mock_multi_agent: Mock
) -> None:
    repository.create_session(sample_session)
    assert repository.client.get_session(sample_session.session_id).context["strands"]["session_type"] == "AGENT"
    assert repository.read_multi_agent(sample_session.session_id, mock_multi_agent.id) is None
    repository.create_multi_agent(sample_session.session_id, mock_multi_agent)
    assert repository.read_multi_agent(sample_session.session_id, mock_multi_agent.id) == {
        "id": "test-multi-agent",
        "state": {"key": "value"},
    }


# upstream: test_empty_prefix_session_roundtrip (s3: no key prefix); here: no create_options
def test_empty_prefix_session_roundtrip(
    sessions_backend: Any, sample_session: Session, sample_agent: SessionAgent
) -> None:
    repository = ServiceSessionRepository(sessions_backend.client(), create_options={})
    repository.create_session(sample_session)
    repository.create_agent(sample_session.session_id, sample_agent)
    result = repository.read_agent(sample_session.session_id, sample_agent.agent_id)
    assert result is not None
    assert result.agent_id == sample_agent.agent_id


# --- RepositorySessionManager over this repository: upstream tests/strands/session/test_repository_session_manager.py,
# --- run with ServiceSessionRepository where upstream has its MockedSessionRepository (same names, same assertions)


@pytest.fixture
def session_manager(repository: ServiceSessionRepository) -> RepositorySessionManager:
    return RepositorySessionManager(session_id="test-session", session_repository=repository)


@pytest.fixture
def existing_session_manager(repository: ServiceSessionRepository) -> RepositorySessionManager:
    repository.create_session(Session(session_id="test-session", session_type=SessionType.AGENT))
    return RepositorySessionManager(session_id="test-session", session_repository=repository)


@pytest.fixture
def agent() -> Agent:
    return Agent(messages=[{"role": "user", "content": [{"text": "Hello!"}]}], model=ScriptedModel([]))


@pytest.fixture
def manager_multi_agent() -> Mock:
    mock = Mock()
    mock.id = "test-multi-agent"
    mock.serialize_state.return_value = {"id": "test-multi-agent", "state": {"key": "value"}}
    mock.deserialize_state = Mock()
    return mock


def track(repository: ServiceSessionRepository, name: str) -> list[tuple[Any, ...]]:
    """Upstream's tracking wrappers: the calls of one repository method (which still runs)."""
    calls: list[tuple[Any, ...]] = []
    original = getattr(repository, name)

    def tracking(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    setattr(repository, name, tracking)
    return calls


# upstream: test_init_creates_session_if_not_exists
def test_init_creates_session_if_not_exists(repository: ServiceSessionRepository) -> None:
    assert repository.read_session("test-session") is None
    RepositorySessionManager(session_id="test-session", session_repository=repository)
    session = repository.read_session("test-session")
    assert session is not None
    assert session.session_id == "test-session"
    assert session.session_type == SessionType.AGENT


# upstream: test_init_uses_existing_session
def test_init_uses_existing_session(repository: ServiceSessionRepository) -> None:
    session = Session(session_id="test-session", session_type=SessionType.AGENT)
    repository.create_session(session)
    manager = RepositorySessionManager(session_id="test-session", session_repository=repository)
    assert manager.session == session


# upstream: test_initialize_with_existing_agent_id
def test_initialize_with_existing_agent_id(session_manager: RepositorySessionManager, agent: Agent) -> None:
    agent.agent_id = "custom-agent"
    session_manager.initialize(agent)
    agent_data = session_manager.session_repository.read_agent("test-session", "custom-agent")
    assert agent_data is not None
    assert agent_data.agent_id == "custom-agent"


# upstream: test_initialize_multiple_agents_without_id
def test_initialize_multiple_agents_without_id(session_manager: RepositorySessionManager, agent: Agent) -> None:
    agent.agent_id = "custom-agent"
    session_manager.initialize(agent)
    agent2 = Agent(agent_id="custom-agent", model=ScriptedModel([]))
    with pytest.raises(SessionException, match=r"The `agent_id` of an agent must be unique in a session."):
        session_manager.initialize(agent2)


# upstream: test_initialize_restores_existing_agent
def test_initialize_restores_existing_agent(existing_session_manager: RepositorySessionManager, agent: Agent) -> None:
    agent.agent_id = "existing-agent"
    session_agent = SessionAgent(
        agent_id="existing-agent",
        state={"key": "value"},
        conversation_manager_state=SlidingWindowConversationManager().get_state(),
        _internal_state={"interrupt_state": {"interrupts": {}, "context": {"test": "init"}, "activated": False}},
    )
    existing_session_manager.session_repository.create_agent("test-session", session_agent)
    hello = SessionMessage(message={"role": "user", "content": [ContentBlock(text="Hello")]}, message_id=0)
    existing_session_manager.session_repository.create_message("test-session", "existing-agent", hello)
    existing_session_manager.initialize(agent)
    assert agent.state.get("key") == "value"
    assert len(agent.messages) == 1
    assert agent.messages[0]["role"] == "user"
    assert agent.messages[0]["content"][0]["text"] == "Hello"
    assert agent._interrupt_state == _InterruptState(interrupts={}, context={"test": "init"}, activated=False)


# upstream: test_initialize_restores_existing_agent_with_summarizing_conversation_manager
def test_initialize_restores_existing_agent_with_summarizing_conversation_manager(
    existing_session_manager: RepositorySessionManager,
) -> None:
    conversation_manager = SummarizingConversationManager()
    conversation_manager.removed_message_count = 1
    conversation_manager._summary_message = {"role": "assistant", "content": [{"text": "summary"}]}
    session_agent = SessionAgent(
        agent_id="existing-agent", state={"key": "value"}, conversation_manager_state=conversation_manager.get_state()
    )
    existing_session_manager.session_repository.create_agent("test-session", session_agent)
    hello = SessionMessage(message={"role": "user", "content": [ContentBlock(text="Hello")]}, message_id=0)
    # two messages, as one is removed by the conversation manager
    existing_session_manager.session_repository.create_message("test-session", "existing-agent", hello)
    hello.message_id = 1
    existing_session_manager.session_repository.create_message("test-session", "existing-agent", hello)
    agent = Agent(
        agent_id="existing-agent", conversation_manager=SummarizingConversationManager(), model=ScriptedModel([])
    )
    existing_session_manager.initialize(agent)
    assert agent.state.get("key") == "value"
    assert len(agent.messages) == 2  # the session message plus the summary message
    assert agent.messages[1]["role"] == "user"
    assert agent.messages[1]["content"][0]["text"] == "Hello"
    assert agent.conversation_manager.removed_message_count == 1


# upstream: test_append_message
def test_append_message(session_manager: RepositorySessionManager) -> None:
    agent = Agent(agent_id="test-agent", session_manager=session_manager, model=ScriptedModel([]))
    hello = {"role": "user", "content": [{"type": "text", "text": "Hello"}]}
    session_manager.append_message(hello, agent)
    messages = session_manager.session_repository.list_messages("test-session", "test-agent")
    assert len(messages) == 1
    assert messages[0].message["role"] == "user"
    assert messages[0].message["content"][0]["text"] == "Hello"


# upstream: test_sync_multi_agent
def test_sync_multi_agent(session_manager: RepositorySessionManager, manager_multi_agent: Mock) -> None:
    session_manager.session_repository.create_multi_agent("test-session", manager_multi_agent)
    session_manager.sync_multi_agent(manager_multi_agent)
    state = session_manager.session_repository.read_multi_agent("test-session", manager_multi_agent.id)
    assert state is not None
    assert state["id"] == "test-multi-agent"
    assert state["state"] == {"key": "value"}


# upstream: test_initialize_multi_agent_new
def test_initialize_multi_agent_new(session_manager: RepositorySessionManager, manager_multi_agent: Mock) -> None:
    session_manager.initialize_multi_agent(manager_multi_agent)
    state = session_manager.session_repository.read_multi_agent("test-session", manager_multi_agent.id)
    assert state is not None
    assert state["id"] == "test-multi-agent"
    assert state["state"] == {"key": "value"}


# upstream: test_initialize_multi_agent_existing
def test_initialize_multi_agent_existing(
    existing_session_manager: RepositorySessionManager, manager_multi_agent: Mock
) -> None:
    existing_session_manager.session_repository.create_multi_agent("test-session", manager_multi_agent)
    updated_mock = Mock()
    updated_mock.id = "test-multi-agent"
    existing_state = {"id": "test-multi-agent", "state": {"restored": "data"}}
    updated_mock.serialize_state.return_value = existing_state
    existing_session_manager.session_repository.update_multi_agent("test-session", updated_mock)
    existing_session_manager.initialize_multi_agent(manager_multi_agent)
    manager_multi_agent.deserialize_state.assert_called_once_with(existing_state)


# upstream: test_initialize_skips_message_restore_for_server_managed_conversation
def test_initialize_skips_message_restore_for_server_managed_conversation(
    existing_session_manager: RepositorySessionManager,
) -> None:
    session_agent = SessionAgent(
        agent_id="existing-agent",
        state={},
        conversation_manager_state=NullConversationManager().get_state(),
        _internal_state={
            "interrupt_state": {"interrupts": {}, "context": {}, "activated": False},
            "model_state": {"response_id": "resp_abc123"},
        },
    )
    existing_session_manager.session_repository.create_agent("test-session", session_agent)
    hello = SessionMessage.from_message({"role": "user", "content": [{"text": "Hello"}]}, 0)
    existing_session_manager.session_repository.create_message("test-session", "existing-agent", hello)
    mock_model = Mock()
    mock_model.stateful = True
    agent = Agent(agent_id="existing-agent", model=mock_model)
    existing_session_manager.initialize(agent)
    assert agent.messages == []
    assert agent._model_state == {"response_id": "resp_abc123"}
    assert existing_session_manager.session_repository.list_messages("test-session", "existing-agent") == [hello]


def restore_broken(manager: RepositorySessionManager, broken_messages: list[dict[str, Any]]) -> list[Any]:
    """Upstream's set-up of the fix_broken_tool_use tests: the messages stored, an agent restored from them."""
    session_agent = SessionAgent(
        agent_id="existing-agent",
        state={"key": "value"},
        conversation_manager_state=SlidingWindowConversationManager().get_state(),
    )
    manager.session_repository.create_agent("test-session", session_agent)
    for index, broken_message in enumerate(broken_messages):
        manager.session_repository.create_message(
            "test-session",
            "existing-agent",
            SessionMessage(message=broken_message, message_id=index),
        )
    agent = Agent(agent_id="existing-agent", model=ScriptedModel([]))
    manager.initialize(agent)
    return agent.messages


# upstream: test_fix_broken_tool_use_adds_missing_tool_results
def test_fix_broken_tool_use_adds_missing_tool_results(existing_session_manager: RepositorySessionManager) -> None:
    fixed_messages = restore_broken(
        existing_session_manager,
        [
            {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "orphaned-123", "name": "test_tool", "input": {"input": "test"}}}
                ],
            },
            {"role": "user", "content": [{"text": "Some other message"}]},
        ],
    )
    assert len(fixed_messages) == 3
    assert "toolResult" in fixed_messages[1]["content"][0]
    assert fixed_messages[1]["content"][0]["toolResult"]["toolUseId"] == "orphaned-123"
    assert fixed_messages[1]["content"][0]["toolResult"]["status"] == "error"
    assert fixed_messages[1]["content"][0]["toolResult"]["content"][0]["text"] == "Tool was interrupted."
    assert isinstance(fixed_messages[1].get("tracking_id"), str)
    assert fixed_messages[1]["tracking_id"]


# upstream: test_fix_broken_tool_use_extends_partial_tool_results
def test_fix_broken_tool_use_extends_partial_tool_results(existing_session_manager: RepositorySessionManager) -> None:
    fixed_messages = restore_broken(
        existing_session_manager,
        [
            {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "complete-123", "name": "test_tool", "input": {"input": "test1"}}},
                    {"toolUse": {"toolUseId": "missing-456", "name": "test_tool", "input": {"input": "test2"}}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "complete-123", "status": "success", "content": [{"text": "result"}]}}
                ],
            },
        ],
    )
    assert len(fixed_messages) == 2
    assert len(fixed_messages[1]["content"]) == 2
    tool_use_ids = {tr["toolResult"]["toolUseId"] for tr in fixed_messages[1]["content"]}
    assert tool_use_ids == {"complete-123", "missing-456"}
    missing_result = next(tr for tr in fixed_messages[1]["content"] if tr["toolResult"]["toolUseId"] == "missing-456")
    assert missing_result["toolResult"]["status"] == "error"
    assert missing_result["toolResult"]["content"][0]["text"] == "Tool was interrupted."


# upstream: test_fix_broken_tool_use_handles_multiple_orphaned_tools
def test_fix_broken_tool_use_handles_multiple_orphaned_tools(
    existing_session_manager: RepositorySessionManager,
) -> None:
    fixed_messages = restore_broken(
        existing_session_manager,
        [
            {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "orphaned-123", "name": "test_tool", "input": {"input": "test1"}}},
                    {"toolUse": {"toolUseId": "orphaned-456", "name": "test_tool", "input": {"input": "test2"}}},
                ],
            },
            {"role": "user", "content": [{"text": "Next message"}]},
        ],
    )
    assert len(fixed_messages) == 3
    assert len(fixed_messages[1]["content"]) == 2
    tool_use_ids = {tr["toolResult"]["toolUseId"] for tr in fixed_messages[1]["content"]}
    assert tool_use_ids == {"orphaned-123", "orphaned-456"}


# upstream: test_fix_broken_tool_use_removes_orphaned_tool_result_at_start, run through a restore (upstream calls
# _fix_broken_tool_use on the list; the stored messages are restored and fixed the same way)
def test_fix_broken_tool_use_removes_orphaned_tool_result_at_start(
    existing_session_manager: RepositorySessionManager,
) -> None:
    fixed_messages = restore_broken(
        existing_session_manager,
        [
            {
                "role": "user",
                "content": [
                    {
                        "toolResult": {
                            "toolUseId": "orphaned-result-123",
                            "status": "success",
                            "content": [{"text": "Seattle, USA"}],
                        }
                    }
                ],
            },
            {"role": "assistant", "content": [{"text": "You live in Seattle, USA."}]},
            {"role": "user", "content": [{"text": "I like pizza"}]},
        ],
    )
    assert len(fixed_messages) == 2
    assert fixed_messages[0]["role"] == "assistant"
    assert fixed_messages[0]["content"][0]["text"] == "You live in Seattle, USA."
    assert fixed_messages[1]["role"] == "user"
    assert fixed_messages[1]["content"][0]["text"] == "I like pizza"


# upstream: test_fix_broken_tool_use_does_not_affect_normal_conversations (through a restore, as above)
def test_fix_broken_tool_use_does_not_affect_normal_conversations(
    existing_session_manager: RepositorySessionManager,
) -> None:
    messages = [
        {"role": "user", "content": [{"text": "Hello"}]},
        {"role": "assistant", "content": [{"text": "Hi there!"}]},
        {"role": "user", "content": [{"text": "How are you?"}]},
    ]
    expected = copy.deepcopy(messages)
    assert restore_broken(existing_session_manager, messages) == expected


# --- BidiAgent (upstream: "BidiAgent Session Tests")


@pytest.fixture
def mock_bidi_agent() -> Mock:
    bidi = Mock(spec=BidiAgent)
    bidi.agent_id = "bidi-agent-1"
    bidi.messages = [{"role": "user", "content": [{"text": "Hello from bidi!"}]}]
    bidi.state = AgentState({"key": "value"})
    return bidi


# upstream: test_initialize_with_bidi_creates_new
def test_initialize_with_bidi_creates_new(session_manager: RepositorySessionManager, mock_bidi_agent: Mock) -> None:
    session_manager.initialize(mock_bidi_agent)
    agent_data = session_manager.session_repository.read_agent("test-session", "bidi-agent-1")
    assert agent_data is not None
    assert agent_data.agent_id == "bidi-agent-1"
    assert agent_data.conversation_manager_state == {}  # empty for BidiAgent
    assert agent_data.state == {"key": "value"}
    messages = session_manager.session_repository.list_messages("test-session", "bidi-agent-1")
    assert len(messages) == 1
    assert messages[0].message["role"] == "user"


# upstream: test_initialize_with_bidi_restores_existing
def test_initialize_with_bidi_restores_existing(
    existing_session_manager: RepositorySessionManager, mock_bidi_agent: Mock
) -> None:
    session_agent = SessionAgent(agent_id="bidi-agent-1", state={"restored": "state"}, conversation_manager_state={})
    repository = existing_session_manager.session_repository
    repository.create_agent("test-session", session_agent)
    msg1 = SessionMessage.from_message({"role": "user", "content": [{"text": "Message 1"}]}, 0)
    msg2 = SessionMessage.from_message({"role": "assistant", "content": [{"text": "Response 1"}]}, 1)
    repository.create_message("test-session", "bidi-agent-1", msg1)
    repository.create_message("test-session", "bidi-agent-1", msg2)
    existing_session_manager.initialize(mock_bidi_agent)
    assert mock_bidi_agent.state.get() == {"restored": "state"}
    assert len(mock_bidi_agent.messages) == 2
    assert mock_bidi_agent.messages[0]["role"] == "user"
    assert mock_bidi_agent.messages[1]["role"] == "assistant"


# upstream: test_append_message_with_bidi
def test_append_message_with_bidi(session_manager: RepositorySessionManager, mock_bidi_agent: Mock) -> None:
    session_manager.initialize(mock_bidi_agent)
    session_manager.append_message({"role": "assistant", "content": [{"text": "Response"}]}, mock_bidi_agent)
    messages = session_manager.session_repository.list_messages("test-session", "bidi-agent-1")
    assert len(messages) == 2  # initial + new
    assert messages[1].message["role"] == "assistant"


# upstream: test_sync_agent_with_bidi
def test_sync_agent_with_bidi(
    session_manager: RepositorySessionManager, mock_bidi_agent: Mock, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_manager.initialize(mock_bidi_agent)
    update_agent = Mock(wraps=session_manager.session_repository.update_agent)
    monkeypatch.setattr(session_manager.session_repository, "update_agent", update_agent)
    mock_bidi_agent.state = AgentState({"updated": "state"})
    session_manager.sync_agent(mock_bidi_agent)
    session_manager.sync_agent(mock_bidi_agent)
    agent_data = session_manager.session_repository.read_agent("test-session", "bidi-agent-1")
    assert agent_data is not None
    assert agent_data.state == {"updated": "state"}
    assert update_agent.call_count == 2


# upstream: test_bidi_agent_no_conversation_manager
def test_bidi_agent_no_conversation_manager(session_manager: RepositorySessionManager, mock_bidi_agent: Mock) -> None:
    session_manager.initialize(mock_bidi_agent)
    agent_data = session_manager.session_repository.read_agent("test-session", "bidi-agent-1")
    assert agent_data is not None
    assert agent_data.conversation_manager_state == {}


# upstream: test_bidi_agent_unique_id_constraint
def test_bidi_agent_unique_id_constraint(session_manager: RepositorySessionManager, mock_bidi_agent: Mock) -> None:
    session_manager.initialize(mock_bidi_agent)
    agent2 = Mock()
    agent2.agent_id = "bidi-agent-1"
    agent2.messages = []
    agent2.state = AgentState({})
    with pytest.raises(SessionException, match=r"The `agent_id` of an agent must be unique in a session."):
        session_manager.initialize(agent2)


# upstream: test_bidi_agent_messages_with_offset_zero
def test_bidi_agent_messages_with_offset_zero(
    existing_session_manager: RepositorySessionManager, mock_bidi_agent: Mock
) -> None:
    repository = existing_session_manager.session_repository
    repository.create_agent(
        "test-session", SessionAgent(agent_id="bidi-agent-1", state={}, conversation_manager_state={})
    )
    for i in range(5):
        msg = SessionMessage.from_message({"role": "user", "content": [{"text": f"Message {i}"}]}, i)
        repository.create_message("test-session", "bidi-agent-1", msg)
    existing_session_manager.initialize(mock_bidi_agent)
    assert len(mock_bidi_agent.messages) == 5  # offset 0: no removed_message_count


# upstream: test_register_hooks_persists_messages_and_state
@pytest.mark.anyio
async def test_register_hooks_persists_messages_and_state(session_manager: RepositorySessionManager) -> None:
    agent = Agent(agent_id="shared", session_manager=session_manager, model=ScriptedModel([]))
    hello = {"role": "user", "content": [{"text": "Hello"}], "tracking_id": "message-1"}
    agent.state.set("saved", "state")
    await agent._append_messages(hello)
    repository = session_manager.session_repository
    shared = repository.read_agent("test-session", "shared")
    assert shared is not None
    assert shared.state == {"saved": "state"}
    tru_messages = [(m.message_id, m.to_message()) for m in repository.list_messages("test-session", "shared")]
    assert tru_messages == [(0, hello)]
    agent.state.set("completed", True)
    await agent.hooks.invoke_callbacks_async(AfterInvocationEvent(agent=agent))
    shared = repository.read_agent("test-session", "shared")
    assert shared is not None
    assert shared.state == {"saved": "state", "completed": True}


# --- conditional sync (upstream: "Conditional Sync Tests")


def synced_agent(repository: ServiceSessionRepository) -> tuple[RepositorySessionManager, Agent]:
    session_manager = RepositorySessionManager(session_id="test-session", session_repository=repository)
    return session_manager, Agent(agent_id="test-agent", session_manager=session_manager, model=ScriptedModel([]))


# upstream: test_sync_agent_skips_update_when_state_not_dirty_and_internal_state_unchanged
def test_sync_agent_skips_update_when_state_not_dirty_and_internal_state_unchanged(
    repository: ServiceSessionRepository,
) -> None:
    session_manager, agent = synced_agent(repository)
    update_agent_calls = track(repository, "update_agent")
    session_manager.sync_agent(agent)  # the first sync updates (the baseline)
    assert len(update_agent_calls) == 1
    update_agent_calls.clear()
    session_manager.sync_agent(agent)  # no change: skipped
    assert len(update_agent_calls) == 0


# upstream: test_sync_agent_calls_update_when_state_is_dirty
def test_sync_agent_calls_update_when_state_is_dirty(repository: ServiceSessionRepository) -> None:
    session_manager, agent = synced_agent(repository)
    update_agent_calls = track(repository, "update_agent")
    session_manager.sync_agent(agent)
    update_agent_calls.clear()
    agent.state.set("key", "value")
    session_manager.sync_agent(agent)
    assert len(update_agent_calls) == 1
    stored = repository.read_agent("test-session", "test-agent")
    assert stored is not None and stored.state == {"key": "value"}


# upstream: test_sync_agent_calls_update_when_internal_state_changed
def test_sync_agent_calls_update_when_internal_state_changed(repository: ServiceSessionRepository) -> None:
    session_manager, agent = synced_agent(repository)
    update_agent_calls = track(repository, "update_agent")
    session_manager.sync_agent(agent)
    update_agent_calls.clear()
    agent._interrupt_state.activate()
    session_manager.sync_agent(agent)
    assert len(update_agent_calls) == 1
    stored = repository.read_agent("test-session", "test-agent")
    assert stored is not None and stored._internal_state["interrupt_state"]["activated"] is True


# upstream: test_sync_agent_calls_update_when_conversation_manager_state_changed
def test_sync_agent_calls_update_when_conversation_manager_state_changed(repository: ServiceSessionRepository) -> None:
    session_manager, agent = synced_agent(repository)
    update_agent_calls = track(repository, "update_agent")
    session_manager.sync_agent(agent)
    update_agent_calls.clear()
    agent.conversation_manager.removed_message_count = 5
    session_manager.sync_agent(agent)
    assert len(update_agent_calls) == 1
    stored = repository.read_agent("test-session", "test-agent")
    assert stored is not None and stored.conversation_manager_state["removed_message_count"] == 5


# upstream: test_sync_agent_calls_update_when_model_state_changed
def test_sync_agent_calls_update_when_model_state_changed(repository: ServiceSessionRepository) -> None:
    session_manager, agent = synced_agent(repository)
    update_agent_calls = track(repository, "update_agent")
    session_manager.sync_agent(agent)
    update_agent_calls.clear()
    agent._model_state["response_id"] = "resp_abc123"
    session_manager.sync_agent(agent)
    assert len(update_agent_calls) == 1
    stored = repository.read_agent("test-session", "test-agent")
    assert stored is not None and stored._internal_state["model_state"] == {"response_id": "resp_abc123"}


# upstream: test_sync_agent_tracks_version_after_successful_sync
def test_sync_agent_tracks_version_after_successful_sync(repository: ServiceSessionRepository) -> None:
    session_manager, agent = synced_agent(repository)
    session_manager.sync_agent(agent)
    initial_version = agent.state._get_version()
    agent.state.set("key", "value")
    assert agent.state._get_version() == initial_version + 1
    update_agent_calls = track(repository, "update_agent")
    session_manager.sync_agent(agent)
    assert len(update_agent_calls) == 1
    update_agent_calls.clear()
    session_manager.sync_agent(agent)
    assert len(update_agent_calls) == 0


# upstream: test_sync_agent_retries_on_failure
def test_sync_agent_retries_on_failure(repository: ServiceSessionRepository, monkeypatch: pytest.MonkeyPatch) -> None:
    session_manager, agent = synced_agent(repository)
    session_manager.sync_agent(agent)
    agent.state.set("key", "value")

    def failing_update_agent(session_id: str, session_agent: SessionAgent) -> None:
        raise SessionException("Update failed")

    monkeypatch.setattr(repository, "update_agent", failing_update_agent)
    with pytest.raises(SessionException, match="Update failed"):
        session_manager.sync_agent(agent)
    monkeypatch.undo()
    update_agent_calls = track(repository, "update_agent")
    session_manager.sync_agent(agent)  # the version was not recorded on failure: retried
    assert len(update_agent_calls) == 1
    stored = repository.read_agent("test-session", "test-agent")
    assert stored is not None and stored.state == {"key": "value"}


def test_sync_agent_retries_after_the_service_failed(sessions_backend: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, the failure being the service's (a SessionException, so the manager retries as upstream)."""
    repository = ServiceSessionRepository(sessions_backend.client())
    session_manager, agent = synced_agent(repository)
    session_manager.sync_agent(agent)
    agent.state.set("key", "value")

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise errors.ServerError("try again", status=503, code="service_unavailable")

    monkeypatch.setattr(repository.client, "update_session", refused)
    with pytest.raises(SessionException):
        session_manager.sync_agent(agent)
    monkeypatch.undo()
    session_manager.sync_agent(agent)
    stored = repository.read_agent("test-session", "test-agent")
    assert stored is not None and stored.state == {"key": "value"}


# upstream: test_sync_agent_first_sync_always_updates
def test_sync_agent_first_sync_always_updates(repository: ServiceSessionRepository) -> None:
    session_manager, agent = synced_agent(repository)
    update_agent_calls = track(repository, "update_agent")
    session_manager.sync_agent(agent)
    assert len(update_agent_calls) == 1


# --- new-session optimization (upstream: "New Session Optimization Tests (Issue #1828)")


# upstream: test_is_new_session_true_when_session_created
def test_is_new_session_true_when_session_created(repository: ServiceSessionRepository) -> None:
    assert repository.read_session("new-session") is None
    manager = RepositorySessionManager(session_id="new-session", session_repository=repository)
    assert manager._is_new_session is True


# upstream: test_is_new_session_false_when_session_exists
def test_is_new_session_false_when_session_exists(repository: ServiceSessionRepository) -> None:
    repository.create_session(Session(session_id="existing-session", session_type=SessionType.AGENT))
    manager = RepositorySessionManager(session_id="existing-session", session_repository=repository)
    assert manager._is_new_session is False


# upstream: test_initialize_skips_read_agent_for_new_session
def test_initialize_skips_read_agent_for_new_session(repository: ServiceSessionRepository) -> None:
    manager = RepositorySessionManager(session_id="new-session", session_repository=repository)
    assert manager._is_new_session is True
    read_agent_calls = track(repository, "read_agent")
    manager.initialize(Agent(agent_id="test-agent", model=ScriptedModel([])))
    assert len(read_agent_calls) == 0


# upstream: test_initialize_calls_read_agent_for_existing_session
def test_initialize_calls_read_agent_for_existing_session(repository: ServiceSessionRepository) -> None:
    repository.create_session(Session(session_id="existing-session", session_type=SessionType.AGENT))
    manager = RepositorySessionManager(session_id="existing-session", session_repository=repository)
    assert manager._is_new_session is False
    read_agent_calls = track(repository, "read_agent")
    manager.initialize(Agent(agent_id="test-agent", model=ScriptedModel([])))
    assert len(read_agent_calls) == 1
    assert read_agent_calls[0] == ("existing-session", "test-agent")


def plain_bidi_agent() -> Mock:
    bidi = Mock()
    bidi.agent_id = "bidi-agent-1"
    bidi.messages = [{"role": "user", "content": [{"text": "Hello!"}]}]
    bidi.state = AgentState({})
    return bidi


# upstream: test_initialize_with_bidi_skips_read_agent_for_new_session
def test_initialize_with_bidi_skips_read_agent_for_new_session(repository: ServiceSessionRepository) -> None:
    manager = RepositorySessionManager(session_id="new-session", session_repository=repository)
    assert manager._is_new_session is True
    read_agent_calls = track(repository, "read_agent")
    manager.initialize(plain_bidi_agent())
    assert len(read_agent_calls) == 0


# upstream: test_initialize_with_bidi_calls_read_agent_for_existing_session
def test_initialize_with_bidi_calls_read_agent_for_existing_session(repository: ServiceSessionRepository) -> None:
    repository.create_session(Session(session_id="existing-session", session_type=SessionType.AGENT))
    manager = RepositorySessionManager(session_id="existing-session", session_repository=repository)
    assert manager._is_new_session is False
    read_agent_calls = track(repository, "read_agent")
    manager.initialize(plain_bidi_agent())
    assert len(read_agent_calls) == 1
    assert read_agent_calls[0] == ("existing-session", "bidi-agent-1")


def plain_multi_agent() -> Mock:
    multi_agent = Mock()
    multi_agent.id = "test-multi-agent"
    multi_agent.serialize_state.return_value = {"id": "test-multi-agent", "state": {}}
    return multi_agent


# upstream: test_initialize_multi_agent_skips_read_for_new_session
def test_initialize_multi_agent_skips_read_for_new_session(repository: ServiceSessionRepository) -> None:
    manager = RepositorySessionManager(session_id="new-session", session_repository=repository)
    assert manager._is_new_session is True
    read_multi_agent_calls = track(repository, "read_multi_agent")
    manager.initialize_multi_agent(plain_multi_agent())
    assert len(read_multi_agent_calls) == 0


# upstream: test_initialize_multi_agent_calls_read_for_existing_session
def test_initialize_multi_agent_calls_read_for_existing_session(repository: ServiceSessionRepository) -> None:
    repository.create_session(Session(session_id="existing-session", session_type=SessionType.AGENT))
    manager = RepositorySessionManager(session_id="existing-session", session_repository=repository)
    assert manager._is_new_session is False
    read_multi_agent_calls = track(repository, "read_multi_agent")
    manager.initialize_multi_agent(plain_multi_agent())
    assert len(read_multi_agent_calls) == 1
    assert read_multi_agent_calls[0] == ("existing-session", "test-multi-agent")


# upstream: test_prune_held_records_drops_removed_messages
def test_prune_held_records_drops_removed_messages(session_manager: RepositorySessionManager) -> None:
    agent = Agent(agent_id="a", session_manager=session_manager, model=ScriptedModel([]))
    m1 = {"role": "user", "content": [{"text": "one"}]}
    m2 = {"role": "assistant", "content": [{"text": "two"}]}
    session_manager.append_message(m1, agent)
    session_manager.append_message(m2, agent)
    agent.messages = [m2]
    session_manager._prune_held_records(agent)
    assert len(session_manager._held_records["a"]) == 1


# upstream: test_restore_after_redacting_alias_records_returns_redacted_conversation (there over FileSessionManager)
def test_restore_after_redacting_alias_records_returns_redacted_conversation(sessions_backend: Any) -> None:
    sm = RepositorySessionManager(
        session_id="s", session_repository=ServiceSessionRepository(sessions_backend.client())
    )
    agent = Agent(
        agent_id="a", conversation_manager=NullConversationManager(), session_manager=sm, model=ScriptedModel([])
    )
    msg = {"role": "user", "content": [{"text": "secret"}]}
    sm.append_message(msg, agent)  # record 0
    sm.append_message(msg, agent)  # record 1: the same object
    msg["content"] = [{"text": "[redacted]"}]
    sm.redact_latest_message(msg, agent)
    # a new process: a fresh manager and agent over the same service
    sm2 = RepositorySessionManager(
        session_id="s", session_repository=ServiceSessionRepository(sessions_backend.client())
    )
    restored = Agent(
        agent_id="a", conversation_manager=NullConversationManager(), session_manager=sm2, model=ScriptedModel([])
    )
    assert len(restored.messages) == 2
    assert restored.messages[0]["content"] == [{"text": "[redacted]"}]
    assert restored.messages[1]["content"] == [{"text": "[redacted]"}]


# upstream: the _fix_broken_tool_use tests that call it on a list; here the list is stored through this repository
# and restored by the session manager, which applies the same fix (as after a restore from FileSessionManager)


def tool_use(tool_use_id: str, value: str = "test") -> dict[str, Any]:
    return {"toolUse": {"toolUseId": tool_use_id, "name": "test_tool", "input": {"input": value}}}


def tool_result(tool_use_id: str, text: str, status: str = "success") -> dict[str, Any]:
    return {"toolResult": {"toolUseId": tool_use_id, "status": status, "content": [{"text": text}]}}


# upstream: test_fix_broken_tool_use_removes_stale_tool_results
def test_fix_broken_tool_use_removes_stale_tool_results(existing_session_manager: RepositorySessionManager) -> None:
    messages = [
        {"role": "assistant", "content": [tool_use("valid-123")]},
        {"role": "user", "content": [tool_result("stale-999", "stale"), tool_result("valid-123", "result")]},
        {"role": "user", "content": [{"text": "Final message"}]},
    ]
    fixed_messages = restore_broken(existing_session_manager, messages)
    assert len(fixed_messages) == 3
    assert fixed_messages[1]["content"] == [tool_result("valid-123", "result")]


# upstream: test_fix_broken_tool_use_ignores_last_message
def test_fix_broken_tool_use_ignores_last_message(existing_session_manager: RepositorySessionManager) -> None:
    messages = [
        {"role": "user", "content": [{"text": "Hello"}]},
        {"role": "assistant", "content": [tool_use("last-message-123")]},
    ]
    original = copy.deepcopy(messages)
    assert restore_broken(existing_session_manager, messages) == original


# upstream: test_fix_broken_tool_use_ignores_single_orphaned_tool_use
def test_fix_broken_tool_use_ignores_single_orphaned_tool_use(
    existing_session_manager: RepositorySessionManager,
) -> None:
    messages = [{"role": "assistant", "content": [tool_use("only-message-123")]}]
    original = copy.deepcopy(messages)
    assert restore_broken(existing_session_manager, messages) == original


# upstream: test_fix_broken_tool_use_consecutive_orphaned_tool_uses
def test_fix_broken_tool_use_consecutive_orphaned_tool_uses(
    existing_session_manager: RepositorySessionManager,
) -> None:
    tru_messages = [
        {"role": "assistant", "content": [tool_use("first-123", "test1")]},
        {"role": "assistant", "content": [tool_use("second-456", "test2")]},
        {"role": "user", "content": [{"text": "Next message"}]},
    ]
    interrupted = {"status": "error", "content": [{"text": "Tool was interrupted."}]}
    exp_messages: list[dict[str, Any]] = [
        tru_messages[0],
        {"role": "user", "content": [{"toolResult": {"toolUseId": "first-123", **interrupted}}]},
        tru_messages[1],
        {"role": "user", "content": [{"toolResult": {"toolUseId": "second-456", **interrupted}}]},
        tru_messages[2],
    ]
    tru_fixed = restore_broken(existing_session_manager, copy.deepcopy(tru_messages))
    assert tru_fixed[1]["tracking_id"] and tru_fixed[3]["tracking_id"]
    exp_messages[1]["tracking_id"] = tru_fixed[1]["tracking_id"]
    exp_messages[3]["tracking_id"] = tru_fixed[3]["tracking_id"]
    assert tru_fixed == exp_messages


# upstream: test_fix_broken_tool_use_does_not_change_valid_message
def test_fix_broken_tool_use_does_not_change_valid_message(
    existing_session_manager: RepositorySessionManager,
) -> None:
    messages = [
        {"role": "user", "content": [{"text": "Hello"}]},
        {"role": "assistant", "content": [tool_use("last-message-123")]},
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "last-message-123", "input": {"input": "test"}, "status": "success"}}
            ],
        },
    ]
    expected = copy.deepcopy(messages)
    assert restore_broken(existing_session_manager, messages) == expected


# upstream: test_fix_broken_tool_use_removes_orphaned_tool_result_mid_conversation
def test_fix_broken_tool_use_removes_orphaned_tool_result_mid_conversation(
    existing_session_manager: RepositorySessionManager,
) -> None:
    messages = [
        {"role": "user", "content": [{"text": "Where do I live?"}]},
        {"role": "assistant", "content": [{"text": "You live in Seattle, USA."}]},
        {"role": "user", "content": [tool_result("orphaned-result-123", "Seattle, USA")]},
        {"role": "assistant", "content": [{"text": "Anything else?"}]},
    ]
    assert restore_broken(existing_session_manager, messages) == [
        {"role": "user", "content": [{"text": "Where do I live?"}]},
        {"role": "assistant", "content": [{"text": "You live in Seattle, USA."}]},
        {"role": "assistant", "content": [{"text": "Anything else?"}]},
    ]


# upstream: test_fix_broken_tool_use_keeps_non_tool_result_content_of_orphaned_message
def test_fix_broken_tool_use_keeps_non_tool_result_content_of_orphaned_message(
    existing_session_manager: RepositorySessionManager,
) -> None:
    messages = [
        {"role": "assistant", "content": [{"text": "Summary of earlier conversation."}]},
        {
            "role": "user",
            "content": [tool_result("orphaned-result-123", "Seattle, USA"), {"text": "and what about Portland?"}],
        },
    ]
    assert restore_broken(existing_session_manager, messages) == [
        {"role": "assistant", "content": [{"text": "Summary of earlier conversation."}]},
        {"role": "user", "content": [{"text": "and what about Portland?"}]},
    ]


# upstream: test_fix_broken_tool_use_removes_orphaned_tool_result_after_prepended_message
def test_fix_broken_tool_use_removes_orphaned_tool_result_after_prepended_message(
    existing_session_manager: RepositorySessionManager,
) -> None:
    messages = [
        {"role": "assistant", "content": [{"text": "Summary of earlier conversation."}]},
        {"role": "user", "content": [tool_result("orphaned-result-123", "42")]},
        {"role": "assistant", "content": [{"text": "done"}]},
    ]
    assert restore_broken(existing_session_manager, messages) == [
        {"role": "assistant", "content": [{"text": "Summary of earlier conversation."}]},
        {"role": "assistant", "content": [{"text": "done"}]},
    ]


# upstream: test_fix_broken_tool_use_keeps_paired_tool_result_after_a_text_turn
def test_fix_broken_tool_use_keeps_paired_tool_result_after_a_text_turn(
    existing_session_manager: RepositorySessionManager,
) -> None:
    messages = [
        {"role": "user", "content": [{"text": "What is the weather?"}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "abc", "name": "weather", "input": {}}}]},
        {"role": "user", "content": [tool_result("abc", "sunny")]},
        {"role": "assistant", "content": [{"text": "It is sunny."}]},
    ]
    expected = copy.deepcopy(messages)
    assert restore_broken(existing_session_manager, messages) == expected


# --- the session manager and agents (upstream: test_repository_session_manager.py, tests_integ) ---


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


# --- agents over the service end to end: upstream tests_integ/test_session.py (there with FileSessionManager and
# --- S3SessionManager and a real model; here with this repository and a scripted model)


def png_bytes() -> bytes:
    """A 1x1 yellow PNG (upstream's tests_integ/resources/yellow.png is an image of the same kind)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\x00"))
        + chunk(b"IEND", b"")
    )


def service_manager(sessions_backend: Any, session_id: str) -> RepositorySessionManager:
    """A session manager over a repository and client of its own (as a new process would make)."""
    return RepositorySessionManager(
        session_id=session_id, session_repository=ServiceSessionRepository(sessions_backend.client())
    )


# upstream: tests_integ/test_session.py::test_agent_with_file_session, ::test_agent_with_s3_session,
# ::test_agent_with_file_session_with_image, ::test_agent_with_s3_session_with_image
@pytest.mark.parametrize("with_image", [False, True], ids=["text", "image"])
def test_agent_with_file_session(sessions_backend: Any, with_image: bool) -> None:
    test_session_id = str(uuid.uuid4())
    session_manager = service_manager(sessions_backend, test_session_id)
    repository = session_manager.session_repository
    try:
        agent = Agent(session_manager=session_manager, model=ScriptedModel([said("Hi")]), callback_handler=None)
        image: list[ContentBlock] = [{"image": {"format": "png", "source": {"bytes": png_bytes()}}}]
        agent(image if with_image else "Hello!")
        assert len(repository.list_messages(test_session_id, agent.agent_id)) == 2

        # after the agent is persisted and run, restore it and run it again
        session_manager_2 = service_manager(sessions_backend, test_session_id)
        model_2 = ScriptedModel([said("Hi again")])
        agent_2 = Agent(session_manager=session_manager_2, model=model_2, callback_handler=None)
        assert len(agent_2.messages) == 2
        if with_image:
            assert agent_2.messages[0]["content"][0]["image"]["source"]["bytes"] == png_bytes()
        agent_2("Hello!")
        assert len(agent_2.messages) == 4
        assert len(session_manager_2.session_repository.list_messages(test_session_id, agent_2.agent_id)) == 4
        # the model was given the first run's turns as they were
        assert model_2.seen[-1][0]["content"] == json.loads(json.dumps(agent.messages[0]["content"], default=str))
    finally:
        repository.delete_session(test_session_id)
        assert repository.read_session(test_session_id) is None


# upstream: tests_integ/test_session.py::test_agent_with_file_session_and_conversation_manager
def test_agent_with_file_session_and_conversation_manager(sessions_backend: Any) -> None:
    from strands.agent.conversation_manager import SlidingWindowConversationManager

    test_session_id = str(uuid.uuid4())
    session_manager = service_manager(sessions_backend, test_session_id)
    repository = session_manager.session_repository
    try:
        agent = Agent(
            session_manager=session_manager,
            conversation_manager=SlidingWindowConversationManager(window_size=2),
            model=ScriptedModel([said("Hi"), said("Hi again")]),
            callback_handler=None,
        )
        agent("Hello!")  # 2 messages [user, assistant]: fits in the window
        assert len(agent.messages) == 2
        assert len(repository.list_messages(test_session_id, agent.agent_id)) == 2

        agent("Hi again!")  # 4 messages: trimmed back to 2
        assert len(agent.messages) == 2
        assert agent.conversation_manager.removed_message_count == 2
        # the session keeps every message though the agent's memory was trimmed
        assert len(repository.list_messages(test_session_id, agent.agent_id)) == 4

        # restored from the session: the trimmed state
        session_manager_2 = service_manager(sessions_backend, test_session_id)
        agent_2 = Agent(
            session_manager=session_manager_2,
            conversation_manager=SlidingWindowConversationManager(window_size=2),
            model=ScriptedModel([said("Hello to you")]),
            callback_handler=None,
        )
        assert len(agent_2.messages) == 2
        assert agent_2.conversation_manager.removed_message_count == 2
        assert agent_2.messages == agent.messages

        agent_2("Hello!")  # trimmed again
        assert len(agent_2.messages) == 2
        assert agent_2.conversation_manager.removed_message_count == 4
        assert len(session_manager_2.session_repository.list_messages(test_session_id, agent_2.agent_id)) == 6
    finally:
        repository.delete_session(test_session_id)
        assert repository.read_session(test_session_id) is None


# upstream: tests_integ/interrupts/test_session.py::test_interrupt_session
def test_interrupt_session(sessions_backend: Any) -> None:
    from strands import tool
    from strands.hooks import BeforeToolCallEvent, HookProvider, HookRegistry

    class Hook(HookProvider):
        def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
            registry.add_callback(BeforeToolCallEvent, self.interrupt)

        def interrupt(self, event: BeforeToolCallEvent) -> None:
            if event.tool_use["name"] == "weather_tool":
                return
            response = event.interrupt("test_interrupt", reason="need approval")
            if response != "APPROVE":
                event.cancel_tool = "tool rejected"

    @tool(name="time_tool")
    def time_tool() -> str:
        return "12:00"

    @tool(name="weather_tool")
    def weather_tool() -> str:
        return "sunny"

    both_tools = {
        "role": "assistant",
        "content": [
            {"toolUse": {"toolUseId": "t-time", "name": "time_tool", "input": {}}},
            {"toolUse": {"toolUseId": "t-weather", "name": "weather_tool", "input": {}}},
        ],
    }
    session_manager = service_manager(sessions_backend, "strands-interrupt-test")
    agent = Agent(
        hooks=[Hook()],
        session_manager=session_manager,
        tools=[time_tool, weather_tool],
        model=ScriptedModel([both_tools]),
        callback_handler=None,
    )
    result = agent("What is the time and weather?")
    assert result.stop_reason == "interrupt"
    interrupt = result.interrupts[0]

    # another process: the interrupt state comes back from the service
    session_manager = service_manager(sessions_backend, "strands-interrupt-test")
    model = ScriptedModel([said("It is 12:00 and sunny.")])
    agent = Agent(
        hooks=[Hook()],
        session_manager=session_manager,
        tools=[time_tool, weather_tool],
        model=model,
        callback_handler=None,
    )
    responses: list[ContentBlock] = [{"interruptResponse": {"interruptId": interrupt.id, "response": "APPROVE"}}]
    result = agent(responses)
    assert result.stop_reason == "end_turn"
    result_message = json.dumps(result.message).lower()
    assert all(string in result_message for string in ["12:00", "sunny"])
    # the tools' results the model was given: the approved tool ran after the restore, the other's result was kept
    tool_results = json.dumps(model.seen[-1][-1]).lower()
    assert all(string in tool_results for string in ["12:00", "sunny"])


# upstream: tests_integ/interrupts/multiagent/test_session.py (multi-agent state through the session manager)


def weather_tool_interrupting() -> Any:
    from strands import tool

    @tool(name="weather_tool", context=True)
    def func(tool_context: ToolContext) -> str:
        response = tool_context.interrupt("test_interrupt", reason="need weather")
        return str(response)

    return func


def uses(tool_use_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": [{"toolUse": {"toolUseId": tool_use_id, "name": name, "input": tool_input}}],
    }


# upstream: tests_integ/interrupts/multiagent/test_session.py::test_swarm_interrupt_session
def test_swarm_interrupt_session(sessions_backend: Any) -> None:
    from unittest.mock import ANY

    from strands.interrupt import Interrupt
    from strands.multiagent import Swarm
    from strands.multiagent.base import Status

    weather_tool = weather_tool_interrupting()
    weather_agent = Agent(
        name="weather",
        tools=[weather_tool],
        model=ScriptedModel([uses("w1", "weather_tool", {})]),
        callback_handler=None,
    )
    summarizer_agent = Agent(name="summarizer", model=ScriptedModel([]), callback_handler=None)
    session_manager = service_manager(sessions_backend, "strands-interrupt-test")
    swarm = Swarm([weather_agent, summarizer_agent], session_manager=session_manager)

    multiagent_result = swarm("Can you check the weather and then summarize the results?")
    assert multiagent_result.status == Status.INTERRUPTED
    assert multiagent_result.interrupts == [Interrupt(id=ANY, name="test_interrupt", reason="need weather")]
    interrupt = multiagent_result.interrupts[0]
    # the swarm's state is in the service (what the next process restores)
    stored = session_manager.session_repository.read_multi_agent("strands-interrupt-test", swarm.id)
    assert stored is not None and stored["status"] == "interrupted"

    weather_agent = Agent(
        name="weather",
        tools=[weather_tool],
        model=ScriptedModel(
            [uses("h1", "handoff_to_agent", {"agent_name": "summarizer", "message": "summarize"}), said("Handed off.")]
        ),
        callback_handler=None,
    )
    summarizer_agent = Agent(
        name="summarizer", model=ScriptedModel([said("The weather is sunny.")]), callback_handler=None
    )
    session_manager = service_manager(sessions_backend, "strands-interrupt-test")
    swarm = Swarm([weather_agent, summarizer_agent], session_manager=session_manager)

    responses = [{"interruptResponse": {"interruptId": interrupt.id, "response": "sunny"}}]
    multiagent_result = swarm(responses)
    assert multiagent_result.status == Status.COMPLETED
    assert len(multiagent_result.results) == 2
    summarizer_result = multiagent_result.results["summarizer"]
    summarizer_message = json.dumps(summarizer_result.result.message).lower()
    assert "sunny" in summarizer_message


# upstream: tests_integ/interrupts/multiagent/test_session.py::test_graph_interrupt_session
def test_graph_interrupt_session(sessions_backend: Any) -> None:
    from unittest.mock import ANY

    from strands.interrupt import Interrupt
    from strands.multiagent import GraphBuilder
    from strands.multiagent.base import Status

    weather_tool = weather_tool_interrupting()

    def build(weather_script: list[dict[str, Any]], summarizer_script: list[dict[str, Any]]) -> Any:
        parent_sm = service_manager(sessions_backend, "parent-session")
        child_sm = service_manager(sessions_backend, "child-session")
        weather_agent = Agent(
            name="weather", tools=[weather_tool], model=ScriptedModel(weather_script), callback_handler=None
        )
        summarizer_agent = Agent(name="summarizer", model=ScriptedModel(summarizer_script), callback_handler=None)
        weather_builder = GraphBuilder()
        weather_builder.add_node(weather_agent, "weather")
        weather_builder.set_entry_point("weather")
        weather_builder.set_session_manager(child_sm)
        weather_graph = weather_builder.build()
        builder = GraphBuilder()
        builder.add_node(weather_graph, "weather")
        builder.add_node(summarizer_agent, "summarizer")
        builder.add_edge("weather", "summarizer")
        builder.set_session_manager(parent_sm)
        return builder.build()

    graph = build([uses("w1", "weather_tool", {})], [])
    multiagent_result = graph("Can you check the weather and then summarize the results?")
    assert multiagent_result.status == Status.INTERRUPTED
    assert graph.state.status == Status.INTERRUPTED
    assert multiagent_result.interrupts == [Interrupt(id=ANY, name="test_interrupt", reason="need weather")]
    interrupt = multiagent_result.interrupts[0]
    stored = ServiceSessionRepository(sessions_backend.client()).read_multi_agent("parent-session", graph.id)
    assert stored is not None and stored["status"] == "interrupted"

    graph = build([said("It is sunny.")], [said("Summary: sunny.")])
    responses = [{"interruptResponse": {"interruptId": interrupt.id, "response": "sunny"}}]
    multiagent_result = graph(responses)
    assert multiagent_result.status == Status.COMPLETED
    assert graph.state.status == Status.COMPLETED
    assert len(multiagent_result.results) == 2
    summarizer_message = json.dumps(multiagent_result.results["summarizer"].result.message).lower()
    assert "sunny" in summarizer_message


class ServerSideModel(ScriptedModel):
    """A model that keeps the conversation itself (as OpenAI's Responses API does): it remembers the names it was
    told under the response id it answered with, and knows them again only when given that id back."""

    conversations: ClassVar[dict[str, str]] = {}

    @property
    def stateful(self) -> bool:
        return True

    async def stream(
        self, messages: Any, tool_specs: Any = None, system_prompt: Any = None, **kwargs: Any
    ) -> AsyncGenerator[Any, None]:
        model_state = kwargs["model_state"]
        known = self.conversations.get(model_state.get("response_id") or "", "")
        said_now = " ".join(block.get("text", "") for block in messages[-1]["content"])
        if "my name is" in said_now.lower():
            known = said_now.rstrip(".").split()[-1]
        answer = f"Your name is {known}." if known and "?" in said_now else "Noted."
        response_id = f"resp-{uuid.uuid4().hex[:8]}"
        self.conversations[response_id] = known
        model_state["response_id"] = response_id
        for event in self._events(said(answer)):
            yield event


# upstream: tests_integ/test_session.py::test_agent_with_file_session_server_side_conversation
def test_agent_with_file_session_server_side_conversation(sessions_backend: Any) -> None:
    test_session_id = str(uuid.uuid4())
    session_manager = service_manager(sessions_backend, test_session_id)
    try:
        agent = Agent(
            model=ServerSideModel([]),
            system_prompt="Reply in one short sentence.",
            session_manager=session_manager,
            callback_handler=None,
        )
        agent("My name is Alice.")
        assert len(agent.messages) == 0

        # a process restart: a new session manager and agent (the response id comes back from the service)
        session_manager_2 = service_manager(sessions_backend, test_session_id)
        agent_2 = Agent(
            model=ServerSideModel([]),
            system_prompt="Reply in one short sentence.",
            session_manager=session_manager_2,
            callback_handler=None,
        )
        assert len(agent_2.messages) == 0
        result = agent_2("What is my name?")
        assert "alice" in result.message["content"][0]["text"].lower()
    finally:
        session_manager.session_repository.delete_session(test_session_id)


# upstream: tests_integ/test_invalid_tool_names.py::test_invalid_tool_names_works (a tool use of a tool that does not
# exist is stored, restored, and the restored agent goes on)
def test_invalid_tool_names_works(sessions_backend: Any) -> None:
    from strands import tool

    @tool
    def fake_shell(command: str) -> str:
        return "Done!"

    agent = Agent(
        agent_id="an_agent",
        tools=[fake_shell],
        session_manager=service_manager(sessions_backend, "test"),
        model=ScriptedModel([uses("bad-1", "invalid tool", {}), said("It failed."), said("It said the tool failed.")]),
        callback_handler=None,
    )
    agent("Invoke the `invalid tool` tool and tell me what the response is")
    agent("What was the response?")
    assert len(agent.messages) == 6

    agent2 = Agent(
        agent_id="an_agent",
        tools=[fake_shell],
        session_manager=service_manager(sessions_backend, "test"),
        model=ScriptedModel([said("The tool did not exist.")]),
        callback_handler=None,
    )
    assert len(agent2.messages) == 6
    # the invalid tool was persisted and restored
    tool_use_block = next(block for block in agent2.messages[-5]["content"] if "toolUse" in block)
    assert tool_use_block["toolUse"]["name"] == "invalid tool"
    agent2("What was the tool result")  # goes on without an exception


# upstream: tests_integ/test_bedrock_guardrails.py::test_guardrail_input_intervention_properly_redacts_in_session
# (there a Bedrock guardrail; here the scripted model's guardrail, which redacts the input as Bedrock's does)
def test_guardrail_input_intervention_properly_redacts_in_session(sessions_backend: Any) -> None:
    test_session_id = str(uuid.uuid4())
    session_manager = service_manager(sessions_backend, test_session_id)
    repository = session_manager.session_repository
    guardrail = {"redactedUserContent": "BLOCKED!", "redactedAssistantContent": "Sorry, I cannot help with that."}
    agent = Agent(
        model=ScriptedModel([guardrail]),
        system_prompt="You are a helpful assistant.",
        callback_handler=None,
        session_manager=session_manager,
    )
    assert repository.read_agent(test_session_id, agent.agent_id) is not None

    response1 = agent("CACTUS")
    assert response1.stop_reason == "guardrail_intervened"
    assert agent.messages[0]["content"][0]["text"] == "BLOCKED!"
    user_input_session_message = repository.list_messages(test_session_id, agent.agent_id)[0]
    # the persisted message equals the redacted message in the agent
    assert user_input_session_message.to_message() == agent.messages[0]

    # an agent restored from the session: the input is still redacted
    agent_2 = Agent(
        model=ScriptedModel([]),
        system_prompt="You are a helpful assistant.",
        callback_handler=None,
        session_manager=service_manager(sessions_backend, test_session_id),
    )
    assert agent.messages[0] == agent_2.messages[0]


# --- fork_session (no upstream test: Strands has no fork; SnapshotSessionManager restores in place) -----------


def test_an_agent_loaded_from_a_fork_is_where_the_parents_agent_stands(sessions_backend: Any) -> None:
    repository = ServiceSessionRepository(sessions_backend.client())
    # a sliding window that has removed messages: the fork must carry the manager's offset with them
    agent = Agent(
        agent_id="writer",
        model=ScriptedModel([said("one"), said("two"), said("three"), said("main goes on")]),
        conversation_manager=SlidingWindowConversationManager(window_size=4),
        session_manager=RepositorySessionManager("main", session_repository=repository),
    )
    agent("first")
    agent.state.set("plan", {"step": 1, "notes": [None, "x"]})
    agent("second")
    agent("third")
    parent_record = repository.read_session("main")

    forked = repository.fork_session("main", "branch")
    assert forked.session_id == "branch" and forked.session_type == SessionType.AGENT
    assert repository.read_session("branch") == forked and repository.read_session("main") == parent_record
    assert forked.created_at > parent_record.created_at

    # a fresh repository (no cache) and a fresh agent load the fork as the parent's agent stands
    loader = ServiceSessionRepository(sessions_backend.client())
    branch = Agent(
        agent_id="writer",
        model=ScriptedModel([said("branch goes on")]),
        conversation_manager=SlidingWindowConversationManager(window_size=4),
        session_manager=RepositorySessionManager("branch", session_repository=loader),
    )
    assert branch.messages == agent.messages and len(branch.messages) == 4
    assert branch.state.get() == agent.state.get() == {"plan": {"step": 1, "notes": [None, "x"]}}
    assert (
        loader.read_agent("branch", "writer").conversation_manager_state
        == repository.read_agent("main", "writer").conversation_manager_state
    )
    assert [m.message_id for m in loader.list_messages("branch", "writer")] == [
        m.message_id for m in repository.list_messages("main", "writer")
    ]

    # both go on independently
    branch.state.set("plan", {"step": "branch"})
    branch("branch question")
    agent("main question")

    def reloaded(session_id: str) -> Agent:
        return Agent(
            agent_id="writer",
            model=ScriptedModel([]),
            conversation_manager=SlidingWindowConversationManager(window_size=4),
            session_manager=RepositorySessionManager(
                session_id, session_repository=ServiceSessionRepository(sessions_backend.client())
            ),
        )

    main_again, branch_again = reloaded("main"), reloaded("branch")
    assert texts_of(main_again.messages)[-2:] == ["main question", "main goes on"]
    assert texts_of(branch_again.messages)[-2:] == ["branch question", "branch goes on"]
    assert main_again.state.get("plan") == {"step": 1, "notes": [None, "x"]}
    assert branch_again.state.get("plan") == {"step": "branch"}
    ids = [m.message_id for m in loader.list_messages("branch", "writer")]
    assert ids == sorted(set(ids)) and ids[-1] == 7  # ids continue after the parent's, as the manager numbers them


def test_fork_session_errors_are_strands(repository: ServiceSessionRepository, sample_session: Session) -> None:
    repository.create_session(sample_session)
    repository.create_session(Session(session_id="taken", session_type=SessionType.AGENT))
    with pytest.raises(SessionException, match="Session missing does not exist"):
        repository.fork_session("missing", "new")
    with pytest.raises(SessionException, match="Session taken already exists"):
        repository.fork_session(sample_session.session_id, "taken")
    with pytest.raises(SessionException, match=f"Session {sample_session.session_id} already exists"):
        repository.fork_session(sample_session.session_id, sample_session.session_id)
    with pytest.raises(ValueError, match="path separators"):
        repository.fork_session(sample_session.session_id, "a/b")
    assert repository.read_session("new") is None


def texts_of(messages: list[Any]) -> list[str]:
    return ["".join(block.get("text", "") for block in message["content"]) for message in messages]
