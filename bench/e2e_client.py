#!/usr/bin/env python3
"""End-to-end point through the real Mastra fixture (standard library only), for
bench/e2e-mastra.sh.

1. Latency: the same non-streaming request straight to Mastra's `POST /api/v1/responses` (A) and
   through the gateway's `POST /v1/responses` (B), interleaved A,B / B,A at concurrency 1 on
   keep-alive connections, after a warm-up. The direct body is exactly what the gateway sent
   upstream for the gateway's request (captured by bench/count_proxy.py), so both paths make Mastra
   do the same work. Reports p50/p90/p99 of both, the gateway's added latency (absolute and as
   gateway/mastra - 1) and the median of the per-pair differences.
2. Steady conversation: through a second gateway whose upstream is the counting proxy, one
   `POST /v1/conversations {}`, then K turns `POST /v1/responses {"model", "conversation", "input"}`,
   counting the upstream requests (method + path) of every turn. Target: exactly one per turn.

Writes DIR/e2e.json, DIR/e2e.md, DIR/latency.csv; exits 1 if a request failed.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.request
from urllib.parse import urlsplit


def conn_for(url):
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.connect()
    import socket
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def post(conn, path, body):
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers={"content-type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    return time.perf_counter() - t0, r.status, data


def control(url, method="GET"):
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def output_text(doc):
    out = []
    for item in doc.get("output") or []:
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") == "output_text":
                out.append(part.get("text", ""))
    return "".join(out)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summary(xs):
    ms = [x * 1000 for x in xs]
    return {"n": len(ms), "p50": pct(ms, 50), "p90": pct(ms, 90), "p99": pct(ms, 99),
            "mean": statistics.fmean(ms) if ms else None, "min": min(ms) if ms else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mastra", required=True, help="Mastra base URL, e.g. http://127.0.0.1:4111")
    ap.add_argument("--gateway", required=True, help="gateway whose upstream is Mastra itself")
    ap.add_argument("--gateway-counted", required=True, help="gateway whose upstream is the counting proxy")
    ap.add_argument("--proxy-control", required=True, help="count_proxy.py control URL")
    ap.add_argument("--agent", default="echo-agent")
    ap.add_argument("--input", default="hello")
    ap.add_argument("--n", type=int, default=500, help="requests per path (interleaved)")
    ap.add_argument("--warmup", type=int, default=50, help="warm-up requests per path")
    ap.add_argument("--turns", type=int, default=50)
    ap.add_argument("--gap-ms", type=float, default=0,
                    help="idle time before each request of the latency run (Mastra may still be busy "
                         "with the previous request's work after answering it)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    failures = []

    # -- the exact upstream body of the gateway's request ----------------------------------
    gw_body = json.dumps({"model": args.agent, "input": args.input}, separators=(",", ":")).encode()
    cc = conn_for(args.gateway_counted)
    control(args.proxy_control + "/reset", "POST")
    _, st, data = post(cc, "/v1/responses", gw_body)
    if st != 200:
        print(f"e2e: the gateway answered {st}: {data[:300]!r}", file=sys.stderr)
        return 1
    counts = control(args.proxy_control + "/counts")
    direct_body = counts["last_body"].get("POST /api/v1/responses")
    if not direct_body:
        print(f"e2e: no upstream POST /api/v1/responses seen by the proxy: {counts}", file=sys.stderr)
        return 1
    direct_body = direct_body.encode()
    print(f"gateway request  : POST /v1/responses {gw_body.decode()}")
    print(f"upstream request : POST /api/v1/responses {direct_body.decode()}  (sent as is to Mastra directly)")

    # -- latency, interleaved -------------------------------------------------------------------
    cm = conn_for(args.mastra)
    cg = conn_for(args.gateway)

    def call(which):
        if which == "mastra":
            dt, st, data = post(cm, "/api/v1/responses", direct_body)
        else:
            dt, st, data = post(cg, "/v1/responses", gw_body)
        ok = st == 200
        if ok:
            try:
                doc = json.loads(data)
                ok = doc.get("status") == "completed" and args.input in output_text(doc)
                if which == "gateway":
                    ok = ok and str(doc.get("id", "")).startswith("resp_")
            except ValueError:
                ok = False
        if not ok:
            failures.append(f"{which}: HTTP {st} {data[:200]!r}")
        return dt

    for i in range(args.warmup):
        for w in (("mastra", "gateway") if i % 2 == 0 else ("gateway", "mastra")):
            call(w)
    lat = {"mastra": [], "gateway": []}
    rows = []
    t0 = time.perf_counter()
    for i in range(args.n):
        order = ("mastra", "gateway") if i % 2 == 0 else ("gateway", "mastra")
        pair = {}
        for w in order:
            if args.gap_ms:
                time.sleep(args.gap_ms / 1000)
            pair[w] = call(w)
            lat[w].append(pair[w])
        rows.append((i, order[0], pair["mastra"], pair["gateway"]))
    latency_secs = time.perf_counter() - t0
    with open(os.path.join(args.out, "latency.csv"), "w") as f:
        f.write("i,first,mastra_ms,gateway_ms\n")
        for i, first, m, g in rows:
            f.write(f"{i},{first},{m * 1000:.3f},{g * 1000:.3f}\n")
    sm, sg = summary(lat["mastra"]), summary(lat["gateway"])
    diffs = [(g - m) * 1000 for _, _, m, g in rows]
    added = {
        "p50_ms": sg["p50"] - sm["p50"],
        "p99_ms": sg["p99"] - sm["p99"],
        "p50_pct": (sg["p50"] / sm["p50"] - 1) * 100,
        "p99_pct": (sg["p99"] / sm["p99"] - 1) * 100,
        "mean_pct": (sg["mean"] / sm["mean"] - 1) * 100,
        "pair_diff_median_ms": statistics.median(diffs),
    }

    # -- steady conversation ----------------------------------------------------------------
    # A fresh connection: the gateway closed the first one while it idled (header_read_timeout).
    cc.close()
    cc = conn_for(args.gateway_counted)
    control(args.proxy_control + "/reset", "POST")
    _, st, data = post(cc, "/v1/conversations", b"{}")
    conv_id = None
    if st == 200:
        conv_id = json.loads(data).get("id")
    if not conv_id:
        failures.append(f"create conversation: HTTP {st} {data[:200]!r}")
    create_calls = control(args.proxy_control + "/counts")
    per_turn = []
    turn_lat = []
    if conv_id:
        for i in range(1, args.turns + 1):
            control(args.proxy_control + "/reset", "POST")
            body = json.dumps({"model": args.agent, "conversation": conv_id, "input": f"turn {i}"},
                              separators=(",", ":")).encode()
            dt, st, data = post(cc, "/v1/responses", body)
            turn_lat.append(dt)
            ok = st == 200
            if ok:
                doc = json.loads(data)
                conv = doc.get("conversation")
                conv = conv.get("id") if isinstance(conv, dict) else conv
                ok = f"turn {i}" in output_text(doc) and conv == conv_id
            if not ok:
                failures.append(f"turn {i}: HTTP {st} {data[:200]!r}")
            c = control(args.proxy_control + "/counts")
            per_turn.append({"turn": i, "calls": c["total"], "by_route": c["by_route"]})
    steady = per_turn[1:] if len(per_turn) > 1 else per_turn
    routes = {}
    for t in per_turn:
        for r, n in t["by_route"].items():
            routes[r] = routes.get(r, 0) + n
    conv_summary = {
        "conversation": conv_id,
        "turns": len(per_turn),
        "create_calls": create_calls["by_route"],
        "first_turn_calls": per_turn[0]["by_route"] if per_turn else None,
        "calls_per_turn_all": (sum(t["calls"] for t in per_turn) / len(per_turn)) if per_turn else None,
        "calls_per_turn_steady": (sum(t["calls"] for t in steady) / len(steady)) if steady else None,
        "steady_min": min((t["calls"] for t in steady), default=None),
        "steady_max": max((t["calls"] for t in steady), default=None),
        "calls_by_route_all_turns": routes,
        "turn_latency_ms": summary(turn_lat),
    }

    result = {
        "gateway_request": gw_body.decode(),
        "upstream_request": direct_body.decode(),
        "n": args.n, "warmup": args.warmup, "gap_ms": args.gap_ms, "latency_run_s": latency_secs,
        "mastra": sm, "gateway": sg, "added": added,
        "conversation": conv_summary, "per_turn": per_turn,
        "failures": failures[:20], "failed": len(failures),
    }
    with open(os.path.join(args.out, "e2e.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: result[k] for k in ("mastra", "gateway", "added", "failed")}, indent=1))
    print(json.dumps(conv_summary, indent=1))
    if failures:
        print("failures:", *failures[:10], sep="\n  ", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
