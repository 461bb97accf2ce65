#!/usr/bin/env python3
"""A stand-in for the gateway *as issues 15-17 want it*, used only to check that the framework
suites can pass (a test that no correct server could pass is as useless as one that cannot fail).
It is not the gateway and is not run by run-all.sh; `run.sh --stub` points the suites at it.

It plays the fixture's mock model itself (tests/fixtures/mastra/mock-model.mjs and the lab's
CALL_CLIENT trigger) and serves, on one port, both the gateway's /v1 and the bit of Mastra's own
API the suites read:
  POST /v1/responses (JSON + SSE), item_reference to any item it returned before
  POST /v1/conversations, GET|POST /v1/conversations/{id}/items
  POST /v1/chat/completions (JSON + SSE, tool_calls)
  GET  /api/memory/threads/{id}/messages (a conversation's items as Mastra format-2 messages)
The item shapes are the point: a tool Mastra ran is an `mcp_call` item (server_label "mastra")
followed by the answer message; a client tool ends the response with a `function_call`.

  python3 ideal_gateway.py --port 8080     (prints IDEAL_GATEWAY_READY port=<n>)
  IDEAL_GATEWAY_LOG=requests.jsonl ...     (also logs every POST body)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

PREFIX = {"support-agent": "echo: ", "echo-agent": "you said: "}
AGENT_TOOLS = {"support-agent": {"get_weather"}}
ITEMS: dict[str, dict] = {}  # every output item returned, by id (for item_reference)
CONVERSATIONS: dict[str, list[dict]] = {}
LOCK = threading.Lock()
REQUEST_LOG = os.environ.get("IDEAL_GATEWAY_LOG")  # if set: every POST body, one JSON line each


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def js(v) -> str:  # JSON.stringify
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def text_of(content) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict) and "text" in p)


# ----------------------------------------------------------------------------- the mock model


def decide(model: str, turns: list[dict], tool_names: set[str]) -> dict:
    """turns: neutral [{kind: user|assistant|call|result, ...}]. Returns
    {kind:'text', text, server_tool?} or {kind:'call', name, arguments}."""
    last_user = max((i for i, t in enumerate(turns) if t["kind"] == "user"), default=-1)
    user_text = turns[last_user]["text"] if last_user >= 0 else ""
    names = {t["call_id"]: t["name"] for t in turns if t["kind"] == "call"}
    results = [t for t in turns[last_user + 1:] if t["kind"] == "result"]
    if results:
        r = results[-1]
        return {"kind": "text", "text": f"tool {names.get(r['call_id'], '?')} returned: {js(r['output'])}"}
    m = re.search(r"CALL_CLIENT\s+(\S+)(?:\s+(\{.*\}))?", user_text)
    if m and m.group(1) in tool_names:
        return {"kind": "call", "name": m.group(1), "arguments": m.group(2) or js({"tz": "UTC"})}
    m = re.search(r"CALL_TOOL\s+(\S+)", user_text)
    if m and "get_weather" in AGENT_TOOLS.get(model, set()):
        args = {"city": m.group(1)}
        result = {"city": m.group(1), "tempC": 21, "conditions": "sunny"}
        return {
            "kind": "text",
            "text": f"tool get_weather returned: {js(result)}",
            "server_tool": {"name": "get_weather", "arguments": js(args), "output": js(result)},
        }
    return {"kind": "text", "text": PREFIX.get(model, "echo: ") + user_text}


def responses_turns(inp) -> list[dict]:
    if isinstance(inp, str):
        return [{"kind": "user", "text": inp}]
    turns = []
    for it in inp or []:
        if it.get("type") == "item_reference":
            it = ITEMS.get(it["id"])
            if it is None:
                raise KeyError("item_reference")
        t = it.get("type", "message")
        if t == "message":
            turns.append({"kind": "user" if it.get("role") == "user" else "assistant", "text": text_of(it.get("content"))})
        elif t == "function_call":
            turns.append({"kind": "call", "call_id": it["call_id"], "name": it["name"]})
        elif t == "function_call_output":
            out = it.get("output")
            turns.append({"kind": "result", "call_id": it["call_id"], "output": out if isinstance(out, str) else text_of(out)})
    return turns


# ----------------------------------------------------------------------------- handlers


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_json(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", new_id("req"))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: int, message: str, param=None) -> None:
        self.send_json(status, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}})

    def start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def body(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(n) or b"{}")
        if REQUEST_LOG:
            with LOCK, open(REQUEST_LOG, "a") as f:
                f.write(json.dumps({"path": self.path, "body": body}) + "\n")
        return body

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        m = re.fullmatch(r"/v1/conversations/([^/]+)/items", url.path)
        if m:
            items = CONVERSATIONS.get(m.group(1))
            if items is None:
                return self.error(404, f"Conversation with id '{m.group(1)}' not found.")
            data = list(items) if q.get("order") == "asc" else list(reversed(items))
            if "after" in q:
                ids = [i["id"] for i in data]
                data = data[ids.index(q["after"]) + 1:] if q["after"] in ids else []
            limit = int(q.get("limit", 20))
            page = data[:limit]
            return self.send_json(200, {
                "object": "list", "data": page, "has_more": len(data) > limit,
                "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None,
            })
        m = re.fullmatch(r"/api/memory/threads/([^/]+)/messages", url.path)
        if m:
            return self.send_json(200, {"messages": mastra_messages(CONVERSATIONS.get(m.group(1), []))})
        if url.path == "/readyz":
            return self.send_json(200, {"status": "ready"})
        self.error(404, f"Invalid URL (GET {url.path})")

    def do_POST(self):
        url = urlparse(self.path)
        body = self.body()
        if url.path == "/v1/responses":
            return self.create_response(body)
        if url.path == "/v1/chat/completions":
            return self.chat_completion(body)
        if url.path == "/v1/conversations":
            cid = new_id("conv")
            CONVERSATIONS[cid] = [stored(i) for i in body.get("items") or []]
            return self.send_json(200, {"id": cid, "object": "conversation", "created_at": int(time.time()), "metadata": body.get("metadata") or {}})
        m = re.fullmatch(r"/v1/conversations/([^/]+)/items", url.path)
        if m:
            items = CONVERSATIONS.get(m.group(1))
            if items is None:
                return self.error(404, f"Conversation with id '{m.group(1)}' not found.")
            new = [stored(i) for i in body.get("items") or []]
            items.extend(new)
            return self.send_json(200, {"object": "list", "data": new, "has_more": False,
                                        "first_id": new[0]["id"] if new else None, "last_id": new[-1]["id"] if new else None})
        self.error(404, f"Invalid URL (POST {url.path})")

    # ------------------------------------------------------------------ /v1/responses

    def create_response(self, body: dict) -> None:
        model = body.get("model") or "support-agent"
        try:
            turns = responses_turns(body.get("input"))
        except KeyError:
            return self.error(400, "unknown item_reference", "input")
        tool_names = {t.get("name") for t in body.get("tools") or [] if t.get("type") == "function"}
        d = decide(model, turns, tool_names)
        output = []
        if d["kind"] == "call":
            output.append({"id": new_id("fc"), "type": "function_call", "status": "completed",
                           "call_id": new_id("call"), "name": d["name"], "arguments": d["arguments"]})
        else:
            if "server_tool" in d:
                st = d["server_tool"]
                output.append({"id": new_id("mcp"), "type": "mcp_call", "status": "completed", "server_label": "mastra",
                               "name": st["name"], "arguments": st["arguments"], "output": st["output"],
                               "error": None, "approval_request_id": None})
            output.append({"id": new_id("msg"), "type": "message", "role": "assistant", "status": "completed",
                           "content": [{"type": "output_text", "text": d["text"], "annotations": [], "logprobs": []}]})
        for it in output:
            ITEMS[it["id"]] = it
        resp = {
            "id": new_id("resp"), "object": "response", "created_at": int(time.time()), "status": "completed",
            "error": None, "incomplete_details": None, "instructions": None, "max_output_tokens": None,
            "model": model, "output": output, "parallel_tool_calls": True, "previous_response_id": None,
            "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": body.get("tools") or [],
            "metadata": {}, "store": body.get("store", True), "text": {"format": {"type": "text"}},
            "truncation": "disabled", "reasoning": {"effort": None, "summary": None}, "user": None,
            "usage": {"input_tokens": len(turns), "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": len(turns) + 3},
        }
        if not body.get("stream"):
            return self.send_json(200, resp)
        self.start_sse()
        seq = 0

        def ev(type_, **fields):
            nonlocal seq
            payload = {"type": type_, "sequence_number": seq, **fields}
            seq += 1
            self.wfile.write(f"event: {type_}\ndata: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        start = {**resp, "status": "in_progress", "output": [], "usage": None}
        ev("response.created", response=start)
        ev("response.in_progress", response=start)
        for idx, it in enumerate(output):
            if it["type"] == "message":
                text = it["content"][0]["text"]
                ev("response.output_item.added", output_index=idx, item={**it, "status": "in_progress", "content": []})
                part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
                ev("response.content_part.added", item_id=it["id"], output_index=idx, content_index=0, part=part)
                for w in re.findall(r"\S+\s*", text):
                    ev("response.output_text.delta", item_id=it["id"], output_index=idx, content_index=0, delta=w, logprobs=[])
                ev("response.output_text.done", item_id=it["id"], output_index=idx, content_index=0, text=text, logprobs=[])
                ev("response.content_part.done", item_id=it["id"], output_index=idx, content_index=0, part={**part, "text": text})
            elif it["type"] == "function_call":
                ev("response.output_item.added", output_index=idx, item={**it, "status": "in_progress", "arguments": ""})
                ev("response.function_call_arguments.delta", item_id=it["id"], output_index=idx, delta=it["arguments"])
                ev("response.function_call_arguments.done", item_id=it["id"], output_index=idx, arguments=it["arguments"])
            elif it["type"] == "mcp_call":
                ev("response.output_item.added", output_index=idx, item={**it, "status": "in_progress", "output": None})
                ev("response.mcp_call_arguments.done", item_id=it["id"], output_index=idx, arguments=it["arguments"])
                ev("response.mcp_call.completed", item_id=it["id"], output_index=idx)
            ev("response.output_item.done", output_index=idx, item=it)
        ev("response.completed", response=resp)

    # ------------------------------------------------------------------ /v1/chat/completions

    def chat_completion(self, body: dict) -> None:
        model = body.get("model") or "echo-agent"
        turns = []
        for m in body.get("messages") or []:
            role = m.get("role")
            if role == "tool":
                turns.append({"kind": "result", "call_id": m.get("tool_call_id"), "output": text_of(m.get("content"))})
            elif role == "assistant":
                for tc in m.get("tool_calls") or []:
                    turns.append({"kind": "call", "call_id": tc["id"], "name": tc["function"]["name"]})
                if m.get("content"):
                    turns.append({"kind": "assistant", "text": text_of(m.get("content"))})
            elif role == "user":
                turns.append({"kind": "user", "text": text_of(m.get("content"))})
        tool_names = {t["function"]["name"] for t in body.get("tools") or [] if t.get("type") == "function"}
        d = decide(model, turns, tool_names)
        cid, created = "chatcmpl-" + uuid.uuid4().hex, int(time.time())
        if d["kind"] == "call":
            call = {"id": new_id("call"), "type": "function", "function": {"name": d["name"], "arguments": d["arguments"]}}
            message, finish = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}, "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": d["text"], "refusal": None}, "stop"
        usage = {"prompt_tokens": len(turns), "completion_tokens": 3, "total_tokens": len(turns) + 3}
        base = {"id": cid, "created": created, "model": model, "system_fingerprint": None}
        if not body.get("stream"):
            return self.send_json(200, {**base, "object": "chat.completion", "usage": usage,
                                        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}]})
        self.start_sse()

        def chunk(delta, finish_reason=None, **extra):
            payload = {**base, "object": "chat.completion.chunk",
                       "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}], **extra}
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        if d["kind"] == "call":
            tc = message["tool_calls"][0]
            chunk({"tool_calls": [{"index": 0, "id": tc["id"], "type": "function", "function": {"name": tc["function"]["name"], "arguments": ""}}]})
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": tc["function"]["arguments"]}}]})
        else:
            for w in re.findall(r"\S+\s*", d["text"]):
                chunk({"content": w})
        chunk({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            self.wfile.write(f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def stored(item: dict) -> dict:
    it = dict(item)
    if "type" not in it:
        it["type"] = "message"
    it.setdefault("id", new_id({"function_call": "fc", "function_call_output": "fco"}.get(it["type"], "msg")))
    it.setdefault("status", "completed")
    if it["type"] == "message" and isinstance(it.get("content"), str):
        kind = "input_text" if it.get("role") == "user" else "output_text"
        it["content"] = [{"type": kind, "text": it["content"]}]
    ITEMS[it["id"]] = it
    return it


def mastra_messages(items: list[dict]) -> list[dict]:
    """Conversation items as Mastra format-2 messages (one assistant message per turn)."""
    msgs: list[dict] = []
    calls: dict[str, dict] = {}
    for it in items:
        t = it.get("type")
        if t == "message" and it.get("role") == "user":
            msgs.append({"role": "user", "content": {"format": 2, "parts": [{"type": "text", "text": text_of(it["content"])}]}})
            continue
        if not msgs or msgs[-1]["role"] != "assistant":
            msgs.append({"role": "assistant", "content": {"format": 2, "parts": []}})
        parts = msgs[-1]["content"]["parts"]
        if t == "message":
            parts.append({"type": "text", "text": text_of(it["content"])})
        elif t == "function_call":
            inv = {"state": "call", "toolCallId": it["call_id"], "toolName": it["name"], "args": json.loads(it["arguments"])}
            calls[it["call_id"]] = inv
            parts.append({"type": "tool-invocation", "toolInvocation": inv})
        elif t == "mcp_call":
            parts.append({"type": "tool-invocation", "toolInvocation": {
                "state": "result", "toolCallId": it["id"], "toolName": it["name"],
                "args": json.loads(it["arguments"]), "result": it.get("output")}})
        elif t == "function_call_output" and it["call_id"] in calls:
            calls[it["call_id"]].update(state="result", result=it["output"])
    return msgs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"IDEAL_GATEWAY_READY port={srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
