#!/usr/bin/env python3
"""Stream soak client for bench/soak.sh (standard library only).

Opens N streaming `POST /v1/responses` at once against the gateway, each on its own HTTP/1.1
connection (or, with --proto h2c, multiplexed over a few cleartext HTTP/2 connections), holds them
all open while the upstream trickles its events, and checks that every stream completed: HTTP 200,
`text/event-stream`, a chunked body that ends with the terminal chunk, whose last SSE event is
`response.completed` and which has the expected number of events. Meanwhile it samples the
gateway process (VmRSS, VmHWM, open fds, threads) and its `mastra_gateway_open_streams` gauge.

  soak_client.py --url http://127.0.0.1:8080/v1/responses --streams 10000 --pid 1234 \
      --metrics http://127.0.0.1:9090/metrics --events 33 --out DIR

Writes DIR/soak.json (the summary) and DIR/samples.csv; prints the summary; exits 1 unless every
stream completed.
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import struct
import sys
import time
from urllib.parse import urlsplit

EVENT = b"event: "
COMPLETED = b"event: response.completed\n"


class Stream:
    """One streaming request's state and checks (protocol independent)."""

    __slots__ = ("t_start", "t_head", "t_end", "status", "ctype", "events", "bytes", "tail",
                 "carry", "done", "error")

    def __init__(self):
        self.t_start = time.monotonic()
        self.t_head = None
        self.t_end = None
        self.status = None
        self.ctype = b""
        self.events = 0
        self.bytes = 0
        self.tail = b""
        self.carry = b""
        self.done = False
        self.error = None

    def body(self, piece):
        self.bytes += len(piece)
        # Count "event: " lines without keeping the body; a match can straddle two pieces, so
        # the last len(EVENT)-1 bytes are carried over (a whole match never fits in them).
        buf = self.carry + piece
        self.events += buf.count(EVENT)
        self.carry = buf[-(len(EVENT) - 1):]
        self.tail = (self.tail + piece)[-8192:]

    def verdict(self, want_events):
        if self.error:
            return self.error
        if self.status != 200:
            return f"http_{self.status}"
        if b"text/event-stream" not in self.ctype:
            return "not_sse"
        if not self.done:
            return "unfinished"
        at = self.tail.rfind(COMPLETED)
        if at < 0 or self.tail.find(b"\nevent:", at + 1) >= 0 or not self.tail.endswith(b"\n\n"):
            return "no_response_completed"
        if want_events and self.events != want_events:
            return "wrong_event_count"
        return None


class Stats:
    def __init__(self):
        self.open = 0        # request sent, stream not finished
        self.streaming = 0   # response head received, stream not finished
        self.max_open = 0
        self.max_streaming = 0
        self.connect_errors = 0
        self.t_all_sent = None

    def inc(self, field):
        v = getattr(self, field) + 1
        setattr(self, field, v)
        mx = "max_" + field
        if v > getattr(self, mx):
            setattr(self, mx, v)

    def dec(self, field):
        setattr(self, field, getattr(self, field) - 1)


