"""Streaming Responses API: checks 6-15 and 21 (reference/openai.md section 6)."""

from __future__ import annotations

import json

import openai
import pytest

from conftest import (
    ECHO_AGENT,
    SPEC_REQUIRED_RESPONSE_KEYS,
    SUPPORT_AGENT,
    assert_dense_sequence,
    assert_error,
    event_dicts,
    parse_sse_strict,
    raw,
    tag,
)

TEXT_EVENT_ORDER_HEAD = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
]
TEXT_EVENT_ORDER_TAIL = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_raw_sse_framing(http) -> None:
    """Checks 6, 7, 14: raw bytes: content-type, `event:`/`data:` framing, event == data.type,
    dense sequence numbers, no [DONE], connection closes right after the terminal event."""
    with http.stream(
        "POST", "responses", json={"model": SUPPORT_AGENT, "input": f"frame this {tag()}", "stream": True}
    ) as r:
        assert r.status_code == 200, r.read()
        ctype = r.headers.get("content-type", "")
        assert ctype.split(";")[0].strip() == "text/event-stream", ctype
        assert r.headers.get("x-request-id"), "stream response lacks x-request-id"
        body = r.read().decode("utf-8")
    assert "[DONE]" not in body, "Responses streams must not send data: [DONE]"
    events = parse_sse_strict(body)
    assert events, "empty stream"
    datas = []
    for ev in events:
        d = ev.json  # every data payload is valid JSON
        assert d.get("type") == ev.event, f"event line {ev.event!r} != data.type {d.get('type')!r}"
        datas.append(d)
    assert_dense_sequence(datas)
    assert datas[0]["type"] == "response.created"
    assert datas[-1]["type"] == "response.completed", "stream must end with the terminal event"
    # Lifecycle snapshots are full Response objects too (spec 2.2: "the full Response").
    for d in (datas[0], datas[1], datas[-1]):
        missing = [k for k in SPEC_REQUIRED_RESPONSE_KEYS if k not in d["response"]]
        assert not missing, f"{d['type']} snapshot lacks spec-required keys {missing}"
        assert isinstance(d["response"]["created_at"], int)
    # Nothing but the final blank line after the terminal event.
    last_data_line = f"data: {events[-1].data}\n\n"
    assert body.endswith(last_data_line), f"bytes after the terminal event: {body[-200:]!r}"


def test_stream_event_sequence_and_payloads(client: openai.OpenAI) -> None:
    """Checks 7-13 on the raw SDK iterator (`stream=True`)."""
    word = tag()
    expected_text = f"echo: stream me please {word}"
    stream = client.responses.create(model=SUPPORT_AGENT, input=f"stream me please {word}", stream=True)
    events = event_dicts(stream)
    types = [e["type"] for e in events]

    # Check 7: sequence numbers.
    assert_dense_sequence(events)

    # Check 9: event order for a plain text reply.
    n = len(TEXT_EVENT_ORDER_HEAD)
    assert types[:n] == TEXT_EVENT_ORDER_HEAD, types
    assert types[-len(TEXT_EVENT_ORDER_TAIL):] == TEXT_EVENT_ORDER_TAIL, types
    middle = types[n : -len(TEXT_EVENT_ORDER_TAIL)]
    assert middle and all(t == "response.output_text.delta" for t in middle), types
    assert len(middle) >= 2, f"the mock streams one delta per word; got {len(middle)}"

    created, in_progress = events[0], events[1]
    added, part_added = events[2], events[3]
    deltas = events[n : -len(TEXT_EVENT_ORDER_TAIL)]
    text_done, part_done, item_done, completed = events[-4:]

    # Check 8: created / in_progress snapshots.
    for ev in (created, in_progress):
        r = ev["response"]
        assert r["object"] == "response"
        assert r["status"] == "in_progress", r
        assert r["output"] == [], r
        assert r.get("usage", "missing") is None, f"usage must be null in {ev['type']}: {r.get('usage', 'missing')}"

    # Check 13: one response id throughout.
    rid = created["response"]["id"]
    assert rid.startswith("resp_"), rid
    assert in_progress["response"]["id"] == rid
    assert completed["response"]["id"] == rid

    # Check 10: item ids and indexes.
    item = added["item"]
    assert added["output_index"] == 0
    assert item["type"] == "message" and item["role"] == "assistant"
    assert item["id"].startswith("msg_"), item["id"]
    assert item["status"] == "in_progress"
    assert item["content"] == []
    for ev in [part_added, *deltas, text_done, part_done]:
        assert ev["item_id"] == item["id"], ev
        assert ev["output_index"] == 0, ev
        assert ev["content_index"] == 0, ev
    assert item_done["output_index"] == 0
    assert item_done["item"]["id"] == item["id"]
    assert part_added["part"]["type"] == "output_text"
    assert part_added["part"]["text"] == ""
    assert part_added["part"].get("annotations") == [], part_added["part"]
    assert part_done["part"].get("annotations") == [], part_done["part"]

    # Check 11: text consistency.
    joined = "".join(d["delta"] for d in deltas)
    assert joined == expected_text
    assert text_done["text"] == joined
    assert part_done["part"]["text"] == joined
    assert part_done["part"]["type"] == "output_text"
    final = completed["response"]
    final_texts = [
        c["text"] for it in final["output"] if it["type"] == "message" for c in it["content"] if c["type"] == "output_text"
    ]
    assert "".join(final_texts) == joined

    # Check 12: logprobs arrays on delta/done.
    for ev in [*deltas, text_done]:
        assert isinstance(ev.get("logprobs"), list), f"{ev['type']} lacks logprobs array: {ev}"

    # Check 13: completed holds every item, final.
    assert final["status"] == "completed"
    assert len(final["output"]) == 1
    assert final["output"][0]["id"] == item["id"]
    assert all(it.get("status") == "completed" for it in final["output"]), final["output"]
    assert item_done["item"]["status"] == "completed"
    assert item_done["item"]["content"][0]["text"] == joined
    u = final["usage"]
    assert u and u["total_tokens"] == u["input_tokens"] + u["output_tokens"], u


