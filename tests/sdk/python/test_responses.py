"""Non-streaming Responses API: checks 1-5, 23-26, chaining, store (reference/openai.md section 6)."""

from __future__ import annotations

import openai
import pytest

from conftest import (
    ALWAYS_CARRIED_RESPONSE_KEYS,
    ECHO_AGENT,
    SPEC_REQUIRED_RESPONSE_KEYS,
    SUPPORT_AGENT,
    assert_error,
    new_thread,
    raw,
    tag,
)


def test_create_basic_shape(client: openai.OpenAI) -> None:
    """Check 1: object/id/status and the first output item's shape."""
    word = tag()
    resp = client.responses.create(model=SUPPORT_AGENT, input=f"hi {word}")
    assert resp.object == "response"
    assert resp.id.startswith("resp_"), resp.id
    assert resp.status == "completed"
    assert len(resp.output) == 1, raw(resp)["output"]
    item = resp.output[0]
    assert item.type == "message"
    assert item.role == "assistant"
    assert item.id.startswith("msg_"), item.id
    assert item.status == "completed"
    assert item.content[0].type == "output_text"
    assert item.content[0].text == f"echo: hi {word}"
    assert isinstance(resp.model, str) and resp.model
    # (created_at being an integer on the wire is checked on raw JSON in test_required_keys_present_raw;
    # the SDK model coerces it to float.)


def test_output_text_property(client: openai.OpenAI) -> None:
    """Check 2: SDK output_text == concatenation of every output_text part."""
    word = tag()
    resp = client.responses.create(model=ECHO_AGENT, input=f"concat {word}")
    parts = [
        c.text
        for item in resp.output
        if item.type == "message"
        for c in item.content
        if c.type == "output_text"
    ]
    assert resp.output_text == "".join(parts)
    assert resp.output_text == f"you said: concat {word}"