# --------------------------------------------------------------------------------------------
# HTTP/1.1: one connection per stream
# --------------------------------------------------------------------------------------------
class H1(asyncio.Protocol):
    def __init__(self, request, stream, stats, finished):
        self.request = request
        self.s = stream
        self.stats = stats
        self.finished = finished
        self.buf = b""
        self.state = "head"  # head -> size -> data -> crlf -> ... -> trailer -> end
        self.left = 0
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)
        self.stats.inc("open")

    def _finish(self, error=None):
        if self.finished.done():
            return
        s = self.s
        s.t_end = time.monotonic()
        if error and not s.error:
            s.error = error
        self.stats.dec("open")
        if s.t_head is not None:
            self.stats.dec("streaming")
        self.finished.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data):
        self.buf += data
        try:
            self._parse()
        except ValueError as e:
            self._finish(f"bad_http: {e}")

    def _parse(self):
        s = self.s
        while True:
            if self.state == "head":
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, self.buf = self.buf[:end], self.buf[end + 4:]
                lines = head.split(b"\r\n")
                parts = lines[0].split(b" ", 2)
                s.status = int(parts[1])
                s.t_head = time.monotonic()
                self.stats.inc("streaming")
                chunked = False
                length = None
                for ln in lines[1:]:
                    k, _, v = ln.partition(b":")
                    k = k.strip().lower()
                    v = v.strip()
                    if k == b"content-type":
                        s.ctype = v
                    elif k == b"transfer-encoding" and b"chunked" in v.lower():
                        chunked = True
                    elif k == b"content-length":
                        length = int(v)
                if chunked:
                    self.state = "size"
                elif length is not None:
                    self.state, self.left = "fixed", length
                else:
                    self.state = "close"
            elif self.state == "size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(self.buf[:end].split(b";")[0], 16)
                self.buf = self.buf[end + 2:]
                if size == 0:
                    self.state = "trailer"
                else:
                    self.state, self.left = "data", size
            elif self.state == "data":
                if not self.buf:
                    return
                piece = self.buf[: self.left]
                self.buf = self.buf[len(piece):]
                self.left -= len(piece)
                s.body(piece)
                if self.left == 0:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(self.buf) < 2:
                    return
                if self.buf[:2] != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
                self.buf = self.buf[2:]
                self.state = "size"
            elif self.state == "trailer":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                if line == b"":
                    s.done = True
                    self._finish()
                    return
            elif self.state == "fixed":
                piece = self.buf[: self.left]
                self.buf = self.buf[len(piece):]
                self.left -= len(piece)
                s.body(piece)
                if self.left == 0:
                    s.done = True
                    self._finish()
                return
            else:  # "close": body until EOF
                s.body(self.buf)
                self.buf = b""
                return

    def eof_received(self):
        if self.state == "close":
            self.s.done = True
            self._finish()
        else:
            self._finish("closed_early")

    def connection_lost(self, exc):
        self._finish("connection_lost" if exc is None else f"connection_lost: {type(exc).__name__}")


async def run_h1(args, host, port, path, body, streams, stats, conn_sem):
    req = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()

    async def one(i):
        s = Stream()
        streams.append(s)
        fut = loop.create_future()
        async with conn_sem:
            try:
                await loop.create_connection(lambda: H1(req, s, stats, fut), host, port)
            except OSError as e:
                stats.connect_errors += 1
                s.error = f"connect: {e.strerror or type(e).__name__}"
                s.t_end = time.monotonic()
                return
        try:
            await asyncio.wait_for(asyncio.shield(fut), args.timeout)
        except asyncio.TimeoutError:
            s.error = s.error or "timeout"

    tasks = [asyncio.ensure_future(one(i)) for i in range(args.streams)]
    await asyncio.gather(*tasks)


# --------------------------------------------------------------------------------------------
# h2c (prior knowledge): a minimal HTTP/2 client, enough for POST + streamed DATA
# --------------------------------------------------------------------------------------------
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST, SETTINGS, PING, GOAWAY, WINDOW, CONT = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", sid) + payload


def hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    # literal header field without indexing, new name, no Huffman
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


def status_of(block):
    """The :status of a response header block without a full HPACK decoder: servers encode
    `:status 200` as the static-table entry 8 (0x88); other codes as a literal with name index 8."""
    i = 0
    while i < len(block) and (block[i] & 0xE0) == 0x20:  # dynamic table size update(s)
        i += 1
        if block[i - 1] & 0x1F == 0x1F:
            while block[i] & 0x80:
                i += 1
            i += 1
    if i >= len(block):
        return None
    b = block[i]
    static = {0x88: 200, 0x89: 204, 0x8A: 206, 0x8B: 304, 0x8C: 400, 0x8D: 404, 0x8E: 500}
    if b in static:
        return static[b]
    # literal with indexed name :status (index 8..14) and a plain 3-digit value
    if (b & 0xC0) == 0x40 and 8 <= (b & 0x3F) <= 14 or (b & 0xF0) in (0x00, 0x10) and 8 <= (b & 0x0F) <= 14:
        ln = block[i + 1]
        if not ln & 0x80 and ln == 3:
            return int(block[i + 2:i + 5])
    return -1


