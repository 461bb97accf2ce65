"""Server-side tool calls: checks 16, 17, 18 (reference/openai.md section 6).

Mastra runs the agent's tools server-side, so a tool turn comes back as
function_call -> function_call_output -> message in one response. Client-executed
tools are out of scope by design: a client `function_call_output` input item (check 18)
and client `tools` are answered with a documented 400 naming the field.
"""

from __future__ import annotations

import json
import re

import openai
import pytest

from conftest import ECHO_AGENT, SUPPORT_AGENT, assert_dense_sequence, assert_error, event_dicts, raw, tag

WEATHER = {"city": "Oslo", "tempC": 21, "conditions": "sunny"}
FINAL_TEXT = 'tool get_weather returned: {"city":"Oslo","tempC":21,"conditions":"sunny"}'


def _assert_function_call_item(item: dict, *, status: str = "completed", arguments: str | None = None) -> None:
    """Check 17: function_call item shape."""
    assert item["type"] == "function_call", item
    assert isinstance(item.get("id"), str) and item["id"].startswith("fc_"), item
    assert isinstance(item.get("call_id"), str) and item["call_id"].startswith("call_"), item
    assert item["name"] == "get_weather", item
    assert isinstance(item["arguments"], str), f"arguments must be a JSON string: {item}"
    assert item["status"] == status, item
    if arguments is not None:
        assert item["arguments"] == arguments, item


def _assert_tool_turn_output(output: list[dict]) -> None:
    assert [it["type"] for it in output] == ["function_call", "function_call_output", "message"], output
    fc, fco, msg = output
    _assert_function_call_item(fc)
    assert json.loads(fc["arguments"]) == {"city": "Oslo"}
    assert fco["call_id"] == fc["call_id"], (fc, fco)
    assert isinstance(fco.get("id"), str) and fco["id"], fco
    assert fco["id"] != fc["id"]
    assert isinstance(fco["output"], str), fco
    assert json.loads(fco["output"]) == WEATHER, fco
    assert msg["role"] == "assistant" and msg["id"].startswith("msg_"), msg
    assert msg["status"] == "completed"
    assert "".join(c["text"] for c in msg["content"] if c["type"] == "output_text") == FINAL_TEXT
    assert len({it["id"] for it in output}) == 3, "item ids must be distinct"


def test_tool_turn_non_stream(client: openai.OpenAI) -> None:
    """Checks 17 (+18's 'model sees the tool result'): function_call, function_call_output, message."""
    resp = client.responses.create(model=SUPPORT_AGENT, input=f"CALL_TOOL Oslo {tag()}")
    assert resp.status == "completed"
    assert resp.id.startswith("resp_")
    _assert_tool_turn_output(raw(resp)["output"])
    assert resp.output_text == FINAL_TEXT
    fc = resp.output[0]
    assert fc.type == "function_call" and fc.call_id.startswith("call_")


