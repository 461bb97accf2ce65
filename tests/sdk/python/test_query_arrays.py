"""Query arrays: check 43 (include[]=a&include[]=b, reference/openai.md 1.1)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from conftest import ECHO_AGENT, RecordingClient, raw, tag

INCLUDE = ["message.output_text.logprobs", "reasoning.encrypted_content"]


def test_retrieve_with_include_brackets_sdk(recording_client: RecordingClient) -> None:
    """Check 43: the SDK sends include[]=a&include[]=b on retrieve; the gateway accepts it."""
    client = recording_client.client
    created = client.responses.create(model=ECHO_AGENT, input=f"include {tag()}")
    got = client.responses.retrieve(created.id, include=INCLUDE)
    assert got.id == created.id
    assert got.output_text == created.output_text
    get_req = recording_client.requests[-1]
    assert get_req.method == "GET"
    pairs = parse_qsl(urlsplit(str(get_req.url)).query)
    assert pairs == [("include[]", INCLUDE[0]), ("include[]", INCLUDE[1])], pairs


def test_retrieve_with_include_brackets_raw(client, http) -> None:
    """Check 43: raw `include[]=a&include[]=b` on GET /v1/responses/{id}."""
    created = client.responses.create(model=ECHO_AGENT, input=f"include raw {tag()}")
    r = http.get(f"responses/{created.id}", params=[("include[]", INCLUDE[0]), ("include[]", INCLUDE[1])])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == raw(created)["id"]


def test_retrieve_with_plain_repeated_include(client, http) -> None:
    """Spec 1.1: a plain repeated `include=a&include=b` is accepted too."""
    created = client.responses.create(model=ECHO_AGENT, input=f"include plain {tag()}")
    r = http.get(f"responses/{created.id}", params=[("include", INCLUDE[0]), ("include", INCLUDE[1])])
    assert r.status_code == 200, r.text
    assert r.json()["id"] == created.id
