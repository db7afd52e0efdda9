"""SessionsChatMessageHistory against the service, in-process over moto and over HTTP against the dev server.

The behaviour tests port langchain-core's tests of chat histories (libs/core/tests/unit_tests/
chat_history/test_chat_history.py: test_add_message_implementation_only,
test_bulk_message_implementation_only, test_async_interface; test_file_chat_message_history.py:
test_add_messages, test_clear_messages, test_multiple_sessions; langchain-tests has no standard
suite for chat histories); then RunnableWithMessageHistory with FakeListChatModel keeps a
conversation over two turns.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import RunnableLambda
from langchain_core.runnables.history import RunnableWithMessageHistory

from sessions_client import AsyncSessionsClient, SessionsClient
from sessions_client.adapters.langchain import SessionsChatMessageHistory

CONVERSATION: list[BaseMessage] = [
    SystemMessage(content="You are terse."),
    HumanMessage(content="Weather in Paris?", id="h1"),
    AIMessage(
        content="",
        tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call-1", "type": "tool_call"}],
        response_metadata={"model": "fake"},
    ),
    ToolMessage(content="18°C, sunny", tool_call_id="call-1"),
    AIMessage(content="18°C and sunny.", additional_kwargs={"note": "x"}),
    ChatMessage(role="critic", content="fine"),
]


@pytest.fixture
def client(sessions_backend: Any) -> SessionsClient:
    return sessions_backend.client()


@pytest.fixture
def async_client(sessions_backend: Any) -> AsyncSessionsClient:
    return sessions_backend.async_client()


def test_unknown_session_has_no_messages(client: SessionsClient) -> None:
    """InMemoryChatMessageHistory starts empty; reading creates nothing."""
    history = SessionsChatMessageHistory("never-written", client=client)
    assert history.messages == []
    history.clear()
    assert client.list_sessions().sessions == []


def test_add_message_implementation_only(client: SessionsClient) -> None:
    """Mirrors test_add_message_implementation_only / test_bulk_message_implementation_only."""
    history = SessionsChatMessageHistory("chat-1", client=client)
    history.add_message(HumanMessage(content="Hello"))
    assert history.messages == [HumanMessage(content="Hello")]
    history.add_message(HumanMessage(content="World"))
    assert history.messages[1] == HumanMessage(content="World")
    history.add_messages([HumanMessage(content="Hello"), HumanMessage(content="World")])
    assert history.messages == [HumanMessage(content=text) for text in ("Hello", "World", "Hello", "World")]


def test_add_messages(client: SessionsClient) -> None:
    """Mirrors test_file_chat_message_history.py::test_add_messages."""
    history = SessionsChatMessageHistory("chat-2", client=client)
    history.add_user_message("Hello!")
    history.add_ai_message("Hi there!")
    messages = history.messages
    assert len(messages) == 2
    assert isinstance(messages[0], HumanMessage)
    assert isinstance(messages[1], AIMessage)
    assert [m.content for m in messages] == ["Hello!", "Hi there!"]


def test_clear_messages(client: SessionsClient) -> None:
    """Mirrors test_file_chat_message_history.py::test_clear_messages."""
    history = SessionsChatMessageHistory("chat-3", client=client)
    history.add_user_message("Hello!")
    history.add_ai_message("Hi there!")
    history.clear()
    assert len(history.messages) == 0


def test_multiple_sessions(client: SessionsClient) -> None:
    """Mirrors test_file_chat_message_history.py::test_multiple_sessions: a new object on the id sees it all."""
    history = SessionsChatMessageHistory("chat-4", client=client)
    texts = ["Hello, AI!", "Hello, how can I help you?", "Tell me a joke.", "Why did the chicken cross the road?"]
    for i, text in enumerate(texts):
        (history.add_user_message if i % 2 == 0 else history.add_ai_message)(text)
    assert [m.content for m in history.messages] == texts
    again = SessionsChatMessageHistory("chat-4", client=client)
    assert [m.content for m in again.messages] == texts
    assert SessionsChatMessageHistory("chat-5", client=client).messages == []


def test_bulk_messages_keep_their_order(client: SessionsClient) -> None:
    """add_messages keeps order across its atomic batches of 20."""
    history = SessionsChatMessageHistory("chat-bulk", client=client)
    many = [HumanMessage(content=f"m{i}") if i % 2 else AIMessage(content=f"m{i}") for i in range(45)]
    history.add_messages(many)
    assert history.messages == many
    assert client.get_session("chat-bulk").usage.event_count == 45


def test_every_message_kind_round_trips(client: SessionsClient) -> None:
    """Messages read back as the same classes with the same fields (tool calls, ids, kwargs)."""
    history = SessionsChatMessageHistory("chat-kinds", client=client, app_name="assistant")
    history.add_messages(CONVERSATION)
    assert history.messages == CONVERSATION
    stored = client.get_history("chat-kinds").events
    assert [(e.type, e.role, e.content) for e in stored] == [
        ("message", "system", "You are terse."),
        ("message", "user", "Weather in Paris?"),
        ("message", "assistant", None),
        ("tool", "tool", "18°C, sunny"),
        ("message", "assistant", "18°C and sunny."),
        ("message", "assistant", "fine"),
    ]
    assert client.get_session("chat-kinds").app_name == "assistant"


def test_clear_empties_the_same_session(client: SessionsClient) -> None:
    """clear() leaves no message; later messages go to the same session (rewound, not deleted)."""
    history = SessionsChatMessageHistory("chat-clear", client=client)
    history.add_messages([HumanMessage(content=f"m{i}") for i in range(95)])  # two rewind calls
    created = client.get_session("chat-clear")
    history.clear()
    assert history.messages == []
    history.add_user_message("after")
    assert [m.content for m in history.messages] == ["after"]
    session = client.get_session("chat-clear")
    assert session.created_at == created.created_at
    assert session.usage.event_count == 1


@pytest.mark.anyio
async def test_async_interface(async_client: AsyncSessionsClient) -> None:
    """Mirrors test_async_interface: aadd_messages, aget_messages, aclear."""
    history = SessionsChatMessageHistory("chat-async", async_client=async_client)
    await history.aadd_messages([HumanMessage(content="Hello"), AIMessage(content="World")])
    assert await history.aget_messages() == [HumanMessage(content="Hello"), AIMessage(content="World")]
    await history.aadd_messages([HumanMessage(content="!")])
    assert [m.content for m in await history.aget_messages()] == ["Hello", "World", "!"]


@pytest.mark.anyio
async def test_async_clear(async_client: AsyncSessionsClient) -> None:
    """Mirrors test_async_interface's aclear: the history is empty, the session still there."""
    history = SessionsChatMessageHistory("chat-async-clear", async_client=async_client)
    await history.aadd_messages([HumanMessage(content="Hello"), AIMessage(content="World")])
    await history.aclear()
    assert await history.aget_messages() == []
    await history.aclear()  # clearing an empty history is no error
    assert (await async_client.get_session("chat-async-clear")).usage.event_count == 0


