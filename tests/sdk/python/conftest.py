"""Shared fixtures for the OpenAI Python SDK conformance suite.

The suite drives a running mastra-gateway (in front of the real Mastra fixture in
tests/fixtures/mastra) with the official ``openai`` package. It is written to pass
with both the current 3.x SDK and the last 1.x release (1.109.1), so it asserts on
exception attributes (``status_code``, ``code``, ``param``, ``type``, ``body``,
``request_id``) and never on exception message text, whose format differs.

Environment:
  GATEWAY_BASE_URL  e.g. http://127.0.0.1:8080/v1   (required)
  MASTRA_URL        e.g. http://127.0.0.1:4111      (required; used to create threads)

Check numbers in test docstrings refer to reference/openai.md section 6.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai
import pytest

GATEWAY_BASE_URL = os.environ.get("GATEWAY_BASE_URL", "").rstrip("/")
MASTRA_URL = os.environ.get("MASTRA_URL", "").rstrip("/")
API_KEY = "sk-conformance-test-key"  # the gateway runs without configured keys

SUPPORT_AGENT = "support-agent"  # echo: <text>; has the server-side get_weather tool
ECHO_AGENT = "echo-agent"  # you said: <text>; no tools

# Fields the spec marks required on a Response (reference/openai.md 1.3), plus the
# ones real traffic always carries. The gateway is asked to emit them all (nulls allowed).
SPEC_REQUIRED_RESPONSE_KEYS = (
    "id", "object", "created_at", "error", "incomplete_details", "instructions", "model",
    "output", "parallel_tool_calls", "metadata", "tools", "tool_choice", "temperature", "top_p",
)
ALWAYS_CARRIED_RESPONSE_KEYS = (
    "status", "usage", "store", "text", "truncation", "reasoning", "previous_response_id",
    "max_output_tokens", "user", "background", "service_tier",
)


def pytest_configure(config: pytest.Config) -> None:
    missing = [n for n, v in (("GATEWAY_BASE_URL", GATEWAY_BASE_URL), ("MASTRA_URL", MASTRA_URL)) if not v]
    if missing:
        raise pytest.UsageError(
            f"environment variable(s) {', '.join(missing)} not set; run via `bash tests/run-all.sh` "
            "or export GATEWAY_BASE_URL=http://127.0.0.1:PORT/v1 MASTRA_URL=http://127.0.0.1:PORT"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"openai SDK {openai.__version__}; gateway {GATEWAY_BASE_URL}; mastra {MASTRA_URL}"]


def sdk_major() -> int:
    return int(openai.__version__.split(".")[0])


@pytest.fixture(scope="session")
def client() -> openai.OpenAI:
    # max_retries=0: a 5xx must surface as a failure, not be hidden by retries.
    c = openai.OpenAI(base_url=GATEWAY_BASE_URL, api_key=API_KEY, max_retries=0, timeout=60)
    yield c
    c.close()


@dataclass
class RecordingClient:
    client: openai.OpenAI
    requests: list[httpx.Request] = field(default_factory=list)


@pytest.fixture()
def recording_client() -> RecordingClient:
    """An SDK client that records every HTTP request it sends (to check query strings)."""
    rec = RecordingClient(client=None)  # type: ignore[arg-type]
    http_client = httpx.Client(event_hooks={"request": [rec.requests.append]}, timeout=60)
    rec.client = openai.OpenAI(
        base_url=GATEWAY_BASE_URL, api_key=API_KEY, max_retries=0, http_client=http_client
    )
    yield rec
    rec.client.close()


@pytest.fixture(scope="session")
def http() -> httpx.Client:
    """Raw HTTP access to the gateway's /v1 API (same headers an SDK would send, minus stainless)."""
    with httpx.Client(
        base_url=GATEWAY_BASE_URL + "/",
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        timeout=60,
    ) as c:
        yield c


def tag() -> str:
    """A short unique word, so every prompt (and thus every echo) is distinguishable."""
    return uuid.uuid4().hex[:10]


def new_thread(agent: str = SUPPORT_AGENT) -> str:
    """Create a Mastra memory thread directly upstream; its id is an OpenAI conversation id."""
    r = httpx.post(
        f"{MASTRA_URL}/api/v1/conversations",
        json={"agent_id": agent},
        timeout=30,
    )
    assert r.status_code == 200, f"creating a Mastra thread failed: {r.status_code} {r.text}"
    thread_id = r.json()["id"]
    assert isinstance(thread_id, str) and thread_id
    return thread_id


def raw(obj: Any) -> dict:
    """The keys of an SDK model as they came over the wire (construct keeps set fields).

    warnings=False: openai 1.x has no output-item variant for function_call_output, so pydantic
    warns while serialising such items (their fields are kept all the same)."""
    return obj.to_dict(warnings=False)


def assert_error(
    exc: openai.APIStatusError,
    status: int,
    *,
    type: str | None = "invalid_request_error",
    code: Any = ...,
    param: Any = ...,
) -> None:
    """Assert the OpenAI error shape via exception attributes (version agnostic)."""
    assert exc.status_code == status, f"expected HTTP {status}, got {exc.status_code}: {exc.body!r}"
    body = exc.body
    assert isinstance(body, dict), f"error body is not the OpenAI envelope: {body!r}"
    for k in ("message", "type", "param", "code"):
        assert k in body, f"error object lacks key {k!r} (spec requires all four): {body!r}"
    assert isinstance(body["message"], str) and body["message"], body
    if type is not None:
        assert exc.type == type, f"error.type {exc.type!r} != {type!r}: {body!r}"
    if code is not ...:
        assert exc.code == code, f"error.code {exc.code!r} != {code!r}: {body!r}"
    if param is not ...:
        assert exc.param == param, f"error.param {exc.param!r} != {param!r}: {body!r}"
    rid = exc.request_id
    assert rid, f"error response has no x-request-id header: {body!r}"


# --------------------------------------------------------------------------- SSE


@dataclass
class SSEEvent:
    event: str | None
    data: str

    @property
    def json(self) -> dict:
        return json.loads(self.data)


def parse_sse_strict(body: str) -> list[SSEEvent]:
    """Parse an SSE body, asserting the framing of reference/openai.md 2.1.

    Every event is `event: <type>` + `data: <single-line json>` + blank line.
    Comment lines (`: ...`) are tolerated and skipped.
    """
    assert "\r" not in body, "SSE body uses CR line endings; the spec framing is LF"
    assert body.endswith("\n\n"), f"SSE body does not end with a blank line: {body[-80:]!r}"
    events: list[SSEEvent] = []
    for block in body.split("\n\n"):
        if block == "":
            continue
        lines = [ln for ln in block.split("\n") if not ln.startswith(":")]
        if not lines:
            continue  # comment-only block (keepalive)
        assert len(lines) == 2, f"SSE block is not exactly `event:` + `data:` lines: {block!r}"
        ev, data = lines
        assert ev.startswith("event: "), f"first line of SSE block is not `event: `: {block!r}"
        assert data.startswith("data: "), f"second line of SSE block is not `data: `: {block!r}"
        events.append(SSEEvent(event=ev[len("event: "):], data=data[len("data: "):]))
    return events


def event_dicts(stream: Any) -> list[dict]:
    """Consume an SDK stream into a list of dicts of the raw event payloads."""
    return [raw(ev) for ev in stream]


def assert_dense_sequence(events: list[dict]) -> None:
    """Check 7: sequence_number starts at 0 and rises by exactly 1."""
    seqs = [e.get("sequence_number") for e in events]
    assert seqs == list(range(len(events))), f"sequence_number not dense from 0: {seqs}"