def test_required_keys_present_raw(http) -> None:
    """Check 3: the non-stream Response carries every spec-required key (null where empty)."""
    r = http.post("responses", json={"model": SUPPORT_AGENT, "input": f"keys {tag()}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    body = r.json()
    missing = [k for k in SPEC_REQUIRED_RESPONSE_KEYS if k not in body]
    assert not missing, f"spec-required Response keys missing: {missing}"
    assert body["object"] == "response"
    assert body["error"] is None
    assert body["incomplete_details"] is None
    assert body["instructions"] is None
    assert isinstance(body["metadata"], dict)
    assert isinstance(body["tools"], list)
    assert isinstance(body["parallel_tool_calls"], bool)
    assert body["tool_choice"] is not None
    assert isinstance(body["created_at"], int)
    assert body["temperature"] is None or isinstance(body["temperature"], (int, float))
    assert body["top_p"] is None or isinstance(body["top_p"], (int, float))


def test_always_carried_keys_present_raw(http) -> None:
    """Check 3 (extended, spec 1.3 "Emit them all, using nulls"): status, usage, store, text, ..."""
    r = http.post("responses", json={"model": ECHO_AGENT, "input": f"keys {tag()}"})
    assert r.status_code == 200, r.text
    body = r.json()
    missing = [k for k in ALWAYS_CARRIED_RESPONSE_KEYS if k not in body]
    assert not missing, f"Response keys real traffic always carries are missing: {missing}"
    assert body["store"] is True, "store defaults to true"
    assert body["background"] is False
    assert body["previous_response_id"] is None
    assert isinstance(body["text"], dict) and body["text"].get("format", {}).get("type") == "text", body["text"]


def test_usage_shape(client: openai.OpenAI) -> None:
    """Check 4: usage fields and total == input + output."""
    resp = client.responses.create(model=SUPPORT_AGENT, input=f"one two three {tag()}")
    u = raw(resp)["usage"]
    assert u is not None
    for k in ("input_tokens", "output_tokens", "total_tokens"):
        assert isinstance(u[k], int), (k, u)
    assert isinstance(u["input_tokens_details"]["cached_tokens"], int), u
    assert isinstance(u["output_tokens_details"]["reasoning_tokens"], int), u
    assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"], u
    # The mock model counts one output token per word of "echo: one two three <tag>".
    assert u["output_tokens"] == 5, u
    assert u["input_tokens"] >= 1, u


@pytest.mark.parametrize(
    "make_input",
    [
        pytest.param(lambda t: t, id="string"),
        pytest.param(lambda t: [{"role": "user", "content": t}], id="easy-message"),
        pytest.param(
            lambda t: [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": t}]}],
            id="typed-message",
        ),
    ],
)
def test_input_forms_equivalent(client: openai.OpenAI, make_input) -> None:
    """Check 5: string input, easy message and typed message behave the same."""
    text = f"same behaviour {tag()}"
    resp = client.responses.create(model=ECHO_AGENT, input=make_input(text))
    assert resp.status == "completed"
    assert resp.output_text == f"you said: {text}"
    # Same prompt size for all three forms (instructions + one user message; fresh thread).
    baseline = client.responses.create(model=ECHO_AGENT, input=f"baseline {tag()}")
    assert resp.usage.input_tokens == baseline.usage.input_tokens


def test_retrieve_returns_same_object(client: openai.OpenAI, http) -> None:
    """Check 23 (first half): GET /v1/responses/{id} returns what create returned (store defaults true)."""
    created = http.post("responses", json={"model": SUPPORT_AGENT, "input": f"retrieve me {tag()}"})
    assert created.status_code == 200, created.text
    c = created.json()
    got = client.responses.retrieve(c["id"])
    g = raw(got)
    assert g["id"] == c["id"]
    diffs = {k: (c.get(k), g.get(k)) for k in sorted(set(c) | set(g)) if c.get(k) != g.get(k)}
    assert not diffs, f"retrieved Response differs from created one in: {diffs}"


def test_delete_then_retrieve_404(client: openai.OpenAI) -> None:
    """Check 23 (second half): DELETE -> 200, then GET -> 404 invalid_request_error."""
    resp = client.responses.create(model=SUPPORT_AGENT, input=f"delete me {tag()}")
    deleted = client.responses.with_raw_response.delete(resp.id)
    assert deleted.status_code == 200
    assert deleted.headers.get("x-request-id")
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.retrieve(resp.id)
    assert_error(ei.value, 404, type="invalid_request_error")
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.delete(resp.id)
    assert_error(ei.value, 404, type="invalid_request_error")


def test_delete_unknown_404(client: openai.OpenAI) -> None:
    """Deleting an id that never existed is an OpenAI-shaped 404."""
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.delete(f"resp_{tag()}{tag()}")
    assert_error(ei.value, 404, type="invalid_request_error")


def test_store_false_not_retrievable(client: openai.OpenAI) -> None:
    """Check 24: store=false -> retrieval is a 404 in the OpenAI error shape."""
    resp = client.responses.create(model=ECHO_AGENT, input=f"ephemeral {tag()}", store=False)
    assert resp.status == "completed"
    assert raw(resp)["store"] is False
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.retrieve(resp.id)
    assert_error(ei.value, 404, type="invalid_request_error")


def test_store_false_previous_response_400(client: openai.OpenAI) -> None:
    """Check 24: previous_response_id pointing at a store=false response -> 400."""
    resp = client.responses.create(model=ECHO_AGENT, input=f"ephemeral {tag()}", store=False)
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(model=ECHO_AGENT, input="follow up", previous_response_id=resp.id)
    assert_error(ei.value, 400, type="invalid_request_error", param="previous_response_id")


def test_previous_response_chain(client: openai.OpenAI) -> None:
    """previous_response_id chains turns: the follow-up sees the history (mock: input_tokens grows)."""
    first = client.responses.create(model=SUPPORT_AGENT, input=f"my name is {tag()}")
    second = client.responses.create(
        model=SUPPORT_AGENT, input=f"what is my name {tag()}", previous_response_id=first.id
    )
    assert second.status == "completed"
    assert second.id != first.id and second.id.startswith("resp_")
    assert second.previous_response_id == first.id
    assert second.output_text.startswith("echo: what is my name")
    # Mock usage: input_tokens = number of prompt messages; recalled history makes it grow by >= 2.
    assert second.usage.input_tokens >= first.usage.input_tokens + 2, (
        first.usage.input_tokens,
        second.usage.input_tokens,
    )
    third = client.responses.create(model=SUPPORT_AGENT, input=f"again {tag()}", previous_response_id=second.id)
    assert third.usage.input_tokens >= second.usage.input_tokens + 2
    assert third.previous_response_id == second.id


def test_unknown_previous_response_400(client: openai.OpenAI) -> None:
    """Check 25: unknown previous_response_id -> 400 param previous_response_id, code previous_response_not_found."""
    bogus = f"resp_{tag()}{tag()}"
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(model=SUPPORT_AGENT, input="hello", previous_response_id=bogus)
    assert_error(
        ei.value,
        400,
        type="invalid_request_error",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def test_previous_response_and_conversation_400(client: openai.OpenAI) -> None:
    """Check 26: previous_response_id together with conversation -> 400 invalid_request_error."""
    first = client.responses.create(model=SUPPORT_AGENT, input=f"first {tag()}")
    thread = new_thread()
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=SUPPORT_AGENT, input="both", previous_response_id=first.id, conversation=thread
        )
    assert_error(ei.value, 400, type="invalid_request_error")


def test_instructions_echoed(client: openai.OpenAI) -> None:
    """instructions is accepted and echoed on the Response (spec 1.2)."""
    resp = client.responses.create(
        model=ECHO_AGENT, input=f"with instructions {tag()}", instructions="Repeat the user, politely."
    )
    assert resp.status == "completed"
    assert resp.instructions == "Repeat the user, politely."


def test_ignored_request_fields_are_echoed(client: openai.OpenAI) -> None:
    """Fields the upstream ignores are accepted and echoed (metadata, temperature, top_p, max_output_tokens)."""
    resp = client.responses.create(
        model=ECHO_AGENT,
        input=f"echo fields {tag()}",
        metadata={"ticket": "T-1", "channel": "sdk"},
        temperature=0.25,
        top_p=0.5,
        max_output_tokens=256,
    )
    assert resp.status == "completed"
    assert resp.metadata == {"ticket": "T-1", "channel": "sdk"}
    assert resp.temperature == 0.25
    assert resp.top_p == 0.5
    assert resp.max_output_tokens == 256
