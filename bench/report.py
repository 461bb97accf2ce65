#!/usr/bin/env python3
"""Checks and the report of bench/run.sh (standard library only; the chart needs matplotlib).

  report.py check FILE [BYTES]    exit 1 (and say why) unless every request of a load run (oha's
                                  JSON, or bench/wrk.lua's oha-shaped line) completed with a 2xx
                                  answer (and, given BYTES, the answers averaged that size within
                                  1 %: no truncated or failed streams; wrk.lua also checks each
                                  answer's size and that each stream ended with
                                  response.completed, or a native stream with its finish
                                  chunk and [DONE]). check-oha is the old name.
  report.py line FILE TARGET      one human line about a load run (for --verbose)
  report.py report DIR [--chart]  medians over repeats -> DIR/results.md, DIR/results.json,
                                  DIR/results.png (with --chart); prints the tables
"""

import json
import os
import re
import statistics
import sys
import textwrap
from pathlib import Path

TARGETS = ["direct", "nginx", "gateway", "bare", "reqwest"]
LABELS = {"direct": "(a) direct", "nginx": "(b) nginx", "gateway": "(c) gateway", "bare": "(d) bare",
          "reqwest": "(e) bare via reqwest"}
# RPS ratios per point (results.json "ratios"; the table's RPS columns): name -> (numerator, denominator)
RATIOS = {  # in the order of the table's columns
    "gw/direct": ("gateway", "direct"),
    "gw/nginx": ("gateway", "nginx"),
    "gw/bare": ("gateway", "bare"),
    "gw/reqwest": ("gateway", "reqwest"),
    "bare/nginx": ("bare", "nginx"),
    "reqwest/nginx": ("reqwest", "nginx"),
    "nginx/direct": ("nginx", "direct"),
}
KINDS = {"json": "non-streaming", "stream": "streaming (SSE)"}
# The gateway's upstream calls per request, by route: name -> the fake's /__bench/stats counters.
ROUTES = {
    "stream": ["agent_stream"],             # POST /api/agents/:id/stream: the turn
    "save": ["save_messages"],              # POST /api/memory/save-messages: the response record
    "v1": ["responses_json", "responses_stream"],  # POST /api/v1/responses (gateways before bf23562)
    "other": ["agents", "responses_get", "other"],
}


def load(path):
    with open(path) as f:
        return json.load(f)


def oha_problems(d):
    problems = []
    codes = d.get("statusCodeDistribution") or {}
    errors = d.get("errorDistribution") or {}
    if sum(codes.values()) == 0:
        problems.append("no request completed")
    bad = {k: v for k, v in codes.items() if not str(k).startswith("2")}
    if bad:
        problems.append(f"non-2xx answers {bad}")
    if errors:
        problems.append(f"failed requests {errors}")
    if d.get("incomplete"):
        why = f" (first: {d['firstBad']})" if d.get("firstBad") else ""
        problems.append(f"{d['incomplete']} incomplete or wrongly sized answer(s){why}")
    return problems


def check_oha(path, expect_bytes=None):
    try:
        d = load(path)
    except Exception as e:  # noqa: BLE001 - any unreadable output is a failure
        err = Path(str(path) + ".err")
        tail = err.read_text()[-400:].strip() if err.exists() else ""
        print(f"no load generator result ({e}) {tail}")
        return 1
    problems = oha_problems(d)
    if expect_bytes and not problems:
        n = sum((d.get("statusCodeDistribution") or {}).values())
        avg = (d["summary"].get("totalData") or 0) / max(n, 1)
        if abs(avg - expect_bytes) > 0.01 * expect_bytes:
            problems.append(f"answers averaged {avg:.0f} bytes, a complete one has {expect_bytes}")
    if problems:
        print("; ".join(problems))
        return 1
    return 0


