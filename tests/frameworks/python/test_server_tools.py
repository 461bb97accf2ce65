"""Group server_tools (issue 15): a turn in which Mastra ran its own tool (`get_weather` on
support-agent, prompt `CALL_TOOL Rome`) must reach the frameworks as a tool the *server* ran
(OpenAI's hosted-tool item shape, e.g. `mcp_call`), so that they neither try to run it locally
nor reject it. Plus one plain text turn per framework (sanity; these pass today).
"""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from conftest import (
    SUPPORT_AGENT,
    WEATHER_ANSWER,
    chat_openai,
    dump,
    lc_stream,
    mastra_parts,
    mastra_thread_messages,
    lc_text,
    run_async,
    tag,
)

pytestmark = pytest.mark.server_tools


# --------------------------------------------------------------------------- OpenAI Agents SDK


def _agents_sdk_agent(client):
    from agents import Agent, OpenAIResponsesModel, set_tracing_disabled

    set_tracing_disabled(True)
    # No local tools: get_weather is Mastra's, the SDK must not look for it.
    return Agent(name="support", model=OpenAIResponsesModel(model=SUPPORT_AGENT, openai_client=client))


def _tool_item_types(result) -> list[str]:
    return [type(i).__name__ for i in result.new_items]


def test_agents_sdk_run_text():
    from agents import Runner

    word = tag()

    async def go(client):
        return await Runner.run(_agents_sdk_agent(client), f"hello {word}")

    result = run_async(go)
    assert result.final_output == f"echo: hello {word}"


def test_agents_sdk_run_server_tool():
    from agents import Runner

    async def go(client):
        return await Runner.run(_agents_sdk_agent(client), "CALL_TOOL Rome")

    # Today: ModelBehaviorError("Tool get_weather not found in agent support") from
    # agents/run_internal/turn_resolution.py process_model_response (a `function_call` item
    # whose name is not one of the agent's function tools).
    result = run_async(go)
    assert WEATHER_ANSWER in result.final_output, _tool_item_types(result)
    assert "Rome" in result.final_output
    # One model call: the server already ran the tool, nothing was sent back for it.
    assert len(result.raw_responses) == 1, f"{len(result.raw_responses)} model calls"


def test_agents_sdk_run_streamed_server_tool():
    from agents import Runner

    async def go(client):
        result = Runner.run_streamed(_agents_sdk_agent(client), "CALL_TOOL Rome")
        async for _ in result.stream_events():
            pass
        return result

    result = run_async(go)
    assert result.is_complete
    assert WEATHER_ANSWER in result.final_output, _tool_item_types(result)
    assert "Rome" in result.final_output
    assert len(result.raw_responses) == 1, f"{len(result.raw_responses)} model calls"


def test_agents_sdk_replay_after_server_tool():
    """The next turn replays the first turn's items (result.to_input_list(): the server tool's
    item as the SDK keeps it, then the answer) without previous_response_id."""
    from agents import Runner

    word = tag()

    async def go(client):
        agent = _agents_sdk_agent(client)
        first = await Runner.run(agent, "CALL_TOOL Rome")
        replay = first.to_input_list() + [{"role": "user", "content": f"hello again {word}"}]
        return first, await Runner.run(agent, replay)

    first, second = run_async(go)
    assert WEATHER_ANSWER in first.final_output
    assert second.final_output == f"echo: hello again {word}"


def test_agents_sdk_conversations_session_after_server_tool():
    """OpenAIConversationsSession over two turns: the SDK appends the server tool's item (with
    its server id) and the answer to the conversation (conversations.items.create), lists them
    back and replays them as input on the next turn."""
    from agents import OpenAIConversationsSession, Runner

    word = tag()

    async def go(client):
        agent = _agents_sdk_agent(client)
        session = OpenAIConversationsSession(openai_client=client)
        first = await Runner.run(agent, "CALL_TOOL Rome", session=session)
        second = await Runner.run(agent, f"hello again {word}", session=session)
        return session.session_id, first, second, await session.get_items()

    conv_id, first, second, items = run_async(go, timeout=45)
    assert WEATHER_ANSWER in first.final_output
    assert second.final_output == f"echo: hello again {word}"
    kinds = [i.get("type") or "message" for i in items]
    roles = [i.get("role") for i in items if (i.get("type") or "message") == "message"]
    assert roles == ["user", "assistant", "user", "assistant"], dump(items)
    # the server tool's turn is in the conversation once, and nothing asks for it to be run
    assert "function_call" not in kinds, dump(items)
    # Mastra's thread: both user turns once each, get_weather once
    parts = mastra_parts(mastra_thread_messages(conv_id))
    assert [v for r, k, v in parts if r == "user" and k == "text"] == ["CALL_TOOL Rome", f"hello again {word}"], dump(parts)
    assert [v for r, k, v in parts if k == "tool"] == ["get_weather"], dump(parts)


# --------------------------------------------------------------------------- LangChain


def _weather_tool_calls(msg) -> list:
    return [tc for tc in (msg.tool_calls or []) if tc.get("name") == "get_weather"] + [
        tc for tc in (getattr(msg, "invalid_tool_calls", None) or []) if tc.get("name") == "get_weather"
    ]


def test_langchain_responses_invoke_text():
    word = tag()
    msg = chat_openai(SUPPORT_AGENT, responses_api=True).invoke([HumanMessage(f"hello {word}")])
    assert lc_text(msg) == f"echo: hello {word}"
    assert not msg.tool_calls


def test_langchain_responses_invoke_server_tool():
    msg = chat_openai(SUPPORT_AGENT, responses_api=True).invoke([HumanMessage("CALL_TOOL Rome")])
    # Today: tool_calls == [{'name': 'get_weather', ...}] (langchain_openai/chat_models/base.py
    # _construct_lc_result_from_responses_api turns every `function_call` item into a tool call),
    # so an agent loop would try to run get_weather itself.
    assert not _weather_tool_calls(msg), f"get_weather listed as a call to run: {dump(msg.tool_calls)}"
    assert WEATHER_ANSWER in lc_text(msg), dump(msg.content)
    assert "Rome" in lc_text(msg)


def test_langchain_responses_stream_server_tool():
    full = lc_stream(chat_openai(SUPPORT_AGENT, responses_api=True), [HumanMessage("CALL_TOOL Rome")])
    assert not _weather_tool_calls(full), f"get_weather listed as a call to run: {dump(full.tool_calls)}"
    assert WEATHER_ANSWER in lc_text(full), dump(full.content)
    assert "Rome" in lc_text(full)


def test_langchain_responses_stream_text():
    word = tag()
    full = lc_stream(chat_openai(SUPPORT_AGENT, responses_api=True), [HumanMessage(f"hello {word}")])
    assert lc_text(full) == f"echo: hello {word}"
    assert not full.tool_calls


def test_langchain_responses_replay_after_server_tool():
    """A further turn replays the AIMessage of the server tool turn; langchain-openai sends its
    content blocks back as input items (an `mcp_call` block is replayed as an `mcp_call` item)."""
    llm = chat_openai(SUPPORT_AGENT, responses_api=True)
    history = [HumanMessage("CALL_TOOL Rome")]
    first = llm.invoke(history)
    assert WEATHER_ANSWER in lc_text(first), dump(first.content)
    word = tag()
    history += [first, HumanMessage(f"hello again {word}")]
    second = llm.invoke(history)
    assert not second.tool_calls, dump(second.tool_calls)
    assert lc_text(second) == f"echo: hello again {word}"
