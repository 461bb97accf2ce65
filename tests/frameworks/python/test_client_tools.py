"""Group client_tools (issue 16): client-defined function tools and history replay.

The prompt `CALL_CLIENT get_time {"tz":"UTC"}` makes the mock model call the client-offered
tool `get_time`; once the tool's result comes back it answers `tool get_time returned: <output>`.
Every test counts the local tool's calls: the framework must run it exactly once, and the
final answer must carry its (fixed) output. Multi-turn tests then replay the history the
framework keeps and check the tool is not run again.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool

from conftest import (
    CALL_CLIENT_GET_TIME,
    FIXED_TIME,
    SUPPORT_AGENT,
    TIME_ANSWER,
    dump,
    mastra_parts,
    mastra_thread_messages,
    run_async,
    tag,
)

pytestmark = pytest.mark.client_tools


class Calls:
    """The arguments of every local call of get_time."""

    def __init__(self) -> None:
        self.args: list[str] = []


def _assert_time_answer(text: str) -> None:
    assert TIME_ANSWER in text, text
    # The mock answers JSON.stringify(<tool output>); the output is the fixed string.
    assert FIXED_TIME in text, text


# --------------------------------------------------------------------------- OpenAI Agents SDK


def _agents_sdk_agent(client, calls: Calls):
    from agents import Agent, OpenAIResponsesModel, function_tool, set_tracing_disabled

    set_tracing_disabled(True)

    @function_tool
    def get_time(tz: str) -> str:
        """Return the current time in a time zone."""
        calls.args.append(tz)
        return FIXED_TIME

    return Agent(
        name="support",
        model=OpenAIResponsesModel(model=SUPPORT_AGENT, openai_client=client),
        tools=[get_time],
    )


def test_agents_sdk_run_client_tool():
    from agents import Runner

    calls = Calls()

    async def go(client):
        return await Runner.run(_agents_sdk_agent(client, calls), CALL_CLIENT_GET_TIME)

    result = run_async(go)
    assert calls.args == ["UTC"], calls.args
    _assert_time_answer(result.final_output)
    # model call 1 ends with the function_call, call 2 (with its output) gives the answer
    assert len(result.raw_responses) == 2, f"{len(result.raw_responses)} model calls"


def test_agents_sdk_run_streamed_client_tool():
    from agents import Runner

    calls = Calls()

    async def go(client):
        result = Runner.run_streamed(_agents_sdk_agent(client, calls), CALL_CLIENT_GET_TIME)
        async for _ in result.stream_events():
            pass
        return result

    result = run_async(go)
    assert result.is_complete
    assert calls.args == ["UTC"], calls.args
    _assert_time_answer(result.final_output)
    assert len(result.raw_responses) == 2, f"{len(result.raw_responses)} model calls"


def test_agents_sdk_conversations_session_two_turns():
    """OpenAIConversationsSession: the history lives in a gateway conversation (= a Mastra
    thread). The SDK reads it with conversations.items.list, sends it as input, and appends each
    turn's items with conversations.items.create."""
    from agents import OpenAIConversationsSession, Runner

    calls = Calls()
    word = tag()

    async def go(client):
        agent = _agents_sdk_agent(client, calls)
        session = OpenAIConversationsSession(openai_client=client)
        first = await Runner.run(agent, CALL_CLIENT_GET_TIME, session=session)
        second = await Runner.run(agent, f"hello again {word}", session=session)
        items = await session.get_items()
        return session.session_id, first, second, items

    conv_id, first, second, items = run_async(go, timeout=45)
    assert calls.args == ["UTC"], f"get_time ran {len(calls.args)} times over two turns"
    _assert_time_answer(first.final_output)
    assert second.final_output == f"echo: hello again {word}"

    # The conversation holds each item once, in order.
    kinds = [(i.get("type"), i.get("role") or i.get("name")) for i in items]
    assert kinds == [
        ("message", "user"),
        ("function_call", "get_time"),
        ("function_call_output", None),
        ("message", "assistant"),
        ("message", "user"),
        ("message", "assistant"),
    ], dump(items)
    calls_out = [i for i in items if i.get("type") == "function_call_output"]
    assert FIXED_TIME in json.dumps(calls_out[0].get("output")), dump(calls_out)

    # Mastra, the system of record, has the same turns in the conversation's thread.
    parts = mastra_parts(mastra_thread_messages(conv_id))
    user_texts = [v for r, k, v in parts if r == "user" and k == "text"]
    assert user_texts == [CALL_CLIENT_GET_TIME, f"hello again {word}"], dump(parts)
    tools = [v for r, k, v in parts if k == "tool"]
    assert tools == ["get_time"], dump(parts)
    answers = [v for r, k, v in parts if r == "assistant" and k == "text"]
    assert any(TIME_ANSWER in a for a in answers), dump(parts)
    assert answers[-1] == f"echo: hello again {word}", dump(parts)


# --------------------------------------------------------------------------- LangChain


def _langchain_get_time(calls: Calls):
    @tool
    def get_time(tz: str) -> str:
        """Return the current time in a time zone."""
        calls.args.append(tz)
        return FIXED_TIME

    return get_time


def _langchain_tool_loop(llm, get_time, messages: list, *, stream: bool) -> list:
    """The usual agent loop: call the model, run the tool calls it asks for, repeat (at most
    3 model calls); returns the full message history."""
    from conftest import lc_stream

    bound = llm.bind_tools([get_time])
    for _ in range(3):
        ai = lc_stream(bound, messages) if stream else bound.invoke(messages)
        messages.append(ai)
        if not ai.tool_calls:
            return messages
        for tc in ai.tool_calls:
            assert tc["name"] == "get_time", dump(ai.tool_calls)
            out = get_time.invoke(tc)  # a ToolMessage with the call's id
            assert isinstance(out, ToolMessage)
            messages.append(out)
    pytest.fail(f"no final answer after 3 model calls: {dump([m.content for m in messages])}")


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_langchain_responses_client_tool_and_replay(stream):
    from conftest import chat_openai, lc_text

    calls = Calls()
    get_time = _langchain_get_time(calls)
    llm = chat_openai(SUPPORT_AGENT, responses_api=True)

    history = _langchain_tool_loop(llm, get_time, [HumanMessage(CALL_CLIENT_GET_TIME)], stream=stream)
    assert calls.args == ["UTC"], calls.args
    assert len(history) == 4, dump([type(m).__name__ for m in history])  # human, ai(call), tool, ai
    _assert_time_answer(lc_text(history[-1]))

    # A further turn replays that history (function_call, function_call_output and the
    # assistant message, as langchain-openai serialises them) without previous_response_id.
    word = tag()
    history.append(HumanMessage(f"hello again {word}"))
    history = _langchain_tool_loop(llm, get_time, history, stream=stream)
    assert calls.args == ["UTC"], "get_time ran again on the replayed history"
    assert lc_text(history[-1]) == f"echo: hello again {word}"