def oha_metrics(d):
    s = d["summary"]
    lat = d.get("latencyPercentiles") or {}
    fb = d.get("firstBytePercentiles") or {}
    codes = d.get("statusCodeDistribution") or {}
    return {
        "rps": s.get("requestsPerSec") or 0.0,
        "p50": (lat.get("p50") or 0.0) * 1000,
        "p99": (lat.get("p99") or 0.0) * 1000,
        "requests": sum(v for k, v in codes.items() if str(k).startswith("2")),
        "ttfb_p50": fb["p50"] * 1000 if fb.get("p50") is not None else None,
        "ttfb_p99": fb["p99"] * 1000 if fb.get("p99") is not None else None,
        "failed": len(oha_problems(d)) > 0,
    }


def line(path, target):
    m = oha_metrics(load(path))
    print(
        f"    {Path(path).stem:<28} {LABELS[target]:<12} {m['rps']:>10.0f} rps  "
        f"p50 {m['p50']:.3f} ms  p99 {m['p99']:.3f} ms"
    )
    return 0


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def collect(raw):
    """{(kind, c): {target: {metric: median}}} plus the gateway's process numbers."""
    runs = {}
    pat = re.compile(rf"^(json|stream)-c(\d+)-r(\d+)-({'|'.join(TARGETS)})\.json$")
    for f in sorted(raw.iterdir()):
        m = pat.match(f.name)
        if not m:
            continue
        kind, c, r, t = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        try:
            met = oha_metrics(load(f))
        except Exception:  # noqa: BLE001
            met = {"rps": None, "p50": None, "p99": None, "ttfb_p50": None, "ttfb_p99": None,
                   "requests": 0, "failed": True}
        if t == "gateway":
            p = raw / f"{kind}-c{c}-r{r}-gateway.proc.json"
            try:
                pd = load(p)
                n = max(met["requests"], 1)
                met["cpu_us"] = pd["cpu_ticks"] / pd["clk_tck"] / n * 1e6
                met["hwm_mb"] = pd["hwm_kb"] / 1024
                if "upstream_after" in pd:
                    before, after = pd["upstream_before"], pd["upstream_after"]
                    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                    for route, keys in ROUTES.items():
                        met[f"calls_{route}"] = sum(calls.get(k, 0) for k in keys) / n
                    met["calls"] = sum(calls.values()) / n
                else:  # a proc.json of the bench before the split by route
                    met["calls"] = pd["upstream_calls"] / n
            except Exception:  # noqa: BLE001
                met["cpu_us"] = met["hwm_mb"] = met["calls"] = None
        runs.setdefault((kind, c), {}).setdefault(t, []).append(met)
    points = {}
    for key, by_target in sorted(runs.items(), key=lambda kv: (kv[0][0] != "json", kv[0][1])):
        points[key] = {}
        for t, ms in by_target.items():
            agg = {"repeats": len(ms), "failed": any(m["failed"] for m in ms)}
            for metric in ("rps", "p50", "p99", "ttfb_p50", "ttfb_p99", "cpu_us", "calls",
                           *(f"calls_{r}" for r in ROUTES)):
                agg[metric] = median([m.get(metric) for m in ms])
            agg["hwm_mb"] = max([m["hwm_mb"] for m in ms if m.get("hwm_mb") is not None], default=None)
            points[key][t] = agg
    return points


def fmt(x, spec=".3f", none="–"):
    return none if x is None else format(x, spec)


def ratio(a, b):
    return None if a is None or not b else a / b


def diff(a, b):
    return None if a is None or b is None else a - b


def signed(x, spec=".3f"):
    return "–" if x is None else format(x, "+" + spec)


def calls_by_route(g):
    """ "1.00 stream + 1.00 save": the gateway's upstream calls per request, routes with any."""
    parts = [f"{g[f'calls_{r}']:.2f} {r}" for r in ROUTES if (g.get(f"calls_{r}") or 0) >= 0.005]
    if parts:
        return " + ".join(parts)
    return fmt(g.get("calls"), ".2f")


