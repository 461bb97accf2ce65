"""Admin listener (DESIGN: /healthz, /readyz, /metrics on a separate port, no auth)."""

from __future__ import annotations

import os

import httpx
import openai
import pytest

from conftest import ECHO_AGENT, tag

ADMIN_URL = os.environ.get("GATEWAY_ADMIN_URL", "").rstrip("/")
pytestmark = pytest.mark.skipif(not ADMIN_URL, reason="GATEWAY_ADMIN_URL not set (run-all.sh sets it)")


def test_healthz_and_readyz() -> None:
    assert httpx.get(f"{ADMIN_URL}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{ADMIN_URL}/readyz", timeout=10).status_code == 200


def test_metrics_prometheus_text(client: openai.OpenAI) -> None:
    client.responses.create(model=ECHO_AGENT, input=f"metrics {tag()}")
    r = httpx.get(f"{ADMIN_URL}/metrics", timeout=10)
    assert r.status_code == 200
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers.get("content-type")
    assert "# TYPE" in r.text, r.text[:500]
