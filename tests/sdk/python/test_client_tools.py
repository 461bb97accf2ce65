"""The caller's own function tools (reference/openai.md section 6, checks 16-18), the documented
function-calling loop in its three continuation forms (previous_response_id, conversation, the
whole history replayed in `input`), streamed and not; parallel calls; a forced tool_choice;
the refusals.

The fixture's mock model calls a client tool on `CALL_CLIENT <tool> <json>` when the tool was
offered, and on `CALL_MULTI a,b` calls each offered tool of the list in one step; once the
results come back it answers `tool <name> returned: "<output>"` (several: joined by ` ; `).
"""

from __future__ import annotations

import json

import openai
import pytest

from conftest import SUPPORT_AGENT, assert_dense_sequence, assert_error, event_dicts, raw, tag

GET_TIME = {
    "type": "function",
    "name": "get_time",
    "description": "The current time in a time zone.",
    "parameters": {
        "type": "object",
        "properties": {"tz": {"type": "string"}},
        "required": ["tz"],
        "additionalProperties": False,
    },
    "strict": True,
}
GET_DATE = {**GET_TIME, "name": "get_date", "description": "Today's date in a time zone."}


def _ask(tz: str) -> str:
    return f'CALL_CLIENT get_time {{"tz":"{tz}"}} {tag()}'


def _call(resp) -> dict:
    """The response's single function_call item (check 17), as the wire has it."""
    out = raw(resp)["output"]
    assert [o["type"] for o in out] == ["function_call"], out
    fc = out[0]
    assert fc["id"].startswith("fc_") and fc["call_id"].startswith("call_"), fc
    assert fc["name"] == "get_time" and fc["status"] == "completed", fc
    assert isinstance(fc["arguments"], str), fc
    return fc


def test_call_then_previous_response_id(client: openai.OpenAI) -> None:
    """Check 18: the call ends the turn (status completed); previous_response_id + the output
    continues it and the model sees the result."""
    first = client.responses.create(model=SUPPORT_AGENT, input=_ask("UTC"), tools=[GET_TIME])
    assert first.status == "completed"
    fc = _call(first)
    assert json.loads(fc["arguments"]) == {"tz": "UTC"}
    assert raw(first)["tools"][0]["name"] == "get_time"
    second = client.responses.create(
        model=SUPPORT_AGENT,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": fc["call_id"], "output": "12:00 in UTC"}],
        tools=[GET_TIME],
    )
    assert second.status == "completed"
    assert second.output_text == 'tool get_time returned: "12:00 in UTC"'
    assert second.previous_response_id == first.id
    # Stored as shown.
    assert client.responses.retrieve(second.id).output_text == second.output_text


def test_call_then_whole_history(client: openai.OpenAI) -> None:
    """The stateless form (as the Agents SDK and the AI SDK loop): the history replayed."""
    ask = _ask("CET")
    first = client.responses.create(model=SUPPORT_AGENT, input=ask, tools=[GET_TIME])
    fc = _call(first)
    history = [{"role": "user", "content": ask}, *[raw(o) for o in first.output]]
    for store in (True, False):
        second = client.responses.create(
            model=SUPPORT_AGENT,
            input=[*history, {"type": "function_call_output", "call_id": fc["call_id"], "output": "13:00"}],
            tools=[GET_TIME],
            store=store,
        )
        assert second.output_text == 'tool get_time returned: "13:00"', store


def test_call_then_conversation(client: openai.OpenAI) -> None:
    """Both turns in one conversation: its items are the call, its output and the answer, in
    order, with the ids the responses showed; the model sees one call/result pair."""
    conv = client.conversations.create()
    ask = _ask("JST")
    first = client.responses.create(model=SUPPORT_AGENT, input=ask, tools=[GET_TIME], conversation=conv.id)
    fc = _call(first)
    second = client.responses.create(
        model=SUPPORT_AGENT,
        conversation=conv.id,
        input=[{"type": "function_call_output", "call_id": fc["call_id"], "output": "20:00"}],
        tools=[GET_TIME],
    )
    assert second.output_text == 'tool get_time returned: "20:00"'
    items = [raw(i) for i in client.conversations.items.list(conv.id, order="asc")]
    assert [i["type"] for i in items] == ["message", "function_call", "function_call_output", "message"], items
    assert items[1]["id"] == fc["id"] and items[1]["call_id"] == fc["call_id"]
    assert items[2]["call_id"] == fc["call_id"] and items[2]["output"] == "20:00"
    assert items[3]["id"] == raw(second)["output"][0]["id"]
    third = client.responses.create(model=SUPPORT_AGENT, conversation=conv.id, input="ECHO_OPTIONS")
    assert json.loads(third.output_text)["roles"] == ["system", "user", "assistant", "tool", "assistant", "user"]


def test_streamed_call_events(client: openai.OpenAI) -> None:
    """Check 16: output_item.added(function_call, arguments ""), function_call_arguments.delta+,
    .done(arguments), output_item.done; the snapshot's arguments equal the final ones."""
    with client.responses.stream(model=SUPPORT_AGENT, input=_ask("UTC"), tools=[GET_TIME]) as stream:
        events = [e.model_dump() for e in stream]
        final = stream.get_final_response()
    assert_dense_sequence(events)
    types = [e["type"] for e in events]
    assert types[2] == "response.output_item.added" and events[2]["item"]["type"] == "function_call", types
    assert events[2]["item"]["arguments"] == ""
    deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert deltas and "".join(d["delta"] for d in deltas) == done["arguments"]
    item_done = next(e for e in events if e["type"] == "response.output_item.done")
    assert types.index("response.function_call_arguments.done") < types.index("response.output_item.done")
    assert item_done["item"]["arguments"] == done["arguments"] == final.output[0].arguments
    assert types[-1] == "response.completed"
    # The streamed continuation.
    with client.responses.stream(
        model=SUPPORT_AGENT,
        previous_response_id=final.id,
        input=[{"type": "function_call_output", "call_id": final.output[0].call_id, "output": "noon"}],
        tools=[GET_TIME],
    ) as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert text == 'tool get_time returned: "noon"'


