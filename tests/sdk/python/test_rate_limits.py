"""Rate limits through the official SDK: the 429 shape, the x-ratelimit-* headers, and that the
SDK's own retries wait for the gateway's `retry-after-ms` (reference/openai.md 4.1, 4.2, 4.4).

Needs a second gateway with an API key and a tiny per-key limit (tests/run-all.sh starts it):

    [[auth.keys]]
    name = "sdk-limited"
    sha256 = "<mastra-gateway hash-key of GATEWAY_LIMITED_API_KEY>"
    resource_id = "sdk-limited"
    [limits]
    per_key = { per_second = 0.5, burst = 1 }     # one request every 2 s

Environment:
  GATEWAY_LIMITED_BASE_URL  e.g. http://127.0.0.1:8081/v1   (unset: this module is skipped)
  GATEWAY_LIMITED_API_KEY   the key (default sk-limited-test)
"""

from __future__ import annotations

import os
import time

import httpx
import openai
import pytest

LIMITED_BASE_URL = os.environ.get("GATEWAY_LIMITED_BASE_URL", "").rstrip("/")
LIMITED_KEY = os.environ.get("GATEWAY_LIMITED_API_KEY", "sk-limited-test")
PERIOD_S = 2.0  # per_second = 0.5

if not LIMITED_BASE_URL:
    pytest.skip(
        "GATEWAY_LIMITED_BASE_URL not set (a gateway with a tiny per-key limit; see the docstring)",
        allow_module_level=True,
    )


def full_budget() -> None:
    """Burst 1, one more every 2 s: after 2 s the key has its request back."""
    time.sleep(PERIOD_S + 0.1)


def make_client(max_retries: int, log: list | None = None) -> openai.OpenAI:
    hooks = {}
    if log is not None:
        hooks = {
            "request": [lambda r: log.append(("request", time.monotonic(), r.headers.get("x-stainless-retry-count")))],
            "response": [lambda r: log.append(("response", time.monotonic(), r.status_code, dict(r.headers)))],
        }
    return openai.OpenAI(
        base_url=LIMITED_BASE_URL,
        api_key=LIMITED_KEY,
        max_retries=max_retries,
        http_client=httpx.Client(event_hooks=hooks, timeout=30),
    )


def test_wrong_key_is_401_invalid_api_key() -> None:
    c = openai.OpenAI(base_url=LIMITED_BASE_URL, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as ei:
        c.models.list()
    assert ei.value.status_code == 401
    assert ei.value.code == "invalid_api_key"
    assert ei.value.type == "invalid_request_error"
    assert "sk-wrong" not in str(ei.value.body)


def test_429_is_openais_rate_limit_error_with_headers() -> None:
    full_budget()
    client = make_client(max_retries=0)
    ok = client.models.with_raw_response.list()
    assert ok.headers["x-ratelimit-limit-requests"] == "1"
    assert ok.headers["x-ratelimit-remaining-requests"] == "0"
    assert ok.headers["x-ratelimit-reset-requests"] == "2s"
    with pytest.raises(openai.RateLimitError) as ei:
        client.models.list()
    e = ei.value
    assert e.status_code == 429
    assert e.type == "requests"
    assert e.code == "rate_limit_exceeded"
    assert e.request_id
    headers = e.response.headers
    after_ms = float(headers["retry-after-ms"])
    assert 0 < after_ms <= PERIOD_S * 1000, headers
    assert int(headers["retry-after"]) == 2, headers
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_sdk_retries_wait_for_retry_after_ms() -> None:
    """The SDK's default backoff (0.5 s, then 1 s) would give up before the 2 s the gateway
    asks for; it succeeds because it waits `retry-after-ms` before its retry."""
    full_budget()
    log: list = []
    client = make_client(max_retries=2, log=log)
    client.models.list()  # takes the only request of the burst
    log.clear()
    started = time.monotonic()
    page = client.models.list()  # 429 first, then the SDK's retry after retry-after-ms
    assert any(m.id for m in page.data)
    requests = [e for e in log if e[0] == "request"]
    responses = [e for e in log if e[0] == "response"]
    assert [r[2] for r in responses] == [429, 200], responses
    assert [r[2] for r in requests] == ["0", "1"], requests
    asked_ms = float(responses[0][3]["retry-after-ms"])
    waited = requests[1][1] - responses[0][1]
    assert waited * 1000 >= asked_ms * 0.95, (waited, asked_ms)
    assert time.monotonic() - started < PERIOD_S + 1.5
