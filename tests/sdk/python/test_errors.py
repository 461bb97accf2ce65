"""Errors, request ids, unsupported fields: checks 40, 21-adjacent validation (reference/openai.md 4.1, 4.4)."""

from __future__ import annotations

import openai
import pytest

from conftest import ECHO_AGENT, SUPPORT_AGENT, assert_error, tag


def test_unknown_model_not_found(client: openai.OpenAI) -> None:
    """Unknown model -> 404 NotFoundError, code model_not_found."""
    with pytest.raises(openai.NotFoundError) as ei:
        client.responses.create(model="no-such-agent", input="hi")
    assert_error(ei.value, 404, type="invalid_request_error", code="model_not_found")


def test_error_envelope_raw(http) -> None:
    """Spec 4.1: errors are {"error":{message,type,param,code}} JSON, with x-request-id."""
    r = http.post("responses", json={"model": "no-such-agent", "input": "hi"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json"), r.headers["content-type"]
    body = r.json()
    assert set(body) == {"error"}, body
    assert {"message", "type", "param", "code"} <= set(body["error"]), body
    assert body["error"]["code"] == "model_not_found"
    assert r.headers.get("x-request-id", "").startswith("req_"), r.headers.get("x-request-id")


def test_request_id_on_success(client: openai.OpenAI) -> None:
    """Check 40: success responses carry x-request-id, exposed as resp._request_id."""
    resp = client.responses.create(model=ECHO_AGENT, input=f"request id {tag()}")
    assert resp._request_id and resp._request_id.startswith("req_"), resp._request_id
    again = client.responses.create(model=ECHO_AGENT, input=f"request id {tag()}")
    assert again._request_id != resp._request_id, "request ids must be unique per request"
    got = client.responses.retrieve(resp.id)
    assert got._request_id and got._request_id.startswith("req_")


def test_request_id_on_error(client: openai.OpenAI) -> None:
    """Check 40: error responses carry x-request-id, exposed as err.request_id."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(model=SUPPORT_AGENT, input="hi", background=True)
    assert ei.value.request_id and ei.value.request_id.startswith("req_"), ei.value.request_id
    with pytest.raises(openai.NotFoundError) as ei2:
        client.responses.retrieve(f"resp_{tag()}")
    assert ei2.value.request_id and ei2.value.request_id.startswith("req_")


def test_request_id_on_unknown_route(http) -> None:
    """Check 40: every response carries x-request-id, including the OpenAI-shaped 404 for an unknown path."""
    r = http.get("no-such-endpoint")
    assert r.status_code == 404
    assert r.headers.get("x-request-id"), dict(r.headers)
    assert r.headers["content-type"].startswith("application/json")
    assert "error" in r.json()


def test_background_rejected(client: openai.OpenAI) -> None:
    """background:true is not supported -> 400 param background."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(model=SUPPORT_AGENT, input="hi", background=True)
    assert_error(ei.value, 400, type="invalid_request_error", param="background")


def test_background_false_accepted(client: openai.OpenAI) -> None:
    resp = client.responses.create(model=ECHO_AGENT, input=f"fg {tag()}", background=False)
    assert resp.status == "completed"


def test_malformed_json_400(http) -> None:
    """Malformed JSON -> 400 invalid_request_error in the OpenAI envelope, with x-request-id."""
    r = http.post("responses", content=b'{"model": "support-agent", "input": ')
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error", err
    assert {"message", "type", "param", "code"} <= set(err)
    assert r.headers.get("x-request-id")


def test_wrong_type_400(client: openai.OpenAI) -> None:
    """A structurally invalid field (input as a number) -> 400 invalid_request_error."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(model=SUPPORT_AGENT, input=42)  # type: ignore[arg-type]
    assert_error(ei.value, 400, type="invalid_request_error")


def test_stainless_and_org_headers_accepted(client: openai.OpenAI) -> None:
    """Spec 4.3: unknown X-Stainless-* headers and OpenAI-Organization/Project are accepted and ignored."""
    resp = client.responses.create(
        model=ECHO_AGENT,
        input=f"headers {tag()}",
        extra_headers={
            "OpenAI-Organization": "org-test",
            "OpenAI-Project": "proj-test",
            "X-Stainless-Something-New": "1",
        },
    )
    assert resp.status == "completed"


def test_missing_model_400(http) -> None:
    """Spec 1.2: no `model` (and no default configured; run-all.sh runs the gateway on defaults)
    -> 400 missing_required_parameter, param model."""
    r = http.post("responses", json={"input": "hi"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error", err
    assert err["param"] == "model", err
    assert err["code"] == "missing_required_parameter", err


def test_unknown_parameter_400(client: openai.OpenAI) -> None:
    """Spec 1.2 validation style: an unknown body field -> 400 unknown_parameter naming it."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(model=ECHO_AGENT, input="hi", extra_body={"no_such_field": 1})
    assert_error(ei.value, 400, type="invalid_request_error", code="unknown_parameter", param="no_such_field")


def test_stream_options_include_usage_rejected(client: openai.OpenAI) -> None:
    """Spec 1.2: `stream_options.include_usage` is a Chat key; Responses rejects it (unknown_parameter)."""
    with pytest.raises(openai.BadRequestError) as ei:
        client.responses.create(
            model=ECHO_AGENT, input="hi", stream=True, extra_body={"stream_options": {"include_usage": True}}
        )
    assert_error(ei.value, 400, type="invalid_request_error", code="unknown_parameter")
    assert "include_usage" in (ei.value.param or ""), ei.value.body
