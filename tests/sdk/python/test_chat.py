"""Chat Completions (reference/openai.md section 5 and check 45) on the same engine as Responses:
plain, streamed with include_usage, structured output (`chat.completions.parse`), the tool loop
(stream and not, parallel calls), Mastra's own tool turns (only the answer), the refusals, and
the opt-in thread header.
"""

from __future__ import annotations

import json

import openai
import pytest
from pydantic import BaseModel

from conftest import SUPPORT_AGENT, assert_error, raw, tag

GET_TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "The current time in a time zone.",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}
GET_DATE = {"type": "function", "function": {**GET_TIME["function"], "name": "get_date"}}


def test_plain(client: openai.OpenAI) -> None:
    """Check 45, non-stream: object chat.completion, the answer, finish_reason stop, usage."""
    word = tag()
    r = client.chat.completions.create(model=SUPPORT_AGENT, messages=[{"role": "user", "content": f"hello {word}"}])
    body = raw(r)
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == SUPPORT_AGENT
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop" and choice["logprobs"] is None
    assert choice["message"] == {
        "role": "assistant",
        "content": f"echo: hello {word}",
        "refusal": None,
        "annotations": [],
    }
    u = body["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert u["prompt_tokens_details"]["cached_tokens"] == 0
    assert u["completion_tokens_details"]["reasoning_tokens"] == 0
    assert r._request_id and r._request_id.startswith("req_")


def test_stream_with_usage(client: openai.OpenAI, http) -> None:
    """Check 45, stream: data-only chunk lines, role first, finish_reason on the last choice
    chunk, a usage chunk with choices [] (usage null on the others), then data: [DONE]."""
    word = tag()
    chunks = list(
        client.chat.completions.create(
            model=SUPPORT_AGENT,
            messages=[{"role": "user", "content": f"streamed {word}"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"echo: streamed {word}"
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in with_choices[:-1])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    # The wire: no event: lines, [DONE] last.
    r = http.post(
        "chat/completions",
        json={"model": SUPPORT_AGENT, "messages": [{"role": "user", "content": "wire"}], "stream": True},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    assert "event:" not in r.text
    assert r.text.endswith("data: [DONE]\n\n")
    assert '"usage"' not in r.text, "no usage key without include_usage"


def test_structured_output_parse(client: openai.OpenAI) -> None:
    class Echo(BaseModel):
        echo: str

    word = tag()
    parse = client.beta.chat.completions.parse if hasattr(client, "beta") and hasattr(client.beta, "chat") else None
    parse = getattr(client.chat.completions, "parse", None) or parse
    r = parse(model=SUPPORT_AGENT, messages=[{"role": "user", "content": f"parse {word}"}], response_format=Echo)
    assert r.choices[0].message.parsed == Echo(echo=f"parse {word}")
    j = client.chat.completions.create(
        model=SUPPORT_AGENT,
        messages=[{"role": "user", "content": "as json"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(j.choices[0].message.content), dict)


def test_tool_loop(client: openai.OpenAI) -> None:
    """tool_calls with finish_reason tool_calls; the assistant message + tool message continue."""
    messages = [{"role": "user", "content": f'CALL_CLIENT get_time {{"tz":"UTC"}} {tag()}'}]
    r = client.chat.completions.create(model=SUPPORT_AGENT, messages=messages, tools=[GET_TIME])
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_time"
    assert json.loads(call.function.arguments) == {"tz": "UTC"}
    assert raw(r)["choices"][0]["message"]["content"] is None
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "12:00"},
    ]
    r2 = client.chat.completions.create(model=SUPPORT_AGENT, messages=messages, tools=[GET_TIME])
    assert r2.choices[0].message.content == 'tool get_time returned: "12:00"'
    assert r2.choices[0].finish_reason == "stop"


def test_tool_loop_streamed_and_parallel(client: openai.OpenAI) -> None:
    """Streamed tool_calls: index, then id and name on each call's first delta, arguments in
    pieces; two calls in one step."""
    chunks = list(
        client.chat.completions.create(
            model=SUPPORT_AGENT,
            messages=[{"role": "user", "content": f"CALL_MULTI get_time,get_date {tag()}"}],
            tools=[GET_TIME, GET_DATE],
            stream=True,
        )
    )
    calls: dict[int, dict] = {}
    for c in chunks:
        for d in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            slot = calls.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
            if d.id:
                assert slot["id"] is None, "id only on the first delta"
                slot["id"] = d.id
                slot["name"] = d.function.name
            slot["arguments"] += d.function.arguments or ""
    assert sorted(calls) == [0, 1]
    assert [calls[i]["name"] for i in (0, 1)] == ["get_time", "get_date"]
    assert all(json.loads(calls[i]["arguments"]) for i in (0, 1))
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    messages = [
        {"role": "user", "content": "CALL_MULTI get_time,get_date"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": calls[i]["id"], "type": "function", "function": {"name": calls[i]["name"], "arguments": calls[i]["arguments"]}}
                for i in (0, 1)
            ],
        },
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "12:00"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "Monday"},
    ]
    r = client.chat.completions.create(model=SUPPORT_AGENT, messages=messages, tools=[GET_TIME, GET_DATE])
    assert "12:00" in r.choices[0].message.content and "Monday" in r.choices[0].message.content


def test_server_tool_shows_the_answer_only(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model=SUPPORT_AGENT, messages=[{"role": "user", "content": "CALL_TOOL Rome"}])
    assert r.choices[0].message.tool_calls is None
    assert r.choices[0].finish_reason == "stop"
    assert "get_weather returned" in r.choices[0].message.content


def test_settings_reach_the_model(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model=SUPPORT_AGENT,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "ECHO_OPTIONS"}],
        max_tokens=300,
        temperature=0.4,
        top_p=0.7,
        stop=["END"],
        seed=3,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        tools=[GET_TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    seen = json.loads(r.choices[0].message.content)
    assert (seen["maxOutputTokens"], seen["temperature"], seen["topP"], seen["seed"]) == (300, 0.4, 0.7, 3)
    assert seen["stopSequences"] == ["END"]
    assert (seen["presencePenalty"], seen["frequencyPenalty"]) == (0.5, 0.25)
    assert seen["toolChoice"] == {"type": "tool", "toolName": "get_time"}
    assert "Be brief." in seen["system"]
    cut = client.chat.completions.create(
        model=SUPPORT_AGENT, messages=[{"role": "user", "content": "WORDS 40"}], max_completion_tokens=16
    )
    assert cut.choices[0].finish_reason == "length"
    assert len(cut.choices[0].message.content.split()) == 16


def test_refusals(client: openai.OpenAI) -> None:
    msgs = [{"role": "user", "content": "x"}]
    for kwargs, param in [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools[0].function.name"),
    ]:
        args = {"model": SUPPORT_AGENT, "messages": msgs, **kwargs}
        with pytest.raises(openai.BadRequestError) as ei:
            client.chat.completions.create(**args)
        assert_error(ei.value, 400, type="invalid_request_error", param=param)
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="no-such-agent", messages=msgs)
    assert_error(ei.value, 404, code="model_not_found")
    # An error before the stream starts is JSON, not SSE.
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-agent", messages=msgs, stream=True)


def test_mid_stream_failure_raises(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=SUPPORT_AGENT, messages=[{"role": "user", "content": "MIDSTREAM_ERROR"}], stream=True
    )
    with pytest.raises(openai.APIError) as ei:
        for _ in stream:
            pass
    assert "mock midstream failure" in str(ei.value)
    assert "node_modules" not in str(ei.value)


def test_thread_header_opts_into_memory(client: openai.OpenAI) -> None:
    """With x-mastra-thread-id the call runs in that conversation's thread: the history comes
    from Mastra (the client sends only the new message) and the turn is stored there."""
    conv = client.conversations.create()
    word = tag()
    headers = {"x-mastra-thread-id": conv.id}
    client.chat.completions.create(
        model=SUPPORT_AGENT, messages=[{"role": "user", "content": f"remember {word}"}], extra_headers=headers
    )
    r = client.chat.completions.create(
        model=SUPPORT_AGENT, messages=[{"role": "user", "content": "ECHO_OPTIONS"}], extra_headers=headers
    )
    assert json.loads(r.choices[0].message.content)["roles"] == ["system", "user", "assistant", "user"]
    items = [raw(i) for i in client.conversations.items.list(conv.id, order="asc")]
    assert [i["role"] for i in items][:2] == ["user", "assistant"]
    assert items[0]["content"][0]["text"] == f"remember {word}"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=SUPPORT_AGENT,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-mastra-thread-id": f"conv_{tag()}{tag()}"},
        )
