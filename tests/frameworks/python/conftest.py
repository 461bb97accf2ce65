"""Shared helpers for the agent-framework compatibility suite (tests/frameworks/README.md).

Real, unchanged, pinned frameworks (OpenAI Agents SDK, LangChain's langchain-openai) drive a
running mastra-gateway in front of the real Mastra fixture (tests/fixtures/mastra).

Every test belongs to exactly one group, the issue that makes it pass; the group is the pytest
marker and the file name (test_<group>.py):
  server_tools  issue 15: Mastra's own tool turns shown as tools the server ran
  client_tools  issue 16: client-defined function tools and history replay
  chat          issue 17: POST /v1/chat/completions

Environment:
  GATEWAY_BASE_URL  e.g. http://127.0.0.1:8080/v1   (required)
  MASTRA_URL        e.g. http://127.0.0.1:4111      (required; tests read Mastra's stored thread)
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any, Awaitable, Callable, TypeVar

import httpx
import pytest

GATEWAY_BASE_URL = os.environ.get("GATEWAY_BASE_URL", "").rstrip("/")
MASTRA_URL = os.environ.get("MASTRA_URL", "").rstrip("/")
API_KEY = "sk-frameworks-test-key"  # the test gateway runs without configured keys

SUPPORT_AGENT = "support-agent"  # "echo: <text>"; Mastra runs its get_weather tool on CALL_TOOL
ECHO_AGENT = "echo-agent"  # "you said: <text>"; no tools of its own

# Per HTTP request, per framework call, and per test (pytest.ini `timeout`), shortest first, so
# that a hung stream fails the test with the framework's own error where possible.
HTTP_TIMEOUT = 20.0
CALL_TIMEOUT = 30.0

GROUPS = ("server_tools", "client_tools", "chat")

# What the mock model answers once a tool result is in the prompt (tests/fixtures/mastra/
# mock-model.mjs): `tool <name> returned: <JSON.stringify(result)>`.
WEATHER_ANSWER = "tool get_weather returned"
TIME_ANSWER = "tool get_time returned"
# The fixed result of the client-side get_time tool; the final answer must carry it.
FIXED_TIME = "12:34 in UTC (fixed)"
CALL_CLIENT_GET_TIME = 'CALL_CLIENT get_time {"tz":"UTC"}'

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    missing = [n for n, v in (("GATEWAY_BASE_URL", GATEWAY_BASE_URL), ("MASTRA_URL", MASTRA_URL)) if not v]
    if missing:
        raise pytest.UsageError(
            f"environment variable(s) {', '.join(missing)} not set; run via "
            "`bash tests/frameworks/run.sh <logdir>` or export "
            "GATEWAY_BASE_URL=http://127.0.0.1:PORT/v1 MASTRA_URL=http://127.0.0.1:PORT"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Each test is judged by exactly one issue: its group marker must match its file name.
    for item in items:
        groups = [m.name for m in item.iter_markers() if m.name in GROUPS]
        expected = item.path.stem.removeprefix("test_")
        if groups != [expected]:
            raise pytest.UsageError(f"{item.nodeid}: group markers {groups}, expected [{expected!r}]")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from importlib.metadata import version

    pkgs = ("openai-agents", "langchain-openai", "langchain-core", "openai")
    return [
        "frameworks: " + ", ".join(f"{p} {version(p)}" for p in pkgs),
        f"gateway {GATEWAY_BASE_URL}; mastra {MASTRA_URL}",
    ]


def tag() -> str:
    """A short unique word, so every prompt (and thus every echo) is distinguishable."""
    return uuid.uuid4().hex[:10]


def run_async(fn: Callable[[Any], Awaitable[T]], timeout: float = CALL_TIMEOUT) -> T:
    """Run `fn(client)` on a fresh event loop with a fresh AsyncOpenAI client for the gateway,
    failing (not hanging) after `timeout`; the client is closed on the same loop."""

    async def bounded() -> T:
        client = async_openai_client()
        try:
            return await asyncio.wait_for(fn(client), timeout)
        finally:
            await client.close()

    return asyncio.run(bounded())


def async_openai_client():
    """The OpenAI client the Agents SDK is given (no retries: a 5xx must surface)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=GATEWAY_BASE_URL, api_key=API_KEY, max_retries=0, timeout=HTTP_TIMEOUT)


def chat_openai(model: str, *, responses_api: bool):
    """LangChain's ChatOpenAI pointed at the gateway, Responses API or Chat Completions."""
    from langchain_openai import ChatOpenAI

    kwargs: dict[str, Any] = {}
    if responses_api:
        kwargs["use_responses_api"] = True
    return ChatOpenAI(
        model=model,
        base_url=GATEWAY_BASE_URL,
        api_key=API_KEY,
        max_retries=0,
        timeout=HTTP_TIMEOUT,
        **kwargs,
    )


def lc_text(message: Any) -> str:
    """The text of a LangChain message (string content or text blocks)."""
    return message.text


def lc_stream(runnable: Any, messages: Any) -> Any:
    """Consume `.stream(...)` and return the aggregated AIMessageChunk."""
    full = None
    for chunk in runnable.stream(messages):
        full = chunk if full is None else full + chunk
    assert full is not None, "the stream yielded no chunk"
    return full


# --------------------------------------------------------------------------- Mastra's own view


def mastra_thread_messages(thread_id: str, agent_id: str = SUPPORT_AGENT) -> list[dict]:
    """The messages Mastra stored for a thread, through Mastra's own memory API."""
    r = httpx.get(
        f"{MASTRA_URL}/api/memory/threads/{thread_id}/messages",
        params={"agentId": agent_id},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, f"Mastra GET thread messages: {r.status_code} {r.text[:300]}"
    body = r.json()
    return body["messages"] if isinstance(body, dict) else body


def mastra_parts(messages: list[dict]) -> list[tuple[str, str, str]]:
    """Flatten Mastra messages into (role, kind, value): kind is "text" (value: the text) or
    "tool" (value: the tool name; only invocations that carry a result are listed).

    Mastra (format 2) stores tool turns as `tool-invocation` parts; the AI SDK v5 UI shapes
    (`tool-<name>` / `dynamic-tool` parts with an `output`) are accepted as well."""
    out: list[tuple[str, str, str]] = []
    for m in messages:
        role = m.get("role", "")
        content = m.get("content")
        parts: list = []
        if isinstance(content, dict):
            parts = content.get("parts") or []
            if not parts and isinstance(content.get("content"), str):
                parts = [{"type": "text", "text": content["content"]}]
        elif isinstance(content, str):
            parts = [{"type": "text", "text": content}]
        elif isinstance(content, list):
            parts = content
        for p in parts:
            if not isinstance(p, dict):
                continue
            t = p.get("type", "")
            if t == "text":
                out.append((role, "text", p.get("text", "")))
            elif t == "tool-invocation":
                inv = p.get("toolInvocation") or {}
                if inv.get("state") == "result" or "result" in inv:
                    out.append((role, "tool", inv.get("toolName", "")))
            elif t == "dynamic-tool" or (t.startswith("tool-") and t != "tool-result"):
                if "output" in p or p.get("state") == "output-available":
                    out.append((role, "tool", p.get("toolName") or t.removeprefix("tool-")))
            elif t == "tool-result":
                out.append((role, "tool", p.get("toolName", "")))
    return out


def dump(obj: Any) -> str:
    try:
        return json.dumps(obj, default=str)[:2000]
    except Exception:  # pragma: no cover - diagnostics only
        return repr(obj)[:2000]