def test_stream_response_retrievable_after_completion(client: openai.OpenAI) -> None:
    """A streamed response (store default true) can be retrieved with the same id and text."""
    stream = client.responses.create(model=ECHO_AGENT, input=f"stored stream {tag()}", stream=True)
    events = event_dicts(stream)
    final = events[-1]["response"]
    got = client.responses.retrieve(final["id"])
    assert got.id == final["id"]
    assert got.status == "completed"
    assert got.output_text == "".join(
        c["text"] for it in final["output"] if it["type"] == "message" for c in it["content"]
    )


def test_stream_helper_final_response(client: openai.OpenAI) -> None:
    """Check 15: client.responses.stream(...).get_final_response()."""
    word = tag()
    expected = f"you said: helper stream {word}"
    snapshots = []
    with client.responses.stream(model=ECHO_AGENT, input=f"helper stream {word}") as stream:
        for ev in stream:
            if ev.type == "response.output_text.delta":
                snapshots.append(ev.snapshot)
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == expected
    assert final.id.startswith("resp_")
    assert snapshots and snapshots[-1] == expected, snapshots


def test_stream_helper_text_done_event(client: openai.OpenAI) -> None:
    """Check 15: helper accumulates; output_text.done arrives with the full text."""
    word = tag()
    with client.responses.stream(model=SUPPORT_AGENT, input=f"done event {word}") as stream:
        done = [ev for ev in stream if ev.type == "response.output_text.done"]
        final = stream.get_final_response()
    assert len(done) == 1
    assert done[0].text == f"echo: done event {word}"
    assert final.output_text == done[0].text


def test_stream_error_before_first_byte_is_json(client: openai.OpenAI, http) -> None:
    """Check 21: an error found before streaming starts is a non-2xx JSON error, not SSE."""
    r = http.post("responses", json={"model": "no-such-agent", "input": "hi", "stream": True})
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    err = r.json()["error"]
    assert err["code"] == "model_not_found"
    assert r.headers.get("x-request-id")

    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.create(model="no-such-agent", input="hi", stream=True)
    assert_error(ei.value, 404, code="model_not_found")

    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT,
            input="hi",
            stream=True,
            tools=[{"type": "web_search"}],
        )
    assert_error(ei.value, 400, param="tools[0]")

    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT, input="hi", stream=True, previous_response_id=f"resp_{tag()}{tag()}"
        )
    assert_error(ei.value, 400, param="previous_response_id", code="previous_response_not_found")


def test_stream_with_previous_response(client: openai.OpenAI) -> None:
    """A streamed turn chained with previous_response_id sees history and echoes the id."""
    first = client.responses.create(model=SUPPORT_AGENT, input=f"remember {tag()}")
    events = event_dicts(
        client.responses.create(
            model=SUPPORT_AGENT, input=f"streamed follow up {tag()}", previous_response_id=first.id, stream=True
        )
    )
    assert_dense_sequence(events)
    final = events[-1]
    assert final["type"] == "response.completed"
    assert final["response"]["previous_response_id"] == first.id
    assert final["response"]["usage"]["input_tokens"] >= first.usage.input_tokens + 2
    json.dumps(final)  # serialisable
