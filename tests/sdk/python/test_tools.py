"""Tools the agent runs inside Mastra (reference/openai.md section 6, checks 16-17 adapted to
server-run tools).

Mastra runs the agent's own tools, so a tool turn comes back as the tools the server ran: one
`mcp_call` item per call (server_label = the agent, name, arguments, output or error, status),
then the answer message, in one response. No client tries to run them. The caller's own
function tools are in test_client_tools.py.
"""

from __future__ import annotations

import json
import re

import openai
import pytest

from conftest import ECHO_AGENT, SUPPORT_AGENT, assert_dense_sequence, assert_error, event_dicts, raw, tag

WEATHER = {"city": "Oslo", "tempC": 21, "conditions": "sunny"}
FINAL_TEXT = 'tool get_weather returned: {"city":"Oslo","tempC":21,"conditions":"sunny"}'


def _assert_mcp_call_item(item: dict, *, status: str = "completed", arguments: str | None = None) -> None:
    """The shape of a tool the server ran."""
    assert item["type"] == "mcp_call", item
    assert isinstance(item.get("id"), str) and item["id"].startswith("mcp_"), item
    assert item["server_label"] == SUPPORT_AGENT, item
    assert item["name"] == "get_weather", item
    assert isinstance(item["arguments"], str), f"arguments must be a JSON string: {item}"
    assert item["status"] == status, item
    if arguments is not None:
        assert item["arguments"] == arguments, item


def _assert_tool_turn_output(output: list[dict]) -> None:
    assert [it["type"] for it in output] == ["mcp_call", "message"], output
    mcp, msg = output
    _assert_mcp_call_item(mcp)
    assert json.loads(mcp["arguments"]) == {"city": "Oslo"}
    assert isinstance(mcp["output"], str) and json.loads(mcp["output"]) == WEATHER, mcp
    assert mcp["error"] is None
    assert msg["role"] == "assistant" and msg["id"].startswith("msg_"), msg
    assert msg["status"] == "completed"
    assert "".join(c["text"] for c in msg["content"] if c["type"] == "output_text") == FINAL_TEXT
    assert len({it["id"] for it in output}) == 2, "item ids must be distinct"


def test_tool_turn_non_stream(client: openai.OpenAI) -> None:
    """The tool turn: the server's mcp_call (with its result), then the answer that used it."""
    resp = client.responses.create(model=SUPPORT_AGENT, input=f"CALL_TOOL Oslo {tag()}")
    assert resp.status == "completed"
    assert resp.id.startswith("resp_")
    _assert_tool_turn_output(raw(resp)["output"])
    assert resp.output_text == FINAL_TEXT
    assert resp.output[0].type == "mcp_call"
    assert not any(getattr(o, "type", None) == "function_call" for o in resp.output)


def test_tool_turn_stream_events(client: openai.OpenAI) -> None:
    """added(mcp_call, arguments "") -> mcp_call.in_progress -> mcp_call_arguments.delta+ -> .done
    -> mcp_call.completed -> item.done (OpenAI's order for a hosted call); then the message;
    completed holds both (checks 9, 10, 13)."""
    events = event_dicts(client.responses.create(model=SUPPORT_AGENT, input=f"CALL_TOOL Oslo {tag()}", stream=True))
    assert_dense_sequence(events)
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"], types
    assert types[-1] == "response.completed", types
    assert not any("function_call" in t for t in types), types

    # The tool call at output_index 0.
    i = 2
    added = events[i]
    assert added["type"] == "response.output_item.added", types
    assert added["output_index"] == 0
    _assert_mcp_call_item(added["item"], status="in_progress", arguments="")
    mcp_id = added["item"]["id"]
    i += 1
    assert events[i]["type"] == "response.mcp_call.in_progress", types
    assert events[i]["item_id"] == mcp_id
    i += 1
    deltas = []
    while events[i]["type"] == "response.mcp_call_arguments.delta":
        deltas.append(events[i])
        i += 1
    assert deltas, f"no mcp_call_arguments.delta events: {types}"
    for d in deltas:
        assert d["item_id"] == mcp_id and d["output_index"] == 0, d
    args_done = events[i]
    assert args_done["type"] == "response.mcp_call_arguments.done", types
    assert args_done["item_id"] == mcp_id and args_done["output_index"] == 0
    assert args_done["arguments"] == "".join(d["delta"] for d in deltas)
    assert json.loads(args_done["arguments"]) == {"city": "Oslo"}
    i += 1
    assert types[i] == "response.mcp_call.completed", types
    i += 1
    item_done = events[i]
    assert item_done["type"] == "response.output_item.done", types
    assert item_done["output_index"] == 0
    _assert_mcp_call_item(item_done["item"], arguments=args_done["arguments"])
    assert item_done["item"]["id"] == mcp_id
    assert json.loads(item_done["item"]["output"]) == WEATHER
    i += 1

    # The assistant message at output_index 1, then completed.
    rest = types[i:]
    assert rest[:2] == ["response.output_item.added", "response.content_part.added"], rest
    assert rest[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ], rest
    msg_events = events[i:-1]
    assert all(e["output_index"] == 1 for e in msg_events), [(e["type"], e["output_index"]) for e in msg_events]
    assert "".join(e["delta"] for e in msg_events if e["type"] == "response.output_text.delta") == FINAL_TEXT

    # output_index values dense in the order added (check 10).
    added_idx = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert added_idx == [0, 1], added_idx

    final = events[-1]["response"]
    assert final["status"] == "completed"
    _assert_tool_turn_output(final["output"])
    assert final["output"][0]["id"] == mcp_id


def test_tool_turn_stream_helper(client: openai.OpenAI) -> None:
    """Check 15 for tool turns: the SDK helper's final response holds the server's call and the answer."""
    with client.responses.stream(model=SUPPORT_AGENT, input=f"CALL_TOOL Oslo {tag()}") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.status == "completed"
    assert [o.type for o in final.output] == ["mcp_call", "message"]
    assert json.loads(final.output[0].arguments) == {"city": "Oslo"}
    assert final.output_text == FINAL_TEXT


def test_tool_turn_is_retrieved_and_listed_as_server_tools(client: openai.OpenAI) -> None:
    """The stored response and the conversation show the same mcp_call item, with the same id."""
    conv = client.conversations.create()
    resp = client.responses.create(model=SUPPORT_AGENT, input=f"CALL_TOOL Oslo {tag()}", conversation=conv.id)
    got = client.responses.retrieve(resp.id)
    assert raw(got)["output"] == raw(resp)["output"]
    items = [raw(it) for it in client.conversations.items.list(conv.id, order="asc")]
    assert [it["type"] for it in items] == ["message", "mcp_call", "message"], items
    assert items[1] == raw(resp)["output"][0]


def test_function_call_output_input_rejected(client: openai.OpenAI) -> None:
    """A function_call_output input item (here at index 1) -> 400 whose param names that item."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=ECHO_AGENT,
            input=[
                {"role": "user", "content": "hello"},
                {"type": "function_call_output", "call_id": "call_abc", "output": "{}"},
            ],
        )
    assert_error(ei.value, 400, type="invalid_request_error")
    assert ei.value.param is not None and re.match(r"^input\[1\]", ei.value.param), ei.value.body


def test_empty_client_tools_accepted(client: openai.OpenAI) -> None:
    """`tools: []` is not a client tool and must be accepted."""
    resp = client.responses.create(model=ECHO_AGENT, input=f"no tools {tag()}", tools=[])
    assert resp.status == "completed"