def test_tool_turn_stream_events(client: openai.OpenAI) -> None:
    """Check 16: added(function_call, arguments "") -> arguments.delta+ -> arguments.done -> item.done,
    then the function_call_output item and the message; completed holds all three."""
    events = event_dicts(client.responses.create(model=SUPPORT_AGENT, input=f"CALL_TOOL Oslo {tag()}", stream=True))
    assert_dense_sequence(events)
    types = [e["type"] for e in events]
    assert types[:2] == ["response.created", "response.in_progress"], types
    assert types[-1] == "response.completed", types

    # The function call at output_index 0.
    i = 2
    added = events[i]
    assert added["type"] == "response.output_item.added", types
    assert added["output_index"] == 0
    _assert_function_call_item(added["item"], status="in_progress", arguments="")
    fc_id = added["item"]["id"]
    i += 1
    deltas = []
    while events[i]["type"] == "response.function_call_arguments.delta":
        deltas.append(events[i])
        i += 1
    assert deltas, f"no function_call_arguments.delta events: {types}"
    for d in deltas:
        assert d["item_id"] == fc_id and d["output_index"] == 0, d
    args_done = events[i]
    assert args_done["type"] == "response.function_call_arguments.done", types
    assert args_done["item_id"] == fc_id and args_done["output_index"] == 0
    assert args_done["arguments"] == "".join(d["delta"] for d in deltas)
    assert json.loads(args_done["arguments"]) == {"city": "Oslo"}
    i += 1
    item_done = events[i]
    assert item_done["type"] == "response.output_item.done", types
    assert item_done["output_index"] == 0
    _assert_function_call_item(item_done["item"], arguments=args_done["arguments"])
    assert item_done["item"]["id"] == fc_id
    assert item_done["item"]["call_id"] == added["item"]["call_id"]
    i += 1

    # The function_call_output at output_index 1.
    assert types[i] == "response.output_item.added", types
    assert events[i]["output_index"] == 1
    assert events[i]["item"]["type"] == "function_call_output"
    fco_id = events[i]["item"]["id"]
    i += 1
    assert types[i] == "response.output_item.done", types
    assert events[i]["output_index"] == 1 and events[i]["item"]["id"] == fco_id
    assert events[i]["item"]["call_id"] == added["item"]["call_id"]
    assert json.loads(events[i]["item"]["output"]) == WEATHER
    i += 1

    # The assistant message at output_index 2, then completed.
    rest = types[i:]
    assert rest[:2] == ["response.output_item.added", "response.content_part.added"], rest
    assert rest[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ], rest
    msg_events = events[i:-1]
    assert all(e["output_index"] == 2 for e in msg_events), [(e["type"], e["output_index"]) for e in msg_events]
    assert "".join(e["delta"] for e in msg_events if e["type"] == "response.output_text.delta") == FINAL_TEXT

    # output_index values dense in the order added (check 10).
    added_idx = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert added_idx == [0, 1, 2], added_idx

    final = events[-1]["response"]
    assert final["status"] == "completed"
    _assert_tool_turn_output(final["output"])
    assert final["output"][0]["id"] == fc_id


def test_tool_turn_stream_helper_snapshot(client: openai.OpenAI) -> None:
    """Check 16: the SDK helper's arguments snapshot equals the final arguments; check 15 for tool turns."""
    snapshots = []
    with client.responses.stream(model=SUPPORT_AGENT, input=f"CALL_TOOL Oslo {tag()}") as stream:
        for ev in stream:
            if ev.type == "response.function_call_arguments.delta":
                snapshots.append(ev.snapshot)
        final = stream.get_final_response()
    assert snapshots, "no function_call_arguments.delta seen by the helper"
    assert snapshots[-1] == '{"city":"Oslo"}', snapshots
    assert final.status == "completed"
    assert final.output[0].type == "function_call"
    assert final.output[0].arguments == snapshots[-1]
    assert final.output_text == FINAL_TEXT


def test_function_call_output_followup_rejected(client: openai.OpenAI) -> None:
    """Check 18, adapted: Mastra runs tools server-side, so a client function_call_output follow-up
    (previous_response_id + function_call_output) is rejected by design with a 400 naming the input item."""
    first = client.responses.create(model=SUPPORT_AGENT, input=f"CALL_TOOL Oslo {tag()}")
    call_id = first.output[0].call_id
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT,
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call_id, "output": json.dumps(WEATHER)}],
        )
    assert_error(ei.value, 400, type="invalid_request_error")
    assert ei.value.param is not None and re.match(r"^input\[0\]", ei.value.param), ei.value.body


def test_function_call_output_input_rejected_without_previous(client: openai.OpenAI) -> None:
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


def test_client_tools_rejected(client: openai.OpenAI) -> None:
    """Non-empty client `tools` -> 400 with param `tools` (the agent's tools run server-side)."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT,
            input="what is the weather in Oslo?",
            tools=[
                {
                    "type": "function",
                    "name": "get_weather",
                    "description": "weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "strict": False,
                }
            ],
        )
    assert_error(ei.value, 400, type="invalid_request_error", param="tools")


def test_empty_client_tools_accepted(client: openai.OpenAI) -> None:
    """`tools: []` is not a client tool and must be accepted."""
    resp = client.responses.create(model=ECHO_AGENT, input=f"no tools {tag()}", tools=[])
    assert resp.status == "completed"
