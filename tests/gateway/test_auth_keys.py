"""test_auth_keys.py - pi-gateway --auth keys: who may call which route, and whose jobs they see.

Usage: test_auth_keys.py --bin BUILD/bin CASE...
Cases (issue 10, Auth and Ownership):
  headers    every bad Authorization shape gets 401 JSON with WWW-Authenticate: Bearer and
             nothing else; the scheme in any case and more than one space are accepted;
             GET /healthz is open; framing and path-length errors keep their own 4xx
  metrics    GET /metrics: 401 without a key, 403 for a normal key, 200 for an admin key,
             200 for anyone with --metrics-public
  ownership  two normal keys cannot see, cancel or download each other's jobs (404 with the
             body of an unknown id), GET /jobs lists only the caller's jobs (pages with
             cursors included); an admin sees and cancels every job, ?owner= filters
  revoke     a key revoked with `pi-gateway key revoke` is refused by two gateways on one
             Redis within 2 s
  none       --auth none (given explicitly): no key needed, "owner": null, and no warning on a
             loopback address
  default    a gateway started without --auth checks keys: 401 without one, 200 with one
Every case starts its own redis-server and API-only gateways (--scheduler none) on free
loopback ports and stops them by PID. The stacks here make no key of their own
(key_name=None): every request below says which key it is sent with, if any. Run with
/usr/bin/python3 (stdlib only).
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, wait_until  # noqa: E402

BIN = None


def revoke_key(stack, name):
    p = subprocess.run([os.path.join(BIN, "pi-gateway"), "key", "revoke", name, "--redis",
                        stack.redis.url], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


def raw(port, request, timeout=10):
    """Sends request (bytes) on a new connection; returns (status, headers, body bytes).
    The status line's reason is checked against the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                hdrs = {}
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    hdrs[k.strip().lower().decode()] = v.strip().decode("latin-1")
                n = int(hdrs.get("content-length", "-1"))
                if n >= 0 and len(body) >= n:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    reason = head.split(b"\r\n")[0].split(b" ", 2)[2].decode()
    want = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 414: "URI Too Long"}
    assert reason == want.get(status, reason), (status, reason)
    return status, hdrs, body


def assert_401(st, hdr, body, what):
    assert st == 401, "%s: want 401, got %d %r" % (what, st, body[:200])
    assert hdr.get("www-authenticate") == "Bearer", "%s: %r" % (what, hdr)
    assert hdr.get("content-type", "").startswith("application/json"), (what, hdr)
    doc = json.loads(body)
    assert list(doc) == ["error"] and doc["error"]["code"] == "unauthorized", (what, doc)
    assert set(doc["error"]) == {"code", "message"}, (what, doc)