def test_parallel_calls(client: openai.OpenAI) -> None:
    """Two calls in one step: two function_call items; both outputs continue the turn."""
    first = client.responses.create(
        model=SUPPORT_AGENT, input=f"CALL_MULTI get_time,get_date {tag()}", tools=[GET_TIME, GET_DATE]
    )
    calls = raw(first)["output"]
    assert [(c["type"], c["name"]) for c in calls] == [("function_call", "get_time"), ("function_call", "get_date")]
    assert len({c["call_id"] for c in calls}) == 2
    second = client.responses.create(
        model=SUPPORT_AGENT,
        previous_response_id=first.id,
        input=[
            {"type": "function_call_output", "call_id": calls[0]["call_id"], "output": "12:00"},
            {"type": "function_call_output", "call_id": calls[1]["call_id"], "output": "Monday"},
        ],
        tools=[GET_TIME, GET_DATE],
    )
    assert "12:00" in second.output_text and "Monday" in second.output_text, second.output_text


def test_forced_tool_choice(client: openai.OpenAI) -> None:
    """tool_choice {type: function, name} reaches the model as Mastra's forced tool."""
    resp = client.responses.create(
        model=SUPPORT_AGENT,
        input="ECHO_OPTIONS",
        tools=[GET_TIME],
        tool_choice={"type": "function", "name": "get_time"},
    )
    seen = json.loads(resp.output_text)
    assert seen["toolChoice"] == {"type": "tool", "toolName": "get_time"}
    assert "get_time" in seen["tools"]
    assert raw(resp)["tool_choice"] == {"type": "function", "name": "get_time"}


def test_refusals(client: openai.OpenAI) -> None:
    """An output for no known call, a hosted tool type, and a forced tool not offered: 400 naming
    the field; nothing reaches the model."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT, input=[{"type": "function_call_output", "call_id": "call_nope", "output": "x"}]
        )
    assert_error(ei.value, 400, type="invalid_request_error", param="input[0]")
    assert "call_nope" in ei.value.message
    first = client.responses.create(model=SUPPORT_AGENT, input=_ask("UTC"), tools=[GET_TIME])
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT,
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": "call_other", "output": "x"}],
        )
    assert_error(ei.value, 400, type="invalid_request_error", param="input[0]")
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(model=SUPPORT_AGENT, input="hi", tools=[{"type": "web_search"}])
    assert_error(ei.value, 400, type="invalid_request_error", param="tools[0]")
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT, input="hi", tools=[GET_TIME], tool_choice={"type": "function", "name": "get_date"}
        )
    assert_error(ei.value, 400, type="invalid_request_error", param="tool_choice")


def test_item_reference_replay(client: openai.OpenAI) -> None:
    """The AI SDK's multi-turn: earlier output items sent back as item_reference."""
    word = tag()
    first = client.responses.create(model=SUPPORT_AGENT, input=f"CALL_TOOL Rome {word}")
    refs = [{"type": "item_reference", "id": o.id} for o in first.output]
    second = client.responses.create(
        model=SUPPORT_AGENT,
        input=[{"role": "user", "content": f"CALL_TOOL Rome {word}"}, *refs, {"role": "user", "content": "ECHO_OPTIONS"}],
    )
    # The referenced tool call and answer reached the model as history.
    assert json.loads(second.output_text)["roles"] == ["system", "user", "assistant", "tool", "assistant", "user"]
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT, input=[{"type": "item_reference", "id": "msg_" + "0" * 32}, {"role": "user", "content": "x"}]
        )
    assert_error(ei.value, 400, type="invalid_request_error", param="input[0]")


def test_replay_into_a_conversation_stores_nothing_twice(client: openai.OpenAI) -> None:
    """A client that keeps sending the whole history along with `conversation` (or
    previous_response_id): what the thread holds is not stored, nor sent to the model, again."""
    conv = client.conversations.create()
    ask = _ask("UTC")
    first = client.responses.create(model=SUPPORT_AGENT, input=ask, tools=[GET_TIME], conversation=conv.id)
    fc = _call(first)
    history = [raw(i) for i in client.conversations.items.list(conv.id, order="asc")]
    second = client.responses.create(
        model=SUPPORT_AGENT,
        conversation=conv.id,
        input=[*history, {"type": "function_call_output", "call_id": fc["call_id"], "output": "09:00"}],
        tools=[GET_TIME],
    )
    assert second.output_text == 'tool get_time returned: "09:00"'
    history = [raw(i) for i in client.conversations.items.list(conv.id, order="asc")]
    third = client.responses.create(
        model=SUPPORT_AGENT,
        conversation=conv.id,
        input=[*history, {"role": "user", "content": "ECHO_OPTIONS"}],
    )
    assert json.loads(third.output_text)["roles"] == ["system", "user", "assistant", "tool", "assistant", "user"]
    kinds = [i.type for i in client.conversations.items.list(conv.id, order="asc")]
    assert kinds == ["message", "function_call", "function_call_output", "message", "message", "message"], kinds
    # The same with previous_response_id: the replayed turn is not repeated.
    fourth = client.responses.create(
        model=SUPPORT_AGENT,
        previous_response_id=third.id,
        input=[*[raw(o) for o in third.output], {"role": "user", "content": "ECHO_OPTIONS"}],
    )
    assert json.loads(fourth.output_text)["roles"] == ["system", "user", "assistant", "tool", "assistant", "user", "assistant", "user"]
