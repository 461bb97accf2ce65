"""Group chat (issue 17): `POST /v1/chat/completions`, as LangChain's default ChatOpenAI and the
Agents SDK's OpenAIChatCompletionsModel use it: plain turns, streaming, a client function tool
(the tool runs locally exactly once and the answer carries its output), and a turn in which
Mastra ran its own tool (Chat Completions has no hosted-tool shape: the framework must see only
the answer, no tool call to run).
"""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from conftest import (
    CALL_CLIENT_GET_TIME,
    ECHO_AGENT,
    FIXED_TIME,
    SUPPORT_AGENT,
    TIME_ANSWER,
    WEATHER_ANSWER,
    chat_openai,
    dump,
    lc_stream,
    lc_text,
    run_async,
    tag,
)
from test_client_tools import Calls, _assert_time_answer, _langchain_get_time, _langchain_tool_loop

pytestmark = pytest.mark.chat


# --------------------------------------------------------------------------- LangChain


def test_langchain_chat_invoke():
    word = tag()
    llm = chat_openai(ECHO_AGENT, responses_api=False)
    msg = llm.invoke([HumanMessage(f"hello {word}")])
    assert lc_text(msg) == f"you said: hello {word}"
    assert not msg.tool_calls
    assert msg.response_metadata.get("finish_reason") == "stop", msg.response_metadata


def test_langchain_chat_stream():
    word = tag()
    full = lc_stream(chat_openai(ECHO_AGENT, responses_api=False), [HumanMessage(f"hello {word}")])
    assert lc_text(full) == f"you said: hello {word}"
    assert not full.tool_calls


def test_langchain_chat_client_tool():
    calls = Calls()
    get_time = _langchain_get_time(calls)
    llm = chat_openai(ECHO_AGENT, responses_api=False)
    history = _langchain_tool_loop(llm, get_time, [HumanMessage(CALL_CLIENT_GET_TIME)], stream=False)
    assert calls.args == ["UTC"], calls.args
    assert len(history) == 4, dump([type(m).__name__ for m in history])
    _assert_time_answer(lc_text(history[-1]))


def test_langchain_chat_server_tool():
    msg = chat_openai(SUPPORT_AGENT, responses_api=False).invoke([HumanMessage("CALL_TOOL Rome")])
    assert not msg.tool_calls, f"a tool Mastra ran is listed as a call to run: {dump(msg.tool_calls)}"
    assert WEATHER_ANSWER in lc_text(msg), dump(msg.content)


# --------------------------------------------------------------------------- OpenAI Agents SDK


def _chat_agent(client, model: str, tools=()):
    from agents import Agent, OpenAIChatCompletionsModel, set_tracing_disabled

    set_tracing_disabled(True)
    return Agent(
        name="chat", model=OpenAIChatCompletionsModel(model=model, openai_client=client), tools=list(tools)
    )


def test_agents_sdk_chat_completions_text():
    from agents import Runner

    word = tag()

    async def go(client):
        return await Runner.run(_chat_agent(client, ECHO_AGENT), f"hello {word}")

    result = run_async(go)
    assert result.final_output == f"you said: hello {word}"


def test_agents_sdk_chat_completions_function_tool():
    from agents import Runner, function_tool

    calls = Calls()

    @function_tool
    def get_time(tz: str) -> str:
        """Return the current time in a time zone."""
        calls.args.append(tz)
        return FIXED_TIME

    async def go(client):
        return await Runner.run(_chat_agent(client, ECHO_AGENT, [get_time]), CALL_CLIENT_GET_TIME)

    result = run_async(go)
    assert calls.args == ["UTC"], calls.args
    assert TIME_ANSWER in result.final_output
    assert FIXED_TIME in result.final_output
    assert len(result.raw_responses) == 2, f"{len(result.raw_responses)} model calls"


def test_agents_sdk_chat_completions_server_tool():
    from agents import Runner

    async def go(client):
        return await Runner.run(_chat_agent(client, SUPPORT_AGENT), "CALL_TOOL Rome")

    result = run_async(go)
    assert WEATHER_ANSWER in result.final_output
    assert len(result.raw_responses) == 1, f"{len(result.raw_responses)} model calls"
