"""The Conversations API and responses.input_items through the official SDK.

Checks 27-28 and 31-39 of reference/openai.md section 6, plus the long-thread paging and the
interoperability with Mastra's own API that the gateway promises (DESIGN.md section 2: a
conversation is a Mastra memory thread, its items are the thread's messages).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import httpx
import openai
import pytest

from conftest import (
    MASTRA_URL,
    SUPPORT_AGENT,
    RecordingClient,
    assert_error,
    new_thread,
    raw,
    tag,
)


def _msgs(texts: list[str]) -> list[dict]:
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]} for t in texts]


def _text(item) -> str:
    return "".join(getattr(c, "text", "") or "" for c in (getattr(item, "content", None) or []))


def _afters(requests: list[httpx.Request]) -> list[str | None]:
    return [parse_qs(urlsplit(str(r.url)).query).get("after", [None])[0] for r in requests]


def _not_found(exc: openai.NotFoundError, conv_id: str) -> None:
    assert_error(exc, 404, type="invalid_request_error")
    assert exc.body["message"] == f"Conversation with id '{conv_id}' not found.", exc.body


# --------------------------------------------------------------------------- conversations


def test_create_with_items_and_metadata(client: openai.OpenAI) -> None:
    """Check 31: {id: "conv_...", object: "conversation", created_at: int, metadata}."""
    conv = client.conversations.create(items=_msgs([f"hello {tag()}"]), metadata={"topic": "demo"})
    d = raw(conv)
    assert set(d) == {"id", "object", "created_at", "metadata"}, d
    assert d["id"].startswith("conv_")
    assert d["object"] == "conversation"
    assert isinstance(d["created_at"], int)
    assert d["metadata"] == {"topic": "demo"}
    empty = raw(client.conversations.create())
    assert empty["metadata"] == {}


def test_update_replaces_metadata(client: openai.OpenAI) -> None:
    """Check 32: update replaces the metadata and returns the Conversation; retrieve reflects it."""
    conv = client.conversations.create(metadata={"a": "1", "b": "2"})
    upd = client.conversations.update(conv.id, metadata={"c": "3"})
    assert raw(upd)["object"] == "conversation"
    assert upd.id == conv.id and upd.created_at == conv.created_at
    assert upd.metadata == {"c": "3"}
    assert client.conversations.retrieve(conv.id).metadata == {"c": "3"}


@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({f"k{i}": "v" for i in range(17)}, id="17-keys"),
        pytest.param({"k" * 65: "v"}, id="65-char-key"),
        pytest.param({"k": "v" * 513}, id="513-char-value"),
    ],
)
def test_metadata_limits(client: openai.OpenAI, metadata: dict) -> None:
    """Check 33: on create and on update -> 400 invalid_request_error, param "metadata"."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.conversations.create(metadata=metadata)
    assert_error(ei.value, 400, type="invalid_request_error", param="metadata")
    conv = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as ei:
        client.conversations.update(conv.id, metadata=metadata)
    assert_error(ei.value, 400, type="invalid_request_error", param="metadata")


def test_metadata_at_the_limits_is_accepted(client: openai.OpenAI) -> None:
    md = {f"k{i:02d}" + "x" * 61: "v" * 512 for i in range(16)}
    assert client.conversations.create(metadata=md).metadata == md


