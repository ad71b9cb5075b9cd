"""test_hostile.py - pi-gateway itself against hostile clients: raw bytes over real sockets.

Usage: test_hostile.py --bin BUILD/bin CASE...
       (CASE: depth framing targets damaged midway stall forwarded)
Each case starts its own stack (tests/support/gateway.py: a real redis-server and a real
pi-gateway on free loopback ports) and stops every process it started. The front (nginx) has
its own tests in test_front.py; these talk to pi-gateway directly, as a client would when an
operator exposes it without one. The gateway checks API keys (its default): raw requests
carry the stack's key (Gateway.auth_header()), except /healthz, which wants none; framing
errors are checked both with a key and without one (they come before the key check). Run with
/usr/bin/python3 (stdlib only).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, wait_until  # noqa: E402

BIN = None


def exchange(port, data, timeout=5.0):
    """Sends data on a new connection and reads until the server closes it.
    Returns (bytes received, True if the server closed the connection within timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    closed = False
    try:
        s.sendall(data)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
    finally:
        s.close()
    return out, closed


def parse_response(raw):
    """(status, lowercase headers, body) of the first response in raw; asserts it is whole."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    assert sep, "no complete response head in %r" % raw[:300]
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    assert len(rest) >= length, "body shorter than Content-Length: %r" % raw[:300]
    return status, headers, rest[:length]


def expect_json_error(raw, status, code=None, what=""):
    st, hdr, body = parse_response(raw)
    assert st == status, "%s: expected %d, got %d: %r" % (what, status, st, raw[:400])
    assert hdr.get("content-type") == "application/json", (what, hdr)
    doc = json.loads(body)
    assert set(doc) == {"error"} and doc["error"]["message"], (what, doc)
    if code:
        assert doc["error"]["code"] == code, (what, doc)
    return hdr, doc


def post_raw(body, auth=b""):
    """A whole POST /job with body; auth: an Authorization header line (auth_header())."""
    return (b"POST /job HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n" + auth +
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def with_header(req, line):
    """req with the header line (b"Name: value\\r\\n", or b"") right after its request line."""
    first, _, rest = req.partition(b"\r\n")
    return first + b"\r\n" + line + rest


def exchange_as(g, data, timeout=5.0):
    """exchange() of data sent with g's API key (in its first request)."""
    return exchange(g.port, with_header(data, g.auth_header()), timeout)


def assert_alive(g):
    st, _, doc = g.json("GET", "/healthz")
    assert st == 200, (st, doc)


def case_depth():
    """JSON depth bombs get 400 invalid_body and the gateway lives on (it used to segfault
    inside jansson on a 100 KiB worker stack)."""
    with Stack(BIN, scheduler="none") as s:
        g = s.gw
        bombs = {
            "arrays": b"[" * 1000 + b"]" * 1000,
            "arrays_748": b"[" * 748 + b"]" * 748,
            "objects": b'{"a":' * 750 + b"1" + b"}" * 750,
            "mixed": b'[{"a":' * 500 + b"1" + b"}]" * 500,
            "open_only": b"[" * 16000,
            "open_objects": b'{"a":' * 3000,
            "in_digits": b'{"digits":' + b"[" * 2000,
            "depth_33": b"[" * 33 + b"]" * 33,
        }
        for name, body in bombs.items():
            raw, _ = exchange(g.port, post_raw(body, g.auth_header()))
            _, doc = expect_json_error(raw, 400, "invalid_body", name)
            assert "nested deeper than 32" in doc["error"]["message"], (name, doc)
            assert_alive(g)
        # Depth 32 is within the limit: jansson parses it and the shape check answers.
        raw, _ = exchange(g.port, post_raw(b"[" * 32 + b"]" * 32, g.auth_header()))
        _, doc = expect_json_error(raw, 400, "invalid_body", "depth 32")
        assert "nested" not in doc["error"]["message"], doc
        # Brackets inside strings are not nesting.
        raw, _ = exchange(g.port, post_raw(b'{"digits": 10, "x": "' + b"[" * 1000 + b'"}',
                                           g.auth_header()))
        _, doc = expect_json_error(raw, 400, "invalid_body", "brackets in a string")
        assert "unknown field" in doc["error"]["message"], doc
        # Many bombs at once from several threads: still alive, still exact answers.
        errors = []

        def hammer():
            try:
                for _ in range(20):
                    raw, _ = exchange(g.port, post_raw(b"[" * 5000, g.auth_header()))
                    expect_json_error(raw, 400, "invalid_body", "parallel bomb")
            except AssertionError as e:
                errors.append(e)

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        assert g.proc.poll() is None, "pi-gateway died:\n" + g.log()
        st, _, job = g.json("POST", "/job", {"digits": 100})
        assert st == 201, (st, job)
        print("depth: %d bombs and 160 parallel ones answered 400; gateway alive" % len(bombs))


FRAMING = {
    "two_lengths": b"POST /job HTTP/1.1\r\nHost: t\r\nContent-Length: 15\r\n"
                   b"Content-Length: 3\r\n\r\n{\"digits\": 10}",
    "same_length_twice": b"POST /job HTTP/1.1\r\nHost: t\r\nContent-Length: 14\r\n"
                         b"Content-Length: 14\r\n\r\n{\"digits\": 10}",
    "length_and_chunked": b"POST /job HTTP/1.1\r\nHost: t\r\nContent-Length: 14\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\ne\r\n{\"digits\": 10}\r\n0\r\n\r\n",
    "chunked_and_length": b"POST /job HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                          b"Content-Length: 14\r\n\r\ne\r\n{\"digits\": 10}\r\n0\r\n\r\n",
    "identity_coding": b"POST /job HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n"
                       b"{\"digits\": 10}",
    "gzip_chunked": b"POST /job HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                    b"0\r\n\r\n",
    "two_codings": b"POST /job HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "signed_length": b"POST /job HTTP/1.1\r\nHost: t\r\nContent-Length: +14\r\n\r\n"
                     b"{\"digits\": 10}",
    "hex_length": b"POST /job HTTP/1.1\r\nHost: t\r\nContent-Length: 0x0e\r\n\r\n"
                  b"{\"digits\": 10}",
    "length_list": b"POST /job HTTP/1.1\r\nHost: t\r\nContent-Length: 14, 14\r\n\r\n"
                   b"{\"digits\": 10}",
    "chunked_http10": b"POST /job HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "no_host": b"GET /healthz HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
}


def case_framing():
    """Ambiguous framing gets a JSON 400 and a closed connection (a request-smuggling hazard
    behind any proxy); nothing after it on the connection is read as a request."""
    with Stack(BIN, scheduler="none") as s:
        g = s.gw
        for (name, req), auth in [(item, a) for item in FRAMING.items()
                                  for a in (g.auth_header(), b"")]:
            # A second, valid request follows on the same connection: it must not be served.
            # With a key (an authenticated client smuggling) and without (framing is checked
            # before the key: still 400, not 401).
            raw, closed = exchange(g.port, with_header(req, auth) +
                                   b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            name += " with a key" if auth else " without a key"
            hdr, _ = expect_json_error(raw, 400, None, name)
            assert closed, "%s: the connection stayed open after 400" % name
            whole = raw.index(b"\r\n\r\n") + 4 + int(hdr["content-length"])
            assert raw[whole:] == b"", "%s: more than one answer: %r" % (name, raw)
            assert "close" in hdr.get("connection", "").lower(), (name, hdr)
        st, _, doc = g.json("GET", "/jobs")
        assert st == 200 and doc["jobs"] == [], "a smuggled POST created a job: %s" % doc
        # A body on a route that reads none is not drained: answered, then closed at once.
        t0 = time.monotonic()
        raw, closed = exchange(g.port, b"GET /healthz HTTP/1.1\r\nHost: t\r\n"
                                       b"Content-Length: 1000000000\r\n\r\nabc")
        st, _, _ = parse_response(raw)
        assert st == 200 and closed and time.monotonic() - t0 < 2, (raw[:200], closed)
        # An oversized POST body is refused without reading it, and the connection closed.
        raw, closed = exchange(g.port, b"POST /job HTTP/1.1\r\nHost: t\r\n" + g.auth_header() +
                                       b"Content-Length: 100000000\r\n\r\n{")
        expect_json_error(raw, 413, "body_too_large", "huge body")
        assert closed
        # Valid framing still works, keep-alive included: two answers on one connection.
        body = b'{"digits": 10}'
        two = (b"POST /job HTTP/1.1\r\nHost: t\r\n" + g.auth_header() +
               b"Content-Length: 14\r\n\r\n" + body +
               b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        raw, closed = exchange(g.port, two)
        assert raw.count(b"HTTP/1.1 201 ") == 1 and raw.count(b"HTTP/1.1 200 ") == 1, raw
        chunked = (b"POST /job HTTP/1.1\r\nHost: t\r\n" + g.auth_header() +
                   b"Transfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\ne\r\n" + body + b"\r\n0\r\n\r\n")
        raw, _ = exchange(g.port, chunked)
        assert parse_response(raw)[0] == 201, raw[:300]
        assert_alive(g)
        print("framing: %d ambiguous requests refused with 400 and a closed connection"
              % len(FRAMING))


def case_targets():
    """'*' and absolute-form targets get an answer and a log line, never a silent close."""
    with Stack(BIN, scheduler="none") as s:
        g = s.gw
        raw, closed = exchange_as(g, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
        st, hdr, body = parse_response(raw)
        assert st == 200 and "POST" in hdr.get("allow", ""), raw
        assert json.loads(body)["allow"], body
        for method in (b"GET", b"POST", b"DELETE", b"HEAD"):
            raw, closed = exchange_as(g, method + b" * HTTP/1.1\r\nHost: t\r\n\r\n")
            expect_json_error(raw, 400, "invalid_target", method.decode() + " *")
            assert closed
        # Absolute-form naming this server: served like the path (RFC 9112 3.2.2).
        raw, _ = exchange_as(g, b"GET http://127.0.0.1:%d/healthz HTTP/1.1\r\nHost: t\r\n"
                                  b"Connection: close\r\n\r\n" % g.port)
        st, _, body = parse_response(raw)
        assert st == 200 and json.loads(body)["status"] == "ok", raw
        raw, _ = exchange_as(g, b"GET http://127.0.0.1:%d/nope HTTP/1.1\r\nHost: t\r\n"
                                  b"Connection: close\r\n\r\n" % g.port)
        expect_json_error(raw, 404, "not_found", "absolute unknown path")
        # Absolute-form naming another server: 421, closed.
        for target in (b"http://127.0.0.1:1/healthz", b"http://example.com/healthz",
                       b"https://127.0.0.1:%d/healthz" % (g.port + 1)):
            raw, closed = exchange_as(g, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            expect_json_error(raw, 421, "misdirected_request", target.decode())
            assert closed
        # Malformed targets civetweb rejects itself get the JSON body too.
        raw, closed = exchange_as(g, b"GET healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        expect_json_error(raw, 400, None, "relative target without /")
        wait_until(lambda: "OPTIONS * 200" in g.log(None) and "GET * 400" in g.log(None),
                   5, "log lines for the '*' targets")
        assert " 421 " in g.log(None), g.log()
        assert_alive(g)
        print("targets: OPTIONS * 200, X * 400, absolute-form served or 421, all logged")


def case_damaged():
    """A stored object whose size differs from the job's result.bytes gets a JSON 502
    result_damaged, never a short or empty body (a zero-byte object used to get no answer at
    all, and the next answer on the connection was read as its body)."""
    with Stack(BIN, scheduler="local") as s:
        g = s.gw
        job = g.wait_state(g.submit(1000), {"finished"})
        path = os.path.join(s.store_dir, job["result"]["object"])
        size = os.path.getsize(path)
        assert size == job["result"]["bytes"] == 1003, (size, job)
        with open(path, "rb") as f:
            original = f.read()
        for damaged_size in (0, size // 2, size + 7):
            with open(path, "wb") as f:
                f.write((original + b"x" * 7)[:damaged_size])
            # Keep-alive: the damaged answer, then a normal one, on one connection.
            req = (b"GET /job/download/%s HTTP/1.1\r\nHost: t\r\n\r\n"
                   b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                   % job["id"].encode())
            raw, _ = exchange_as(g, req)
            hdr, _ = expect_json_error(raw, 502, "result_damaged",
                                       "object of %d bytes" % damaged_size)
            first_len = raw.index(b"\r\n\r\n") + 4 + int(hdr["content-length"])
            assert raw[first_len:].startswith(b"HTTP/1.1 200 "), raw
            st, _, _ = g.request("HEAD", "/job/download/" + job["id"])
            assert st == 502, st
        with open(path, "wb") as f:
            f.write(original)
        st, _, body = g.request("GET", "/job/download/" + job["id"])
        assert st == 200 and body == original, (st, body[:100])
        assert "has 0 bytes, the job recorded 1003" in g.log(None), g.log()
        print("damaged: objects of 0, half and too many bytes answered 502 result_damaged")


def case_midway():
    """A download whose store read fails after the head went out closes the connection at
    once: the client sees a short body and EOF, not a wait for bytes that never come (issue
    9). Keep-alive is long here, so only that close can end the transfer quickly."""
    big = 64 << 20
    with Stack(BIN, scheduler="local", args=["--keep-alive-timeout", "60000"]) as s:
        g = s.gw
        job = g.wait_state(g.submit(1000), {"finished"})
        path = os.path.join(s.store_dir, job["result"]["object"])
        with open(path, "r+b") as f:
            f.truncate(big)  # same file, now 64 MiB, as recorded below
        s.redis.command("HSET", "picluster:job:" + job["id"], "result_bytes", str(big))
        sock = socket.create_connection(("127.0.0.1", g.port), timeout=20)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
            sock.sendall(b"GET /job/download/%s HTTP/1.1\r\nHost: t\r\n%s\r\n"
                         % (job["id"].encode(), g.auth_header()))
            got = sock.recv(65536)
            assert got.startswith(b"HTTP/1.1 200 "), got[:200]
            # Flow control has engaged: bytes wait unread in our receive queue and more wait
            # in the gateway's send queue, so the gateway is blocked on a full socket,
            # mid-object.
            ours = sock.getsockname()[1]
            wait_until(lambda: tcp_queues(ours, g.port)[1] > 0
                       and tcp_queues(g.port, ours)[0] > 0, 30, "a full socket")
            with open(path, "r+b") as f:
                f.truncate(1 << 20)  # the store breaks under the reader
            t0 = time.monotonic()
            total = len(got)
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
            waited = time.monotonic() - t0
        finally:
            sock.close()
        assert total < big, "the whole object arrived (%d bytes)" % total
        assert waited < 10, "EOF came %.1fs after the store broke" % waited
        wait_until(lambda: "download stopped after" in g.log(None), 5, "the log line")
        print("midway: a store failure mid-download closed the connection after %.2fs "
              "(%d of %d bytes sent)" % (waited, total, big))


def tcp_queues(local_port, remote_port):
    """(send queue, receive queue) in bytes of the loopback TCP socket local_port ->
    remote_port, from /proc/net/tcp; (0, 0) when there is none."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if (int(fields[1].rsplit(":", 1)[1], 16) == local_port
                    and int(fields[2].rsplit(":", 1)[1], 16) == remote_port):
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return 0, 0


def case_stall():
    """Exposed without a front, idle connections cost at most --request-timeout: with every
    worker thread held by an idle client, a new client is served once the timeout frees one."""
    threads, timeout_ms = 4, 1500
    with Stack(BIN, scheduler="none",
               args=["--http-threads", str(threads), "--request-timeout", str(timeout_ms),
                     "--keep-alive-timeout", "500"]) as s:
        g = s.gw
        idle = [socket.create_connection(("127.0.0.1", g.port)) for _ in range(threads * 3)]
        try:
            time.sleep(0.2)
            t0 = time.monotonic()
            st, _, _ = g.request("GET", "/healthz")
            waited = time.monotonic() - t0
            assert st == 200, st
            # Each batch of `threads` idle connections holds the workers for one timeout.
            bound = 3 * timeout_ms / 1000.0 + 2.0
            assert waited < bound, "a new client waited %.1fs (bound %.1fs)" % (waited, bound)
        finally:
            for c in idle:
                c.close()
        print("stall: %d idle connections on %d threads delayed a new client %.2fs "
              "(request timeout %.1fs)" % (threads * 3, threads, waited, timeout_ms / 1000))


def healthz_lines(g, n):
    """The gateway's access-log lines for GET /healthz, once there are at least n."""
    lines = [line for line in g.log(None).splitlines() if "GET /healthz 200" in line]
    return lines if len(lines) >= n else None


def case_forwarded():
    """X-Forwarded-For names the client only when the peer is a --trusted-proxy."""
    with Stack(BIN, scheduler="none", args=["--trusted-proxy", "127.0.0.1"]) as s:
        g = s.gw
        g.request("GET", "/healthz", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9"})
        g.request("GET", "/healthz", headers={"X-Forwarded-For": "not-an-address"})
        lines = wait_until(lambda: healthz_lines(g, 2), 5, "two log lines")
        assert lines[-2].endswith(" 203.0.113.9"), lines[-2]
        assert lines[-1].endswith(" 127.0.0.1"), lines[-1]
        other = s.new_gateway(args=["--trusted-proxy", "127.0.0.9"])
        other.request("GET", "/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
        lines = wait_until(lambda: healthz_lines(other, 1), 5, "a log line")
        assert lines[-1].endswith(" 127.0.0.1"), lines[-1]
        assert other.proc.poll() is None
    # A malformed list is a usage error at start-up, not a silently ignored setting.
    bad = subprocess.run([os.path.join(BIN, "pi-gateway"), "--store", "file:///tmp",
                          "--trusted-proxy", "127.0.0.1,nonsense"], capture_output=True,
                         timeout=30)
    assert bad.returncode == 2 and b"--trusted-proxy" in bad.stderr, bad
    print("forwarded: X-Forwarded-For honoured from the trusted front only")


CASES = {"depth": case_depth, "framing": case_framing, "targets": case_targets,
         "damaged": case_damaged, "midway": case_midway, "stall": case_stall, "forwarded": case_forwarded}


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("cases", nargs="+", choices=sorted(CASES))
    args = ap.parse_args()
    BIN = os.path.abspath(args.bin)
    for name in args.cases:
        CASES[name]()
    print("ok")


if __name__ == "__main__":
    main()