class H2(asyncio.Protocol):
    def __init__(self, host, port, path, body, stats, loop, want):
        self.hdr_base = (
            hpack_literal(b":method", b"POST") + hpack_literal(b":scheme", b"http")
            + hpack_literal(b":path", path.encode()) + hpack_literal(b":authority", f"{host}:{port}".encode())
            + hpack_literal(b"content-type", b"application/json")
            + hpack_literal(b"accept", b"text/event-stream")
            + hpack_literal(b"content-length", str(len(body)).encode())
        )
        self.body = body
        self.stats = stats
        self.buf = b""
        self.next_id = 1
        self.active = {}   # stream id -> (Stream, future)
        self.max_streams = None
        self.ready = loop.create_future()
        self.closed = loop.create_future()
        self.want = want
        self.transport = None
        self.cont = None   # stream id whose header block continues

    def connection_made(self, transport):
        self.transport = transport
        big = 0x7FFFFFFF
        # SETTINGS: ENABLE_PUSH 0, INITIAL_WINDOW_SIZE max; then open the connection window too.
        settings = struct.pack(">HI", 2, 0) + struct.pack(">HI", 4, big)
        transport.write(PREFACE + frame(SETTINGS, 0, 0, settings) + frame(WINDOW, 0, 0, struct.pack(">I", big - 65535)))

    def start(self, s, fut):
        sid = self.next_id
        self.next_id += 2
        self.active[sid] = (s, fut)
        self.stats.inc("open")
        self.transport.write(frame(HEADERS, END_HEADERS, sid, self.hdr_base) + frame(DATA, END_STREAM, sid, self.body))

    def _end(self, sid, error=None):
        s, fut = self.active.pop(sid, (None, None))
        if s is None:
            return
        s.t_end = time.monotonic()
        if error and not s.error:
            s.error = error
        self.stats.dec("open")
        if s.t_head is not None:
            self.stats.dec("streaming")
        if not fut.done():
            fut.set_result(None)

    def data_received(self, data):
        self.buf += data
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                return
            kind, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + n]
            self.buf = self.buf[9 + n:]
            self._frame(kind, flags, sid, payload)

    def _frame(self, kind, flags, sid, payload):
        if kind == SETTINGS:
            if not flags & ACK:
                for off in range(0, len(payload), 6):
                    ident, value = struct.unpack(">HI", payload[off:off + 6])
                    if ident == 3:
                        self.max_streams = value
                self.transport.write(frame(SETTINGS, ACK, 0))
                if not self.ready.done():
                    self.ready.set_result(self.max_streams)
        elif kind == PING and not flags & ACK:
            self.transport.write(frame(PING, ACK, 0, payload))
        elif kind in (HEADERS, CONT):
            entry = self.active.get(sid)
            if entry is None:
                return
            s = entry[0]
            block = payload
            if kind == HEADERS:
                if flags & 0x8:  # PADDED
                    pad = block[0]
                    block = block[1:len(block) - pad]
                if flags & 0x20:  # PRIORITY
                    block = block[5:]
                if s.t_head is None:
                    s.status = status_of(block)
                    s.t_head = time.monotonic()
                    # Header values may be Huffman-coded; content-type is not checked over h2c.
                    s.ctype = b"text/event-stream (unchecked)"
                    self.stats.inc("streaming")
            if flags & END_STREAM:
                s.done = True
                self._end(sid)
        elif kind == DATA:
            entry = self.active.get(sid)
            if entry is None:
                return
            s = entry[0]
            if flags & 0x8:
                pad = payload[0]
                payload = payload[1:len(payload) - pad]
            s.body(payload)
            if flags & END_STREAM:
                s.done = True
                self._end(sid)
        elif kind == RST:
            code = struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else -1
            self._end(sid, f"rst_stream_{code}")
        elif kind == GOAWAY:
            last = struct.unpack(">I", payload[:4])[0] & 0x7FFFFFFF
            for sid2 in [k for k in self.active if k > last]:
                self._end(sid2, "goaway")

    def connection_lost(self, exc):
        for sid in list(self.active):
            self._end(sid, "connection_lost")
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("h2c connection lost before SETTINGS"))
        if not self.closed.done():
            self.closed.set_result(None)


