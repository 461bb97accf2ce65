#!/usr/bin/env python3
"""A counting TCP proxy for HTTP/1.1 (standard library only), for bench/e2e-mastra.sh.

It relays bytes unchanged between its clients (the gateway) and one upstream (Mastra) and, on the
way up, parses the HTTP/1.1 requests (keep-alive, Content-Length and chunked bodies) to count them
by method and path, keeping the last body of each.

  count_proxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:4111 --control 127.0.0.1:0

prints `count-proxy listening on 127.0.0.1:P control on 127.0.0.1:C` once ready. The control port
answers `GET /counts` (JSON {"total": n, "by_route": {"POST /api/v1/responses": n, ...},
"last_body": {route: body}}) and `POST /reset` (zeroes the counts).
"""

import argparse
import asyncio
import json
import re
import sys

COUNTS = {}
LAST_BODY = {}
TOTAL = [0]

# Ids in paths are folded so that routes group: /api/memory/threads/<uuid> -> .../{id}
ID_RE = re.compile(r"/(?:[0-9a-f]{8}-[0-9a-f-]{27,}|(?:msg|resp|conv|thread)_[A-Za-z0-9_-]+|[0-9a-f]{24,})(?=/|$)")


def route_of(method, target):
    path = target.split("?", 1)[0]
    return f"{method} {ID_RE.sub('/{id}', path)}"


class RequestParser:
    """Incremental HTTP/1.1 request parser: feed() bytes, it records each complete request."""

    def __init__(self):
        self.buf = b""
        self.state = "head"
        self.left = 0
        self.route = None
        self.body = b""

    def feed(self, data):
        self.buf += data
        while True:
            if self.state == "head":
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, self.buf = self.buf[:end].decode("latin-1"), self.buf[end + 4:]
                lines = head.split("\r\n")
                parts = lines[0].split(" ")
                self.route = route_of(parts[0], parts[1] if len(parts) > 1 else "/")
                self.body = b""
                length, chunked = 0, False
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    k = k.strip().lower()
                    if k == "content-length":
                        length = int(v.strip())
                    elif k == "transfer-encoding" and "chunked" in v.lower():
                        chunked = True
                if chunked:
                    self.state = "size"
                elif length:
                    self.state, self.left = "fixed", length
                else:
                    self._done()
            elif self.state == "fixed":
                take = self.buf[: self.left]
                self.buf = self.buf[len(take):]
                self.left -= len(take)
                self.body += take
                if self.left:
                    return
                self._done()
            elif self.state == "size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                size = int(self.buf[:end].split(b";")[0], 16)
                self.buf = self.buf[end + 2:]
                self.state, self.left = ("trailer", 0) if size == 0 else ("chunk", size + 2)
            elif self.state == "chunk":
                take = self.buf[: self.left]
                self.buf = self.buf[len(take):]
                self.left -= len(take)
                self.body += take
                if self.left:
                    return
                self.body = self.body[:-2]
                self.state = "size"
            elif self.state == "trailer":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                line, self.buf = self.buf[:end], self.buf[end + 2:]
                if not line:
                    self._done()

    def _done(self):
        COUNTS[self.route] = COUNTS.get(self.route, 0) + 1
        TOTAL[0] += 1
        if self.body:
            LAST_BODY[self.route] = self.body.decode("utf-8", "replace")
        self.state = "head"


async def pipe(reader, writer, parser=None):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if parser is not None:
                try:
                    parser.feed(data)
                except (ValueError, IndexError) as e:
                    print(f"count-proxy: unparsable request stream ({e}); counting stops on this connection",
                          file=sys.stderr)
                    parser = None
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001
            pass


async def main_async(args):
    up_host, up_port = args.upstream.rsplit(":", 1)

    async def on_client(cr, cw):
        try:
            ur, uw = await asyncio.open_connection(up_host, int(up_port))
        except OSError:
            cw.close()
            return
        for w in (cw, uw):
            sock = w.get_extra_info("socket")
            if sock is not None:
                import socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(pipe(cr, uw, RequestParser()), pipe(ur, cw))

    async def on_control(cr, cw):
        try:
            head = await cr.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode()
            if line.startswith("POST /reset"):
                COUNTS.clear()
                LAST_BODY.clear()
                TOTAL[0] = 0
                body = b'{"reset":true}'
            else:
                body = json.dumps({"total": TOTAL[0], "by_route": COUNTS, "last_body": LAST_BODY}).encode()
            cw.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                     + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
            await cw.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            cw.close()

    lh, lp = args.listen.rsplit(":", 1)
    ch, cp = args.control.rsplit(":", 1)
    srv = await asyncio.start_server(on_client, lh, int(lp))
    ctl = await asyncio.start_server(on_control, ch, int(cp))
    a = srv.sockets[0].getsockname()
    c = ctl.sockets[0].getsockname()
    print(f"count-proxy listening on {a[0]}:{a[1]} control on {c[0]}:{c[1]}", flush=True)
    async with srv, ctl:
        await asyncio.gather(srv.serve_forever(), ctl.serve_forever())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream", required=True, help="host:port")
    ap.add_argument("--control", default="127.0.0.1:0")
    args = ap.parse_args()
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