def rps_ratios(point):
    """{"gw/direct": 0.83, ...}: the RATIOS of one point's median RPS (None where a side is missing)."""
    return {name: ratio(point.get(a, {}).get("rps"), point.get(b, {}).get("rps"))
            for name, (a, b) in RATIOS.items()}


def tables(points, meta):
    out = []
    no_ttfb = meta.get("loadgen") == "wrk"
    if no_ttfb:
        out += ["Load generator: wrk. It does not measure time to first byte, so the TTFB columns "
                "are empty (–); run with `--loadgen oha` for them.", ""]
    for kind, title in KINDS.items():
        keys = [k for k in points if k[0] == kind]
        if not keys:
            continue
        out.append(f"### {title}: what each target does (medians of {meta['repeats']} repeat(s))\n")
        head = "| c | target | RPS | p50 ms | p99 ms |"
        sep = "|---:|---|---:|---:|---:|"
        if kind == "stream":
            if no_ttfb:
                head += " TTFB p50 ms (oha only) | TTFB p99 ms (oha only) |"
            else:
                head += " TTFB p50 ms | TTFB p99 ms |"
            sep += "---:|---:|"
        out += [head, sep]
        for key in keys:
            for t in TARGETS:
                a = points[key].get(t)
                if not a:
                    continue
                row = (
                    f"| {key[1]} | {LABELS[t]}{' ⚠' if a['failed'] else ''} | {fmt(a['rps'], ',.0f')} "
                    f"| {fmt(a['p50'])} | {fmt(a['p99'])} |"
                )
                if kind == "stream":
                    row += f" {fmt(a['ttfb_p50'])} | {fmt(a['ttfb_p99'])} |"
                out.append(row)
        out.append("")
        out.append(f"### {title}: what the gateway adds\n")
        head = (
            "| c | RPS gw/direct | RPS gw/nginx | RPS gw/bare | RPS gw/reqwest | RPS bare/nginx "
            "| RPS reqwest/nginx | RPS nginx/direct "
            "| +p50 vs direct | +p50 vs nginx | +p99 vs direct | +p99 vs nginx |"
        )
        sep = "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        if kind == "stream":
            head += (" +TTFB p50 vs direct (oha only) | +TTFB p50 vs nginx (oha only) |" if no_ttfb
                     else " +TTFB p50 vs direct | +TTFB p50 vs nginx |")
            sep += "---:|---:|"
        head += " gw CPU µs/req | gw RSS peak MB | gw upstream calls/req by route |"
        sep += "---:|---:|---:|"
        out += [head, sep]
        for key in keys:
            p = points[key]
            d, n, g = p.get("direct", {}), p.get("nginx", {}), p.get("gateway", {})
            rr = rps_ratios(p)
            rps_cols = " | ".join(f"{fmt(rr[name], '.2f')}×" for name in RATIOS)
            row = (
                f"| {key[1]} | {rps_cols} "
                f"| {signed(diff(g.get('p50'), d.get('p50')))} ms | {signed(diff(g.get('p50'), n.get('p50')))} ms "
                f"| {signed(diff(g.get('p99'), d.get('p99')))} ms | {signed(diff(g.get('p99'), n.get('p99')))} ms |"
            )
            if kind == "stream":
                row += (
                    f" {signed(diff(g.get('ttfb_p50'), d.get('ttfb_p50')))} ms "
                    f"| {signed(diff(g.get('ttfb_p50'), n.get('ttfb_p50')))} ms |"
                )
            row += f" {fmt(g.get('cpu_us'), '.0f')} | {fmt(g.get('hwm_mb'), '.1f')} | {calls_by_route(g)} |"
            out.append(row)
        out.append("")
    return "\n".join(out)