async def run_h2(args, host, port, path, body, streams, stats, conn_sem):
    loop = asyncio.get_running_loop()
    left = args.streams
    conns = []
    futs = []
    while left > 0:
        transport, proto = await loop.create_connection(
            lambda: H2(host, port, path, body, stats, loop, args.events), host, port)
        limit = await asyncio.wait_for(proto.ready, 10)
        per = min(left, limit or 100, args.h2_streams_per_conn)
        conns.append((transport, proto, per))
        for _ in range(per):
            s = Stream()
            streams.append(s)
            f = loop.create_future()
            proto.start(s, f)
            futs.append((s, f))
        left -= per
    stats.h2_connections = len(conns)

    async def wait(s, f):
        try:
            await asyncio.wait_for(f, args.timeout)
        except asyncio.TimeoutError:
            s.error = s.error or "timeout"

    await asyncio.gather(*(wait(s, f) for s, f in futs))
    for transport, _, _ in conns:
        transport.close()


# --------------------------------------------------------------------------------------------
# Sampling the gateway
# --------------------------------------------------------------------------------------------
def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                k, _, v = ln.partition(":")
                if k in ("VmRSS", "VmHWM", "Threads"):
                    out[k] = int(v.split()[0])
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


def open_streams_gauge(metrics_url):
    u = urlsplit(metrics_url)
    try:
        with socket.create_connection((u.hostname, u.port), timeout=2) as sk:
            sk.sendall(f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = sk.recv(65536)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for ln in data.split(b"\n"):
        if ln.startswith(b"mastra_gateway_open_streams"):
            try:
                return float(ln.split()[-1])
            except ValueError:
                return None
    return None


async def sampler(args, stats, samples, stop):
    loop = asyncio.get_running_loop()
    t0 = time.monotonic()
    while not stop.is_set():
        st = proc_status(args.pid) if args.pid else {}
        gauge = await loop.run_in_executor(None, open_streams_gauge, args.metrics) if args.metrics else None
        samples.append({
            "t": round(time.monotonic() - t0, 2), "client_open": stats.open, "client_streaming": stats.streaming,
            "gw_open_streams": gauge, "rss_kb": st.get("VmRSS"), "hwm_kb": st.get("VmHWM"),
            "fds": st.get("fds"), "threads": st.get("Threads"),
        })
        try:
            await asyncio.wait_for(stop.wait(), args.sample_every)
        except asyncio.TimeoutError:
            pass


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


async def main_async(args):
    u = urlsplit(args.url)
    host, port, path = u.hostname, u.port or 80, u.path or "/"
    body = args.body.encode()
    streams, stats, samples = [], Stats(), []
    stop = asyncio.Event()
    samp = asyncio.ensure_future(sampler(args, stats, samples, stop))
    conn_sem = asyncio.Semaphore(args.connect_parallel)
    t0 = time.monotonic()
    if args.proto == "h2c":
        await run_h2(args, host, port, path, body, streams, stats, conn_sem)
    else:
        await run_h1(args, host, port, path, body, streams, stats, conn_sem)
    t1 = time.monotonic()
    stop.set()
    await samp

    # Without --events, every stream must have as many events as most of them have.
    want = args.events
    if not want:
        counts = {}
        for s in streams:
            if s.done:
                counts[s.events] = counts.get(s.events, 0) + 1
        want = max(counts, key=counts.get) if counts else 0
    reasons = {}
    for s in streams:
        v = s.verdict(want)
        if v:
            reasons[v] = reasons.get(v, 0) + 1
    ok = len(streams) - sum(reasons.values())
    durs = [s.t_end - s.t_start for s in streams if s.t_end]
    heads = [s.t_head for s in streams if s.t_head]
    ends = [s.t_end for s in streams if s.t_end and s.done]
    peak = {k: max((x[k] for x in samples if x.get(k) is not None), default=None)
            for k in ("rss_kb", "hwm_kb", "fds", "threads", "gw_open_streams", "client_streaming")}
    summary = {
        "proto": args.proto,
        "streams": args.streams,
        "completed": ok,
        "failed": len(streams) - ok,
        "failures": reasons,
        "events_per_stream": {"want": want,
                              "min": min((s.events for s in streams), default=0),
                              "max": max((s.events for s in streams), default=0)},
        "bytes_per_stream": {"min": min((s.bytes for s in streams), default=0),
                             "max": max((s.bytes for s in streams), default=0)},
        "max_concurrent_open_client": stats.max_open,
        "max_concurrent_streaming_client": stats.max_streaming,
        "h2_connections": getattr(stats, "h2_connections", None),
        "wall_s": round(t1 - t0, 2),
        "ramp_s_last_head": round(max(heads) - t0, 2) if heads else None,
        "first_complete_s": round(min(ends) - t0, 2) if ends else None,
        "stream_duration_s": {"p50": round(pct(durs, 50), 2) if durs else None,
                              "p99": round(pct(durs, 99), 2) if durs else None,
                              "max": round(max(durs), 2) if durs else None},
        "gateway_peak": {
            "rss_mb": round(peak["rss_kb"] / 1024, 1) if peak["rss_kb"] else None,
            "hwm_mb": round(peak["hwm_kb"] / 1024, 1) if peak["hwm_kb"] else None,
            "fds": peak["fds"], "threads": peak["threads"],
            "open_streams_gauge": peak["gw_open_streams"],
        },
    }
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "soak.json"), "w") as f:
            json.dump(summary, f, indent=1)
        with open(os.path.join(args.out, "samples.csv"), "w") as f:
            cols = ["t", "client_open", "client_streaming", "gw_open_streams", "rss_kb", "hwm_kb", "fds", "threads"]
            f.write(",".join(cols) + "\n")
            for x in samples:
                f.write(",".join("" if x.get(c) is None else str(x[c]) for c in cols) + "\n")
    print(json.dumps(summary, indent=1))
    return 0 if ok == args.streams else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--streams", type=int, default=10000)
    ap.add_argument("--proto", choices=["h1", "h2c"], default="h1")
    ap.add_argument("--h2-streams-per-conn", type=int, default=200,
                    help="cap per h2c connection (the server's SETTINGS_MAX_CONCURRENT_STREAMS wins if lower)")
    ap.add_argument("--body", default='{"model":"support-agent","input":"What is the weather in Rome today?","stream":true}')
    ap.add_argument("--events", type=int, default=0, help="SSE events a complete stream has (0: do not check)")
    ap.add_argument("--timeout", type=float, default=180, help="seconds a stream may take in all")
    ap.add_argument("--connect-parallel", type=int, default=256, help="connects in flight at once")
    ap.add_argument("--pid", type=int, help="the gateway's pid, sampled from /proc")
    ap.add_argument("--metrics", help="the gateway's admin /metrics URL (open_streams gauge)")
    ap.add_argument("--sample-every", type=float, default=0.5)
    ap.add_argument("--out")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
    need = (args.streams if args.proto == "h1" else 100) + 64
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < need:
        print(f"soak_client: needs {need} file descriptors, the limit is {hard}", file=sys.stderr)
        return 2
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
