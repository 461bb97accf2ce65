"""The `conversation` parameter of responses.create (check 39, first half; check 35 message).

A conversation id is a Mastra memory thread id. These tests create the threads directly upstream
(Mastra's own API), so they also prove that a native Mastra thread works as an OpenAI conversation;
the /v1/conversations routes themselves are covered by test_conversations.py.
"""

from __future__ import annotations

import openai
import pytest

from conftest import SUPPORT_AGENT, assert_dense_sequence, assert_error, event_dicts, new_thread, raw, tag


def test_conversation_string_and_object_forms(client: openai.OpenAI) -> None:
    """Check 39: conversation="<id>" and conversation={"id": ...} both work and echo conversation.id;
    the second turn sees the first (mock: input_tokens grows with recalled history)."""
    thread = new_thread()
    first = client.responses.create(model=SUPPORT_AGENT, input=f"first in conv {tag()}", conversation=thread)
    assert first.status == "completed"
    assert raw(first)["conversation"] == {"id": thread}, raw(first).get("conversation")
    assert first.output_text.startswith("echo: first in conv")

    second = client.responses.create(
        model=SUPPORT_AGENT, input=f"second in conv {tag()}", conversation={"id": thread}
    )
    assert raw(second)["conversation"] == {"id": thread}
    assert second.id != first.id
    assert second.usage.input_tokens >= first.usage.input_tokens + 2, (
        first.usage.input_tokens,
        second.usage.input_tokens,
    )
    # A conversation turn is not a previous_response_id chain.
    assert second.previous_response_id is None


def test_conversation_stream(client: openai.OpenAI) -> None:
    """Check 39 for streams: every lifecycle snapshot echoes conversation.id."""
    thread = new_thread()
    events = event_dicts(
        client.responses.create(model=SUPPORT_AGENT, input=f"stream conv {tag()}", conversation=thread, stream=True)
    )
    assert_dense_sequence(events)
    lifecycle = [e for e in events if e["type"] in ("response.created", "response.in_progress", "response.completed")]
    assert len(lifecycle) == 3
    for e in lifecycle:
        assert e["response"].get("conversation") == {"id": thread}, (e["type"], e["response"].get("conversation"))


def test_conversation_retrieve_keeps_conversation(client: openai.OpenAI) -> None:
    """A stored response created in a conversation (made with conversations.create, the OpenAI
    flow) keeps conversation.id on retrieve."""
    thread = client.conversations.create().id
    resp = client.responses.create(model=SUPPORT_AGENT, input=f"retrieve conv {tag()}", conversation=thread)
    got = client.responses.retrieve(resp.id)
    assert raw(got).get("conversation") == {"id": thread}, (
        f"retrieve lost the conversation: created with conversation={thread!r}, "
        f"create echoed {raw(resp).get('conversation')!r}, retrieve shows {raw(got).get('conversation')!r}"
    )


def test_conversation_plain_response_has_null_conversation(client: openai.OpenAI) -> None:
    """Without the conversation param the Response shows conversation: null (as OpenAI)."""
    resp = client.responses.create(model=SUPPORT_AGENT, input=f"no conv {tag()}")
    body = raw(resp)
    assert "conversation" in body and body["conversation"] is None, body.get("conversation", "missing")
    assert "conversation_id" not in body, "Mastra's conversation_id must not leak into the OpenAI Response"
    # Mastra keeps every stored response in a thread; retrieve must still show no conversation.
    got = raw(client.responses.retrieve(resp.id))
    assert got["conversation"] is None, got["conversation"]


def test_unknown_conversation_404(client: openai.OpenAI) -> None:
    """Unknown conversation -> 404 invalid_request_error "Conversation with id '<id>' not found."."""
    bogus = f"conv_{tag()}"
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.create(model=SUPPORT_AGENT, input="hello", conversation=bogus)
    assert_error(ei.value, 404, type="invalid_request_error")
    assert ei.value.body["message"] == f"Conversation with id '{bogus}' not found.", ei.value.body


def test_unknown_conversation_404_stream(client: openai.OpenAI) -> None:
    """Check 21 variant: unknown conversation on a stream request is a JSON 404 before any SSE."""
    bogus = f"conv_{tag()}"
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.create(model=SUPPORT_AGENT, input="hello", conversation={"id": bogus}, stream=True)
    assert ei.value.body["message"] == f"Conversation with id '{bogus}' not found."
