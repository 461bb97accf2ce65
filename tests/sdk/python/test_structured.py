"""Structured output: check 22 (text.format json_schema / json_object, responses.parse)."""

from __future__ import annotations

import json

import openai
from pydantic import BaseModel

from conftest import SUPPORT_AGENT, raw, tag

SCHEMA = {
    "type": "object",
    "properties": {"echo": {"type": "string"}},
    "required": ["echo"],
    "additionalProperties": False,
}


class Echo(BaseModel):
    echo: str


def _assert_matches_schema(doc: object) -> None:
    # SCHEMA by hand: an object with exactly one string key `echo`.
    assert isinstance(doc, dict), doc
    assert set(doc) == {"echo"}, doc
    assert isinstance(doc["echo"], str), doc


def test_json_schema_output(client: openai.OpenAI) -> None:
    """Check 22: text.format json_schema (strict) yields output_text that parses against the schema."""
    word = tag()
    resp = client.responses.create(
        model=SUPPORT_AGENT,
        input=f"structured {word}",
        text={"format": {"type": "json_schema", "name": "echo_payload", "schema": SCHEMA, "strict": True}},
    )
    assert resp.status == "completed"
    doc = json.loads(resp.output_text)
    _assert_matches_schema(doc)
    assert doc["echo"] == f"structured {word}"


def test_json_schema_format_echoed(client: openai.OpenAI) -> None:
    """The Response echoes the requested text.format (spec 1.3 `text`)."""
    resp = client.responses.create(
        model=SUPPORT_AGENT,
        input=f"structured echo {tag()}",
        text={"format": {"type": "json_schema", "name": "echo_payload", "schema": SCHEMA, "strict": True}},
    )
    fmt = raw(resp)["text"]["format"]
    assert fmt["type"] == "json_schema", fmt
    assert fmt["name"] == "echo_payload", fmt


def test_json_object_output(client: openai.OpenAI) -> None:
    """text.format json_object yields a JSON object."""
    word = tag()
    resp = client.responses.create(
        model=SUPPORT_AGENT,
        input=f"json object {word}",
        text={"format": {"type": "json_object"}},
    )
    assert resp.status == "completed"
    assert json.loads(resp.output_text) == {"echo": f"json object {word}"}


def test_responses_parse_helper(client: openai.OpenAI) -> None:
    """Check 22: Python responses.parse(text_format=Model) works end to end."""
    word = tag()
    parsed = client.responses.parse(model=SUPPORT_AGENT, input=f"parse me {word}", text_format=Echo)
    assert parsed.status == "completed"
    assert isinstance(parsed.output_parsed, Echo), parsed.output_parsed
    assert parsed.output_parsed.echo == f"parse me {word}"


def test_json_schema_streamed(client: openai.OpenAI) -> None:
    """Check 22 + 15: structured output through the stream helper."""
    word = tag()
    with client.responses.stream(model=SUPPORT_AGENT, input=f"stream parse {word}", text_format=Echo) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_parsed == Echo(echo=f"stream parse {word}")
