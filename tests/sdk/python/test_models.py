"""Models API: check 44 (reference/openai.md 5)."""

from __future__ import annotations

import openai
import pytest

from conftest import ECHO_AGENT, SUPPORT_AGENT, assert_error, raw


def test_models_list(client: openai.OpenAI, http) -> None:
    """Check 44: GET /v1/models lists the agents as Model objects."""
    models = list(client.models.list())
    ids = [m.id for m in models]
    assert SUPPORT_AGENT in ids and ECHO_AGENT in ids, ids
    assert len(ids) == len(set(ids)), f"duplicate model ids: {ids}"
    for m in models:
        d = raw(m)
        assert d["object"] == "model", d
        assert isinstance(d["created"], int), d
        assert isinstance(d["owned_by"], str) and d["owned_by"], d
    r = http.get("models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list", body
    assert isinstance(body["data"], list)


def test_models_retrieve(client: openai.OpenAI) -> None:
    """Check 44: GET /v1/models/{id} returns a single Model."""
    m = client.models.retrieve(ECHO_AGENT)
    assert m.id == ECHO_AGENT
    assert m.object == "model"
    assert isinstance(m.created, int)
    assert isinstance(m.owned_by, str) and m.owned_by
    assert m._request_id


def test_models_retrieve_unknown(client: openai.OpenAI) -> None:
    """Check 44: unknown model id -> 404 NotFoundError, code model_not_found."""
    with pytest.raises(openai.NotFoundError) as ei:
        client.models.retrieve("no-such-agent")
    assert_error(ei.value, 404, type="invalid_request_error", code="model_not_found")


def test_every_listed_model_is_usable(client: openai.OpenAI) -> None:
    """Whatever models.list returns can be used as `model` on responses.create."""
    for m in client.models.list():
        resp = client.responses.create(model=m.id, input="ping")
        assert resp.status == "completed", (m.id, resp.status)