def test_delete(client: openai.OpenAI) -> None:
    """Check 34: {id, object: "conversation.deleted", deleted: true}; then retrieve and a second
    delete are 404."""
    conv = client.conversations.create(items=_msgs(["bye"]))
    d = raw(client.conversations.delete(conv.id))
    assert d == {"id": conv.id, "object": "conversation.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as ei:
        client.conversations.retrieve(conv.id)
    _not_found(ei.value, conv.id)
    with pytest.raises(openai.NotFoundError) as ei:
        client.conversations.delete(conv.id)
    _not_found(ei.value, conv.id)


def test_unknown_conversation_404(client: openai.OpenAI) -> None:
    """Check 35: every route with an unknown conversation -> 404 with OpenAI's message."""
    bogus = f"conv_{tag()}"
    calls = [
        lambda: client.conversations.retrieve(bogus),
        lambda: client.conversations.update(bogus, metadata={"a": "b"}),
        lambda: client.conversations.delete(bogus),
        lambda: client.conversations.items.list(bogus),
        lambda: client.conversations.items.create(bogus, items=_msgs(["x"])),
        lambda: client.conversations.items.retrieve("msg_x", conversation_id=bogus),
        lambda: client.conversations.items.delete("msg_x", conversation_id=bogus),
        lambda: client.responses.create(model=SUPPORT_AGENT, input="x", conversation=bogus),
    ]
    for call in calls:
        with pytest.raises(openai.NotFoundError) as ei:
            call()
        _not_found(ei.value, bogus)


# ----------------------------------------------------------------------------------- items


def test_items_create(client: openai.OpenAI) -> None:
    """Check 36: 2 items created, each with id and status "completed"; more than 20 -> 400."""
    conv = client.conversations.create()
    created = client.conversations.items.create(conv.id, items=_msgs(["one", "two"]))
    d = raw(created)
    assert d["object"] == "list" and d["has_more"] is False
    assert len(created.data) == 2
    assert all(it.id and it.status == "completed" for it in created.data)
    assert d["first_id"] == created.data[0].id and d["last_id"] == created.data[1].id
    assert [_text(it) for it in created.data] == ["one", "two"]
    with pytest.raises(openai.BadRequestError) as ei:
        client.conversations.items.create(conv.id, items=_msgs([str(i) for i in range(21)]))
    assert_error(ei.value, 400, type="invalid_request_error", param="items")
    with pytest.raises(openai.BadRequestError):
        client.conversations.create(items=_msgs([str(i) for i in range(21)]))
    # Exactly 20 is fine, and nothing was added by the refused calls.
    client.conversations.items.create(conv.id, items=_msgs([str(i) for i in range(20)]))
    assert len(list(client.conversations.items.list(conv.id, limit=100))) == 22


def test_items_round_trip_unchanged(client: openai.OpenAI) -> None:
    """Items created through the API (all message roles, tool call and output) list back with
    the same ids, order and content."""
    items = [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "be brief"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
        {"type": "function_call", "call_id": "call_rt1", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_rt1", "output": '{"tempC": 3}'},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "cold"}]},
    ]
    conv = client.conversations.create(items=items)
    listed = [raw(it) for it in client.conversations.items.list(conv.id, order="asc")]
    assert [(i["type"], i.get("role")) for i in listed] == [
        ("message", "developer"),
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "assistant"),
    ]
    assert listed[2]["id"] == "fc_rt1" and listed[2]["call_id"] == "call_rt1"
    assert listed[2]["arguments"] == '{"city": "Oslo"}'
    assert listed[3]["id"] == "fco_rt1" and listed[3]["output"] == '{"tempC": 3}'
    assert listed[4]["content"][0]["type"] == "output_text" and listed[4]["content"][0]["text"] == "cold"
    added = client.conversations.items.create(conv.id, items=items[:2])
    again = [raw(it) for it in client.conversations.items.list(conv.id, order="desc", limit=2).data]
    assert again == list(reversed([raw(it) for it in added.data]))


def test_items_auto_pagination(recording_client: RecordingClient) -> None:
    """Check 37: limit=3 in both orders yields every item in order; the SDK sends
    after=<last_id>; has_more is false on the last page."""
    client = recording_client.client
    texts = [f"item {i} {tag()}" for i in range(7)]
    conv = client.conversations.create(items=_msgs(texts))
    for order, want in (("asc", texts), ("desc", list(reversed(texts)))):
        n_before = len(recording_client.requests)
        pages = list(client.conversations.items.list(conv.id, limit=3, order=order).iter_pages())
        items = [it for p in pages for it in p.data]
        assert [_text(it) for it in items] == want
        assert [len(p.data) for p in pages] == [3, 3, 1]
        assert [p.has_more for p in pages] == [True, True, False]
        for p in pages:
            assert p.first_id == p.data[0].id and p.last_id == p.data[-1].id
        assert _afters(recording_client.requests[n_before:]) == [None, pages[0].last_id, pages[1].last_id]
    # Default order is desc.
    assert [_text(it) for it in client.conversations.items.list(conv.id)] == list(reversed(texts))


def test_items_retrieve_delete(client: openai.OpenAI) -> None:
    """Check 38: items.retrieve returns the item; items.delete returns the Conversation and the
    item is gone from the list."""
    conv = client.conversations.create(items=_msgs(["keep", "drop"]), metadata={"m": "1"})
    items = list(client.conversations.items.list(conv.id, order="asc"))
    drop = items[1]
    got = client.conversations.items.retrieve(drop.id, conversation_id=conv.id)
    assert raw(got) == raw(drop)
    after_delete = client.conversations.items.delete(drop.id, conversation_id=conv.id)
    d = raw(after_delete)
    assert d == {"id": conv.id, "object": "conversation", "created_at": conv.created_at, "metadata": {"m": "1"}}
    assert [it.id for it in client.conversations.items.list(conv.id)] == [items[0].id]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.retrieve(drop.id, conversation_id=conv.id)


def test_include_is_accepted_in_bracket_form(recording_client: RecordingClient) -> None:
    """include[] on items list/retrieve/create is accepted (the SDK sends include[]=...)."""
    client = recording_client.client
    conv = client.conversations.create(items=_msgs(["x"]))
    inc = ["message.output_text.logprobs", "reasoning.encrypted_content"]
    page = client.conversations.items.list(conv.id, include=inc)
    assert "include%5B%5D=" in str(recording_client.requests[-1].url) or "include[]=" in str(
        recording_client.requests[-1].url
    )
    client.conversations.items.retrieve(page.data[0].id, conversation_id=conv.id, include=inc)
    client.conversations.items.create(conv.id, items=_msgs(["y"]), include=inc)


# ------------------------------------------------------------------ responses + conversations


def test_responses_append_to_conversation(client: openai.OpenAI) -> None:
    """Check 39: conversation="conv_..." and {"id": ...} echo response.conversation.id, and the
    conversation gains the input then the output items, with the Response output's ids."""
    conv = client.conversations.create(items=_msgs(["seed"]))
    word = tag()
    first = client.responses.create(model=SUPPORT_AGENT, input=f"append {word}", conversation=conv.id)
    assert raw(first)["conversation"] == {"id": conv.id}
    second = client.responses.create(model=SUPPORT_AGENT, input="CALL_TOOL Rome", conversation={"id": conv.id})
    assert raw(second)["conversation"] == {"id": conv.id}
    items = [raw(it) for it in client.conversations.items.list(conv.id, order="asc")]
    assert [(i["type"], i.get("role")) for i in items] == [
        ("message", "user"),
        ("message", "user"),
        ("message", "assistant"),
        ("message", "user"),
        ("mcp_call", None),
        ("message", "assistant"),
    ]
    assert items[1]["content"][0]["text"] == f"append {word}"
    assert items[2]["id"] == first.output[0].id
    assert "".join(p["text"] for p in items[2]["content"]) == first.output_text
    assert [i["id"] for i in items[4:]] == [o.id for o in second.output]
    # A tool Mastra ran is a server-side tool call: one mcp_call item with its output.
    assert items[4]["id"].startswith("mcp_") and items[4]["name"] == "get_weather"
    assert items[4]["server_label"] == SUPPORT_AGENT and items[4]["output"]
    assert "".join(p["text"] for p in items[5]["content"]) == second.output_text


def test_responses_stream_in_conversation(client: openai.OpenAI) -> None:
    """Check 39 for streams: the completed response echoes the conversation; items appended."""
    conv = client.conversations.create()
    with client.responses.stream(model=SUPPORT_AGENT, input="streamed turn", conversation=conv.id) as stream:
        final = stream.get_final_response()
    assert raw(final)["conversation"] == {"id": conv.id}
    items = list(client.conversations.items.list(conv.id, order="asc"))
    assert [_text(it) for it in items] == ["streamed turn", final.output_text]


# ------------------------------------------------------------------------------- input items


def test_input_items_list(client: openai.OpenAI) -> None:
    """Check 27: object list, first_id/last_id match the ends, default desc, order=asc."""
    texts = [f"in {i} {tag()}" for i in range(3)]
    resp = client.responses.create(model=SUPPORT_AGENT, input=_msgs(texts))
    page = client.responses.input_items.list(resp.id)
    assert raw(page)["object"] == "list"
    assert [_text(it) for it in page.data] == list(reversed(texts)), "default order must be desc"
    assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
    assert page.has_more is False
    assert all(it.id and it.type == "message" and it.role == "user" for it in page.data)
    asc = client.responses.input_items.list(resp.id, order="asc")
    assert [_text(it) for it in asc.data] == texts
    assert asc.first_id == asc.data[0].id and asc.last_id == asc.data[-1].id
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.input_items.list("resp_00000000-0000-0000-0000-000000000000")
    assert_error(ei.value, 404, type="invalid_request_error")


def test_input_items_in_a_conversation(client: openai.OpenAI) -> None:
    """A turn's input items are its own, not earlier items of the same conversation."""
    conv = client.conversations.create(items=_msgs(["earlier item"]))
    client.responses.create(model=SUPPORT_AGENT, input="earlier turn", conversation=conv.id)
    resp = client.responses.create(model=SUPPORT_AGENT, input=_msgs(["a", "b"]), conversation=conv.id)
    assert [_text(it) for it in client.responses.input_items.list(resp.id, order="asc")] == ["a", "b"]


def test_input_items_auto_pagination(recording_client: RecordingClient) -> None:
    """Check 28: limit=3 over 7 items yields all 7 in order; the SDK sends after=<last item id>."""
    client = recording_client.client
    texts = [f"page {i} {tag()}" for i in range(7)]
    resp = client.responses.create(model=SUPPORT_AGENT, input=_msgs(texts))
    for order, want in (("asc", texts), ("desc", list(reversed(texts)))):
        n_before = len(recording_client.requests)
        items = list(client.responses.input_items.list(resp.id, limit=3, order=order))
        assert [_text(it) for it in items] == want
        gets = recording_client.requests[n_before:]
        assert len(gets) == 3, [str(r.url) for r in gets]
        assert _afters(gets) == [None, items[2].id, items[5].id]


# ---------------------------------------------------------------------------- long threads


def _seed_long_thread(client: openai.OpenAI, n: int) -> tuple[str, list[str]]:
    """A gateway conversation holding n messages, written straight into Mastra's memory with
    save-messages in batches (alternating roles, one ms apart)."""
    conv = client.conversations.create()
    thread = httpx.get(f"{MASTRA_URL}/api/v1/conversations/{conv.id}", timeout=30).json()["thread"]
    agent = thread["metadata"]["mastra_gateway.agent"]
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    texts, batch = [], []
    for i in range(n):
        text = f"long {i:04d}"
        at = (base + timedelta(milliseconds=i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        batch.append(
            {
                "id": f"{conv.id}-{i:05d}",
                "role": "user" if i % 2 == 0 else "assistant",
                "createdAt": at,
                "threadId": conv.id,
                "resourceId": thread["resourceId"],
                "type": "v2",
                "content": {"format": 2, "parts": [{"type": "text", "text": text}], "content": text},
            }
        )
        texts.append(text)
        if len(batch) == 100 or i == n - 1:
            r = httpx.post(
                f"{MASTRA_URL}/api/memory/save-messages", params={"agentId": agent}, json={"messages": batch}, timeout=60
            )
            assert r.status_code == 200, r.text
            batch = []
    return conv.id, texts


def test_long_thread_auto_pagination_both_orders(recording_client: RecordingClient) -> None:
    """A 1,500-message thread lists completely and in order through auto-pagination (default
    limit 20), in both orders."""
    client = recording_client.client
    conv_id, texts = _seed_long_thread(client, 1500)
    for order, want in (("asc", texts), ("desc", list(reversed(texts)))):
        n_before = len(recording_client.requests)
        got = [_text(it) for it in client.conversations.items.list(conv_id, order=order)]
        assert len(got) == 1500, order
        assert got == want, f"{order}: out of order"
        assert len(recording_client.requests) - n_before == 75


# ----------------------------------------------------------------------------- interop


def test_gateway_conversation_is_a_mastra_thread(client: openai.OpenAI) -> None:
    """What the gateway creates, Mastra's own API shows: the thread and its messages."""
    conv = client.conversations.create(items=_msgs(["via sdk"]), metadata={"team": "x"})
    r = httpx.get(f"{MASTRA_URL}/api/v1/conversations/{conv.id}", timeout=30)
    assert r.status_code == 200, r.text
    thread = r.json()["thread"]
    assert thread["id"] == conv.id and thread["metadata"]["team"] == "x"
    agent = thread["metadata"]["mastra_gateway.agent"]
    r = httpx.get(f"{MASTRA_URL}/api/memory/threads/{conv.id}/messages", params={"agentId": agent}, timeout=30)
    assert [m["content"]["content"] for m in r.json()["messages"]] == ["via sdk"]


def test_native_mastra_thread_is_a_conversation(client: openai.OpenAI) -> None:
    """A thread created in Mastra (not through the gateway) works as a conversation id."""
    thread = new_thread()
    resp = client.responses.create(model=SUPPORT_AGENT, input="native turn", conversation=thread)
    conv = client.conversations.retrieve(thread)
    assert conv.id == thread and raw(conv)["object"] == "conversation"
    items = list(client.conversations.items.list(thread, order="asc"))
    assert [_text(it) for it in items] == ["native turn", resp.output_text]
    client.conversations.items.create(thread, items=_msgs(["added"]))
    assert _text(next(iter(client.conversations.items.list(thread, limit=1)))) == "added"
    client.conversations.delete(thread)
    assert httpx.get(f"{MASTRA_URL}/api/v1/conversations/{thread}", timeout=30).status_code == 404