@pytest.mark.anyio
async def test_async_methods_on_a_sync_client(client: SessionsClient) -> None:
    """Without an async client, the async methods run the sync ones (BaseChatMessageHistory's defaults)."""
    history = SessionsChatMessageHistory("chat-mixed", client=client)
    await history.aadd_messages([HumanMessage(content="Hello")])
    assert [m.content for m in await history.aget_messages()] == ["Hello"]


# RunnableWithMessageHistory is deprecated in langchain-core 1.x (for LangGraph persistence) but still shipped
DEPRECATED = pytest.mark.filterwarnings("ignore::langchain_core._api.deprecation.LangChainDeprecationWarning")


@DEPRECATED
def test_runnable_with_message_history(client: SessionsClient) -> None:
    """RunnableWithMessageHistory + FakeListChatModel: the second turn is prompted with the first."""
    prompts: list[list[BaseMessage]] = []

    def record(prompt: Any) -> Any:
        prompts.append(prompt.to_messages())
        return prompt

    model = FakeListChatModel(responses=["Hello Ada.", "Your name is Ada."])
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Be brief."), MessagesPlaceholder("history"), ("human", "{input}")]
    )
    chain = RunnableWithMessageHistory(
        prompt | RunnableLambda(record) | model,
        lambda session_id: SessionsChatMessageHistory(session_id, client=client, app_name="chat"),
        input_messages_key="input",
        history_messages_key="history",
    )
    config: Any = {"configurable": {"session_id": "conv-1"}}
    assert chain.invoke({"input": "My name is Ada."}, config=config).content == "Hello Ada."
    assert chain.invoke({"input": "What is my name?"}, config=config).content == "Your name is Ada."

    assert [(m.type, m.content) for m in prompts[1]] == [
        ("system", "Be brief."),
        ("human", "My name is Ada."),
        ("ai", "Hello Ada."),
        ("human", "What is my name?"),
    ]
    stored = client.get_history("conv-1").events
    assert [(e.role, e.content) for e in stored] == [
        ("user", "My name is Ada."),
        ("assistant", "Hello Ada."),
        ("user", "What is my name?"),
        ("assistant", "Your name is Ada."),
    ]


@DEPRECATED
@pytest.mark.anyio
async def test_runnable_with_message_history_async(async_client: AsyncSessionsClient) -> None:
    model = FakeListChatModel(responses=["one", "two"])
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{input}")])
    chain = RunnableWithMessageHistory(
        prompt | model,
        lambda session_id: SessionsChatMessageHistory(session_id, async_client=async_client),
        input_messages_key="input",
        history_messages_key="history",
    )
    config: Any = {"configurable": {"session_id": "conv-async"}}
    assert (await chain.ainvoke({"input": "a"}, config=config)).content == "one"
    assert (await chain.ainvoke({"input": "b"}, config=config)).content == "two"
    history = SessionsChatMessageHistory("conv-async", async_client=async_client)
    assert [m.content for m in await history.aget_messages()] == ["a", "one", "b", "two"]


def test_a_service_keeps_a_users_history(sessions_backend: Any) -> None:
    """A `service` caller writes a user's history (user_id); that user reads it with its own identity."""
    service = sessions_backend.client(identity=sessions_backend.identity(user="chat-backend", roles=("service",)))
    SessionsChatMessageHistory("for-ada", client=service, user_id="ada").add_messages(
        [HumanMessage(content="hi"), AIMessage(content="hello")]
    )
    ada = sessions_backend.client(identity=sessions_backend.identity(user="ada"))
    assert [m.content for m in SessionsChatMessageHistory("for-ada", client=ada).messages] == ["hi", "hello"]
    assert ada.get_session("for-ada").user_id == "ada"