def header(meta):
    lines = [
        f"# mastra-gateway benchmark, {meta['stamp']} ({meta['mode']})",
        "",
    ]
    if meta.get("note"):
        lines += [f"**Note: {meta['note']}**", ""]
    lines += [
        f"- machine: {meta['cpus']} CPU(s), {meta['cpu_model']}, {meta['mem_gb']:.0f} GiB, "
        f"kernel {meta['kernel']}; load average at start {meta['load_start']}, at end {meta['load_end']}",
        f"- gateway: `{meta['gw_bin']}` (checkout at commit {meta['commit']}), config `{meta['gw_config']}`"
        + (f" with `{meta['gw_env']}`" if meta.get("gw_env") else "")
        + "; "
        f"fake Mastra delay {meta['delay_ms']} ms; requests "
        + {"": "without `store` (stored turns: the gateway also writes a response record)",
           "true": "with `\"store\":true` (the gateway also writes a response record)",
           "false": "with `\"store\":false` (no response record)"}.get(meta.get("store", ""), "?"),
        f"- load: {meta['loadgen_v']}, {meta['repeats']} repeat(s) × {meta['duration']} s per point after "
        f"{meta['warmup']} s warm-up per target at c=16; latency = whole answer (whole stream); "
        + ("TTFB = oha's time to the first body byte (the first SSE event)" if meta["loadgen"] == "oha"
           else "no TTFB: wrk does not measure the first byte (TTFB is oha only: `--loadgen oha`)"),
        f"- (a) the fake Mastra's native agent route `POST /api/agents/support-agent/stream` directly, "
        f"(b) {meta['nginx']} as a plain reverse proxy to it (upstream keep-alive, "
        "proxy_buffering off), (c) the gateway (its turn on the same route, plus "
        "`POST /api/memory/save-messages` for a stored turn's record: see the calls by route), "
        + ("(d) bare-proxy: a minimal hyper 1 + hyper-util reverse proxy to the same route, relaying "
           "every body frame by frame (`--bare-relay`: also the native stream's chunks to a "
           "non-streaming request) "
           if meta.get("bare_mode") == "relay" else
           "(d) bare-proxy --buffer: a minimal hyper 1 + hyper-util reverse proxy to the same route, "
           "bodies read whole (a non-streaming request's answer too; streams relayed chunk by chunk) ")
        + "(no parsing, translation, logging or metrics: the floor of the gateway's own stack), "
        "(e) bare-proxy --reqwest: the same hop through a reqwest client set up as the gateway's, "
        "bodies read whole (the floor of a translating gateway whose upstream client is reqwest); "
        "the fake and the floors answer Mastra's native chunk stream to both kinds of request, "
        "the gateway OpenAI's Response JSON or SSE; "
        "all on 127.0.0.1, load generator on the same cores",
        f"- gateway RSS: idle {meta['idle_rss_mb']:.1f} MB, after the load {meta['after_rss_mb']:.1f} MB; "
        "CPU µs/req = (utime+stime) / 2xx answers during the point",
        f"- reproduce: `{meta['repro']}`",
        "",
        "",
    ]
    return "\n".join(lines)