def case_headers():
    with Stack(BIN, scheduler="none", args=["--auth", "keys"], key_name=None) as s:
        g = s.gw
        secret = s.make_key("alice")
        st, _, job = g.json("POST", "/job", {"digits": 1000}, headers=bearer(secret))
        assert st == 201 and job["owner"] == "alice", (st, job)
        jid = job["id"]
        wrong_bits = secret[:-1] + ("A" if secret[-1] != "A" else "E")
        shapes = {
            "missing": None,
            "empty": b"",
            "spaces only": b"   ",
            "Basic": b"Basic YWxpY2U6c2VjcmV0",
            "Bearer alone": b"Bearer",
            "Bearer and a space": b"Bearer ",
            "no space": b"Bearer" + secret.encode(),
            "token with a space": b"Bearer " + secret[:20].encode() + b" " + secret[20:].encode(),
            "two tokens": b"Bearer " + secret.encode() + b" " + secret.encode(),
            "trailing junk": b"Bearer " + secret.encode() + b"x",
            "10 KB": b"Bearer " + b"A" * 10240,
            "non-ASCII": b"Bearer pk_\xc3\xa9\xff" + secret[5:].encode(),
            "unknown key": b"Bearer " + wrong_bits.encode(),
            "secret without scheme": secret.encode(),
            "Token scheme": b"Token " + secret.encode(),
            "Bearerx scheme": b"Bearerx " + secret.encode(),
            "non-ASCII scheme": b"B\xc3\xa9arer " + secret.encode(),
            "no-break space": b"Bearer\xa0" + secret.encode(),
            "10 KB, well-formed start": b"Bearer " + secret.encode() + b"A" * 10240,
            "lower-case secret": b"Bearer " + secret.lower().encode(),
            "Basic, empty": b"Basic",
            "Bearer twice": b"Bearer Bearer " + secret.encode(),
            "comma list": b"Bearer " + secret.encode() + b", Basic x",
            "quoted": b'Bearer "' + secret.encode() + b'"',
        }
        routes = [("GET", "/job/" + jid), ("DELETE", "/job/" + jid),
                  ("GET", "/job/download/" + jid), ("GET", "/jobs"), ("POST", "/job"),
                  ("GET", "/metrics"), ("GET", "/nope"), ("GET", "/job/NOT-AN-ID"),
                  ("PUT", "/jobs")]
        for name, value in shapes.items():
            for method, path in routes:
                body = b'{"digits": 1000}' if method == "POST" else b""
                req = b"%s %s HTTP/1.1\r\nHost: x\r\n" % (method.encode(), path.encode())
                if value is not None:
                    req += b"Authorization: " + value + b"\r\n"
                if body:
                    req += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
                req += b"Connection: close\r\n\r\n" + body
                st, hdr, resp = raw(g.port, req)
                assert_401(st, hdr, resp, "%s on %s %s" % (name, method, path))
        # A tab after the scheme: civetweb 1.15 refuses the whole message before routing (its
        # own 400 JSON error); still no access.
        st, hdr, resp = raw(g.port, b"GET /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\t"
                            + secret.encode() + b"\r\nConnection: close\r\n\r\n")
        assert st in (400, 401) and b'"jobs"' not in resp, (st, resp)
        # Two Authorization headers, even both right, are malformed.
        st, hdr, resp = raw(g.port, b"GET /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                            + secret.encode() + b"\r\nAuthorization: Bearer " + secret.encode()
                            + b"\r\nConnection: close\r\n\r\n")
        assert_401(st, hdr, resp, "two headers")
        # Nothing was created or cancelled by the refused requests.
        st, _, doc = g.json("GET", "/jobs", headers=bearer(secret))
        assert st == 200 and [j["id"] for j in doc["jobs"]] == [jid], doc
        assert doc["jobs"][0]["state"] == "created"

        # The scheme in any case, then one or more spaces (RFC 7235 2.1, RFC 6750 2.1).
        for value in ["Bearer ", "bearer ", "BEARER ", "bEaReR ", "Bearer   ", "bearer  "]:
            st, _, doc = g.json("GET", "/job/" + jid, headers={"Authorization": value + secret})
            assert st == 200 and doc["id"] == jid, (value, st, doc)
        # The header's own whitespace is not part of its value (RFC 9110 5.5): around the
        # value, and after the colon; the field name in any case.
        for line in [b"Authorization: Bearer " + secret.encode() + b"   ",
                     b"Authorization:Bearer " + secret.encode(),
                     b"Authorization:   bearer  " + secret.encode() + b" ",
                     b"authorization: BEARER " + secret.encode(),
                     b"AUTHORIZATION: Bearer " + secret.encode()]:
            st, hdr, resp = raw(g.port, b"GET /job/%s HTTP/1.1\r\nHost: x\r\n%s\r\n"
                                b"Connection: close\r\n\r\n" % (jid.encode(), line))
            assert st == 200 and json.loads(resp)["id"] == jid, (line, st, resp)

        # /healthz needs no key; a bad key there is ignored.
        assert g.request("GET", "/healthz")[0] == 200
        assert g.request("GET", "/healthz", headers={"Authorization": "Basic x"})[0] == 200

        # Framing and path length are checked before the key: their own 4xx, not 401.
        st, hdr, resp = raw(g.port, b"POST /job HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                            b"Content-Length: 6\r\n\r\nhello!")
        assert st == 400 and json.loads(resp)["error"]["code"] == "bad_framing", (st, resp)
        st, _, resp = raw(g.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Connection: close\r\n\r\n")
        assert st == 414, (st, resp)
        # A refused key never reaches the log.
        assert secret not in g.log(tail=None)


def case_metrics():
    with Stack(BIN, scheduler="none", args=["--auth", "keys"], key_name=None) as s:
        g = s.gw
        user = s.make_key("alice")
        admin = s.make_key("ops", admin=True)
        st, hdr, body = g.request("GET", "/metrics")
        assert_401(st, hdr, body, "metrics without a key")
        st, _, doc = g.json("GET", "/metrics", headers=bearer(user))
        assert st == 403 and doc["error"]["code"] == "forbidden", (st, doc)
        st, hdr, body = g.request("GET", "/metrics", headers=bearer(admin))
        assert st == 200 and b"picluster_redis_up 1" in body, (st, body[:200])
        assert g.request("HEAD", "/metrics", headers=bearer(admin))[0] == 200
        pub = s.new_gateway(args=["--auth", "keys", "--metrics-public"])
        st, _, body = pub.request("GET", "/metrics")
        assert st == 200 and b"picluster_redis_up 1" in body, (st, body[:200])
        # --metrics-public opens /metrics only.
        st, hdr, body = pub.request("GET", "/jobs")
        assert_401(st, hdr, body, "/jobs beside --metrics-public")


def ids(doc):
    return [j["id"] for j in doc["jobs"]]


def all_pages(g, secret, query, limit):
    """Every job of GET /jobs?query, following next_cursor with pages of limit."""
    got, cursor = [], None
    while True:
        q = "/jobs?limit=%d%s%s" % (limit, "&" + query if query else "",
                                    "&cursor=" + cursor if cursor else "")
        st, _, doc = g.json("GET", q, headers=bearer(secret))
        assert st == 200, (q, st, doc)
        assert len(doc["jobs"]) <= limit
        got += ids(doc)
        cursor = doc["next_cursor"]
        if not cursor:
            return got


def case_ownership():
    with Stack(BIN, scheduler="none", args=["--auth", "keys"], key_name=None) as s:
        g = s.gw
        a, b = s.make_key("alice"), s.make_key("bob")
        admin = s.make_key("ops", admin=True)

        def post(secret, owner):
            st, hdr, job = g.json("POST", "/job", {"digits": 1000}, headers=bearer(secret))
            assert st == 201 and job["owner"] == owner, (st, job)
            return job["id"]

        # Interleaved, so each owner's jobs are spread over the global order.
        mine = {"alice": [], "bob": [], "ops": []}
        for i in range(7):
            mine["alice"].append(post(a, "alice"))
            if i % 2 == 0:
                mine["bob"].append(post(b, "bob"))
        mine["ops"].append(post(admin, "ops"))
        ja, jb = mine["alice"][0], mine["bob"][0]

        # The other key's job answers exactly as an unknown id.
        unknown = str(uuid.uuid4())
        for method, path in [("GET", "/job/"), ("DELETE", "/job/"), ("GET", "/job/download/"),
                             ("HEAD", "/job/"), ("HEAD", "/job/download/")]:
            st_u, hdr_u, body_u = g.request(method, path + unknown, headers=bearer(b))
            st_o, hdr_o, body_o = g.request(method, path + ja, headers=bearer(b))
            assert st_u == st_o == 404, (method, path, st_u, st_o)
            assert body_o == body_u.replace(unknown.encode(), ja.encode()), (body_o, body_u)
            assert hdr_o.get("content-type") == hdr_u.get("content-type")
            assert hdr_o.get("content-length") == hdr_u.get("content-length")
        # Not cancelled by bob's DELETE; alice sees hers.
        st, _, job = g.json("GET", "/job/" + ja, headers=bearer(a))
        assert st == 200 and job["state"] == "created" and job["owner"] == "alice", job
        st, _, doc = g.json("GET", "/job/download/" + ja, headers=bearer(a))
        assert st == 409 and doc["error"]["code"] == "not_finished", (st, doc)

        # /jobs: only the caller's own, newest first, in pages whose cursors hold.
        newest_first = {k: list(reversed(v)) for k, v in mine.items()}
        st, _, doc = g.json("GET", "/jobs", headers=bearer(a))
        assert st == 200 and ids(doc) == newest_first["alice"], doc
        assert all(j["owner"] == "alice" for j in doc["jobs"])
        st, _, doc = g.json("GET", "/jobs", headers=bearer(b))
        assert ids(doc) == newest_first["bob"], doc
        for limit in (1, 2, 3):
            assert all_pages(g, a, "", limit) == newest_first["alice"]
            assert all_pages(g, b, "", limit) == newest_first["bob"]
        # A key may name itself, not another key.
        st, _, doc = g.json("GET", "/jobs?owner=alice", headers=bearer(a))
        assert st == 200 and ids(doc) == newest_first["alice"]
        st, _, doc = g.json("GET", "/jobs?owner=alice", headers=bearer(b))
        assert st == 403 and doc["error"]["code"] == "forbidden", (st, doc)
        st, _, doc = g.json("GET", "/jobs?owner=no%20such", headers=bearer(a))
        assert st == 400 and doc["error"]["code"] == "invalid_query", (st, doc)

        # The admin key sees every job, filters by owner, and cancels anyone's.
        everyone = all_pages(g, admin, "", 4)
        assert sorted(everyone) == sorted(sum(mine.values(), []))
        for owner in mine:
            for limit in (1, 2, 50):
                assert all_pages(g, admin, "owner=" + owner, limit) == newest_first[owner]
        assert all_pages(g, admin, "owner=nobody", 5) == []
        st, _, job = g.json("GET", "/job/" + jb, headers=bearer(admin))
        assert st == 200 and job["owner"] == "bob"
        st, _, job = g.json("DELETE", "/job/" + ja, headers=bearer(admin))
        assert st == 200 and job["state"] == "cancelled" and job["owner"] == "alice", (st, job)
        # The owner cancels its own; the state filter combines with the owner.
        st, _, job = g.json("DELETE", "/job/" + mine["alice"][1], headers=bearer(a))
        assert st == 200 and job["state"] == "cancelled", (st, job)
        cancelled = [mine["alice"][1], ja]
        assert all_pages(g, a, "state=cancelled", 1) == cancelled
        assert all_pages(g, admin, "owner=alice&state=cancelled", 1) == cancelled
        assert all_pages(g, admin, "owner=alice&state=created", 2) == newest_first["alice"][:-2]
        assert all_pages(g, b, "state=cancelled", 1) == []
        created_all = all_pages(g, admin, "state=created", 3)
        assert ja not in created_all and jb in created_all

        # The owner is stored in the job's Redis hash, with the per-owner index.
        assert s.redis.command("HGET", "picluster:job:" + ja, "owner") == "alice"
        assert s.redis.command("ZCARD", "picluster:owner:alice:jobs") == 7


def case_revoke():
    with Stack(BIN, scheduler="none", args=["--auth", "keys"], key_name=None) as s:
        g1 = s.gw
        g2 = s.new_gateway()
        secret = s.make_key("carol")
        for g in (g1, g2):
            for _ in range(3):  # warm each gateway's cache
                assert g.request("GET", "/jobs", headers=bearer(secret))[0] == 200
        revoke_key(s, "carol")
        t0 = time.monotonic()
        for g in (g1, g2):
            wait_until(lambda g=g: g.request("GET", "/jobs", headers=bearer(secret))[0] == 401,
                       2.0, "gateway on %d to refuse a revoked key" % g.port, interval=0.05)
        took = time.monotonic() - t0
        assert took < 2.0, took
        for g in (g1, g2):
            st, hdr, body = g.request("GET", "/jobs", headers=bearer(secret))
            assert_401(st, hdr, body, "revoked")
        # A new key under the same name is a new secret: the old one stays refused.
        fresh = s.make_key("carol")
        assert g1.request("GET", "/jobs", headers=bearer(fresh))[0] == 200
        assert g1.request("GET", "/jobs", headers=bearer(secret))[0] == 401


def case_none():
    with Stack(BIN, scheduler="none", args=["--auth", "none"], key_name=None) as s:
        g = s.gw
        st, _, job = g.json("POST", "/job", {"digits": 1000})
        assert st == 201 and job["owner"] is None, (st, job)
        assert g.json("GET", "/job/" + job["id"])[0] == 200
        st, _, doc = g.json("GET", "/jobs")
        assert st == 200 and ids(doc) == [job["id"]]
        assert g.request("GET", "/metrics")[0] == 200
        # A header is ignored, even a bad one.
        assert g.request("GET", "/jobs", headers={"Authorization": "Basic x"})[0] == 200
        assert "--auth none" not in g.log(tail=None), "no warning on loopback"
        # The same through the test support's own opt-out (Stack(auth="none")).
    with Stack(BIN, scheduler="none", auth="none") as s:
        assert s.gw.key is None and s.gw.args[-2:] == ["--auth", "none"], s.gw.args
        st, _, job = s.gw.json("POST", "/job", {"digits": 1000})
        assert st == 201 and job["owner"] is None, (st, job)


def case_default():
    """No --auth flag (nor PICLUSTER_AUTH): keys, as the contract says."""
    env = {k: v for k, v in os.environ.items() if k != "PICLUSTER_AUTH"}
    with Stack(BIN, scheduler="none", env=env, key_name=None) as s:
        g = s.gw
        assert not any(a.startswith("--auth") for a in g.args), g.args
        for method, path in [("GET", "/jobs"), ("POST", "/job"), ("GET", "/metrics"),
                             ("GET", "/job/" + str(uuid.uuid4())), ("GET", "/nope")]:
            body = {"digits": 1000} if method == "POST" else None
            st, hdr, resp = g.request(method, path, body)
            assert_401(st, hdr, resp, "%s %s without a key, no --auth" % (method, path))
        assert g.request("GET", "/healthz")[0] == 200
        st, _, doc = g.json("GET", "/jobs")
        assert st == 401 and doc["error"]["code"] == "unauthorized", (st, doc)
        secret = s.make_key("alice")
        st, _, job = g.json("POST", "/job", {"digits": 1000}, headers=bearer(secret))
        assert st == 201 and job["owner"] == "alice", (st, job)
        # Nothing was made by the refused POST.
        st, _, doc = g.json("GET", "/jobs", headers=bearer(secret))
        assert st == 200 and ids(doc) == [job["id"]], doc
        assert s.redis.command("ZCARD", "picluster:jobs") == 1
        # The stack's own key (the default of tests/support/gateway.py) is sent by itself.
        d = s.new_gateway(args=[])
        assert d.key is None
    with Stack(BIN, scheduler="none", env=env) as s:
        assert s.key and s.gw.json("GET", "/jobs")[0] == 200
        assert s.gw.request("GET", "/jobs", key=None)[0] == 401
        alice = s.make_key("alice")
        st, _, job = s.gw.json("POST", "/job", {"digits": 10}, key=alice)
        assert st == 201 and job["owner"] == "alice", (st, job)
        # The stack's key is an admin key: it sees alice's job.
        assert s.gw.job(job["id"])["owner"] == "alice"


CASES = {"headers": case_headers, "metrics": case_metrics, "ownership": case_ownership,
         "revoke": case_revoke, "none": case_none, "default": case_default}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("cases", nargs="+", choices=sorted(CASES))
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    for name in a.cases:
        t0 = time.monotonic()
        CASES[name]()
        print("%s: ok (%.1fs)" % (name, time.monotonic() - t0))