def machine():
    info = {"cpus": os.cpu_count(), "cpu_model": "?", "mem_gb": 0.0, "kernel": os.uname().release}
    try:
        for ln in open("/proc/cpuinfo"):
            if ln.startswith("model name"):
                info["cpu_model"] = ln.split(":", 1)[1].strip()
                break
        for ln in open("/proc/meminfo"):
            if ln.startswith("MemTotal"):
                info["mem_gb"] = int(ln.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    return info


def chart(points, meta, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in KINDS if any(key[0] == k for key in points)]
    fig, axes = plt.subplots(2, len(kinds), figsize=(6.5 * len(kinds), 8), squeeze=False)
    colors = {"direct": "#9e9e9e", "nginx": "#4c78a8", "gateway": "#f58518", "bare": "#54a24b", "reqwest": "#b279a2"}
    for col, kind in enumerate(kinds):
        keys = [k for k in points if k[0] == kind]
        xs = range(len(keys))
        w = 0.8 / len(TARGETS)
        for i, t in enumerate(TARGETS):
            off = [x + (i - (len(TARGETS) - 1) / 2) * w for x in xs]
            rps = [points[k].get(t, {}).get("rps") or 0 for k in keys]
            p50 = [points[k].get(t, {}).get("p50") or 0 for k in keys]
            p99 = [points[k].get(t, {}).get("p99") or 0 for k in keys]
            axes[0][col].bar(off, rps, w, label=LABELS[t], color=colors[t])
            axes[1][col].bar(off, p50, w, label=f"{LABELS[t]} p50", color=colors[t])
            axes[1][col].scatter(off, p99, marker="_", s=200, color="black", zorder=3,
                                 label="p99" if i == 0 else None)
        for row, ylabel in ((0, "requests / s"), (1, "latency ms (bar p50, dash p99)")):
            ax = axes[row][col]
            ax.set_xticks(list(xs))
            ax.set_xticklabels([f"c={k[1]}" for k in keys])
            ax.set_ylabel(ylabel)
            ax.grid(axis="y", alpha=0.3)
        axes[1][col].set_yscale("log")
        axes[0][col].set_title(f"{KINDS[kind]}: throughput")
        axes[1][col].set_title(f"{KINDS[kind]}: latency")
        axes[0][col].legend(fontsize=8)
    title = f"mastra-gateway vs bare hyper proxies vs nginx vs direct — {meta['stamp']}, {meta['cpus']} CPUs"
    if meta.get("note"):
        title += "\n" + "\n".join(textwrap.wrap(meta["note"], 150))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def report(out_dir, want_chart):
    out = Path(out_dir)
    points = collect(out / "raw")
    env = os.environ
    meta = {
        "stamp": env.get("B_STAMP", out.name),
        "mode": env.get("B_MODE", "?"),
        "note": env.get("B_NOTE", ""),
        "duration": env.get("B_DURATION", "?"),
        "repeats": env.get("B_REPEATS", "?"),
        "warmup": env.get("B_WARMUP", "?"),
        "delay_ms": env.get("B_DELAY", "0"),
        "store": env.get("B_STORE", ""),
        "bare_mode": env.get("B_BARE_MODE", "--buffer"),
        "loadgen": env.get("B_LOADGEN", "oha"),
        "loadgen_v": env.get("B_LOADGEN_V") or env.get("B_OHA") or "oha",
        "nginx": env.get("B_NGINX", "nginx").replace("nginx version: ", ""),
        "gw_bin": env.get("B_GW_BIN", "?"),
        "commit": env.get("B_COMMIT", "?"),
        "gw_env": env.get("B_GW_ENV", ""),
        "gw_config": env.get("B_GW_CONFIG", "config.toml"),
        "idle_rss_mb": int(env.get("B_IDLE_RSS_KB", "0")) / 1024,
        "after_rss_mb": int(env.get("B_AFTER_RSS_KB", "0")) / 1024,
        "repro": env.get("B_REPRO", "bash bench/run.sh"),
        "load_start": env.get("B_LOADAVG_START", "?"),
        "load_end": " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists("/proc/loadavg") else "?",
        **machine(),
    }
    md = header(meta) + tables(points, meta)
    if want_chart:
        try:
            chart(points, meta, out / "results.png")
            md += "\n![chart](results.png)\n"
        except Exception as e:  # noqa: BLE001
            print(f"[bench] warning: no chart: {e}", file=sys.stderr)
    (out / "results.md").write_text(md)
    serial = {f"{k[0]}-c{k[1]}": v for k, v in points.items()}
    ratios = {f"{k[0]}-c{k[1]}": rps_ratios(v) for k, v in points.items()}
    (out / "results.json").write_text(json.dumps({"meta": meta, "points": serial, "ratios": ratios}, indent=1))
    print()
    print(md)
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] in ("check", "check-oha"):
        return check_oha(argv[1], int(argv[2]) if len(argv) > 2 and argv[2] else None)
    if len(argv) >= 3 and argv[0] == "line":
        return line(argv[1], argv[2])
    if len(argv) >= 2 and argv[0] == "report":
        return report(argv[1], "--chart" in argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
