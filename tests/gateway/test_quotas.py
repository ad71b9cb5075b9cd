"""test_quotas.py - per-key quotas, RateLimit headers and Idempotency-Key on POST /job (issue 10).

Usage: test_quotas.py --bin BUILD/bin CASE...
Cases:
  queued       a key's --max-queued: 429 quota_exceeded with Retry-After past it, other keys
               unaffected, room again after a cancel; the global --max-queued still guards
  digits       a key's --max-digits: 400 naming the key's limit; never above the gateway's
  running      a key's --max-running: 429 while that many of its jobs run, and the submitter
               starts no more than that many at once (real computes)
  daily        a key's --digits-per-day: 429 with Retry-After until UTC midnight, the budget
               in RateLimit-Policy / RateLimit on every authenticated answer, the count in
               `pi-gateway key list`, the gateway's --digits-per-day for keys without one
  idempotency  Idempotency-Key: replays (Idempotent-Replayed: true, same job), 422 for another
               body, scoped per API key, bad keys 400, 20 parallel POSTs make one job
Every case starts its own redis-server and gateways on free loopback ports and stops them by
PID. Run with /usr/bin/python3 (stdlib only).
"""
import argparse
import datetime
import os
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, wait_until  # noqa: E402

BIN = None
POLICY_RE = re.compile(r'^"digits-per-day";q=(\d+);w=86400$')
REMAINING_RE = re.compile(r'^"digits-per-day";r=(\d+);t=(\d+)$')


def bearer(secret, **more):
    h = {"Authorization": "Bearer " + secret}
    h.update(more)
    return h


def post(g, secret, digits, **headers):
    return g.json("POST", "/job", {"digits": digits}, headers=bearer(secret, **headers))


def assert_quota_429(st, hdr, doc, what, retry_max=30):
    assert st == 429, "%s: want 429, got %d %r" % (what, st, doc)
    assert doc["error"]["code"] == "quota_exceeded", (what, doc)
    assert 1 <= int(hdr["retry-after"]) <= retry_max, (what, hdr)


def budget(hdr):
    """(q, r, t) of the RateLimit headers; asserts their shape."""
    pol = POLICY_RE.match(hdr.get("ratelimit-policy", ""))
    rem = REMAINING_RE.match(hdr.get("ratelimit", ""))
    assert pol and rem, hdr
    return int(pol.group(1)), int(rem.group(1)), int(rem.group(2))


def seconds_to_utc_midnight():
    now = datetime.datetime.now(datetime.timezone.utc)
    return 86400 - (now.hour * 3600 + now.minute * 60 + now.second)


def case_queued():
    with Stack(BIN, scheduler="none", args=["--auth", "keys", "--max-queued", "5"]) as s:
        g = s.gw
        a = s.make_key("a", max_queued=2)
        b = s.make_key("b")
        first = [post(g, a, 1000)[2]["id"] for _ in range(2)]
        st, hdr, doc = post(g, a, 1000)
        assert_quota_429(st, hdr, doc, "third job of a")
        assert "2" in doc["error"]["message"] and "max_queued" in doc["error"]["message"], doc
        assert budget(hdr)[1] == 10000000000 - 2000, hdr  # refused: nothing counted
        # Another key is not held back by a's limit.
        assert post(g, b, 1000)[0] == 201
        # A cancelled job leaves the key's count.
        st, _, _ = g.json("DELETE", "/job/" + first[0], headers=bearer(a))
        assert st == 200
        assert post(g, a, 1000)[0] == 201
        # The global --max-queued (5) still guards: b fills it, then everyone gets queue_full.
        assert post(g, b, 1000)[0] == 201
        assert post(g, b, 1000)[0] == 201
        st, hdr, doc = post(g, b, 1000)
        assert st == 429 and doc["error"]["code"] == "queue_full" and "retry-after" in hdr, doc


def case_digits():
    with Stack(BIN, scheduler="none", args=["--auth", "keys", "--max-digits", "50000"]) as s:
        g = s.gw
        small = s.make_key("small", max_digits=1000)
        big = s.make_key("big", max_digits=1000000)
        assert post(g, small, 1000)[0] == 201
        st, _, doc = post(g, small, 1001)
        assert st == 400 and doc["error"]["code"] == "invalid_body", (st, doc)
        assert "1000" in doc["error"]["message"] and "small" in doc["error"]["message"], doc
        # A key's limit above the gateway's --max-digits does not lift it.
        st, _, doc = post(g, big, 50001)
        assert st == 400 and "50000" in doc["error"]["message"], (st, doc)
        assert post(g, big, 50000)[0] == 201


def case_running():
    with Stack(BIN, scheduler="local", args=["--auth", "keys", "--max-running", "2",
                                             "--ranks", "1"]) as s:
        g = s.gw
        r = s.make_key("r", max_running=1)
        st, _, doc = post(g, r, 30000000)  # long enough to be seen running
        assert st == 201, doc
        long_id = doc["id"]
        wait_until(lambda: g.json("GET", "/job/" + long_id, headers=bearer(r))[2]["state"]
                   == "running", 120, "the long job to run")
        st, hdr, doc = post(g, r, 1000)
        assert_quota_429(st, hdr, doc, "second job while one runs")
        assert "max_running" in doc["error"]["message"], doc
        assert g.json("DELETE", "/job/" + long_id, headers=bearer(r))[0] == 200
        wait_until(lambda: post(g, r, 1000)[0] == 201, 60, "room after the cancel")

        # The submitter holds a key's jobs back at its max_running: h's three jobs run one
        # after another although the backend could run two at once.
        h = s.make_key("h", max_running=1)
        ids = []
        while len(ids) < 3:
            st, _, doc = post(g, h, 300000)
            assert st in (201, 429), (st, doc)
            if st == 201:
                ids.append(doc["id"])
        most = [0]

        def all_finished():
            states = [g.json("GET", "/job/" + i, headers=bearer(h))[2]["state"] for i in ids]
            most[0] = max(most[0], sum(1 for x in states if x in ("queued", "running")))
            assert "errored" not in states and "cancelled" not in states, states
            return all(x == "finished" for x in states)

        wait_until(all_finished, 180, "h's jobs to finish", interval=0.02)
        assert most[0] == 1, most


def case_daily():
    with Stack(BIN, scheduler="none", args=["--auth", "keys", "--digits-per-day", "7000"]) as s:
        g = s.gw
        d = s.make_key("d", digits_per_day=5000)
        other = s.make_key("other")  # the gateway's --digits-per-day
        admin = s.make_key("root", admin=True)
        st, hdr, doc = post(g, d, 3000)
        assert st == 201 and budget(hdr)[:2] == (5000, 2000), hdr
        jid = doc["id"]
        st, hdr, doc = post(g, d, 3000)
        assert_quota_429(st, hdr, doc, "over the day's digits", retry_max=86400)
        assert abs(int(hdr["retry-after"]) - seconds_to_utc_midnight()) <= 5, hdr
        q, r, t = budget(hdr)
        assert (q, r) == (5000, 2000) and abs(t - seconds_to_utc_midnight()) <= 5, hdr
        assert post(g, d, 2000)[0] == 201
        # Every authenticated answer carries the budget, errors included.
        for method, path in [("GET", "/jobs"), ("GET", "/job/" + jid), ("DELETE", "/job/" + jid),
                             ("GET", "/job/0123456789abcdef0123456789abcdef"),
                             ("GET", "/job/download/" + jid), ("PUT", "/jobs")]:
            st, hdr, _ = g.request(method, path, headers=bearer(d))
            assert budget(hdr)[:2] == (5000, 0), (method, path, st, hdr)
        assert budget(g.request("GET", "/jobs", headers=bearer(other))[1])[:2] == (7000, 7000)
        # Not for requests without a key.
        for hdr in (g.request("GET", "/healthz", key=None)[1],
                    g.request("GET", "/jobs", key=None)[1]):
            assert "ratelimit" not in hdr and "ratelimit-policy" not in hdr, hdr
        # An admin's /metrics answer carries its own budget too.
        assert budget(g.request("GET", "/metrics", headers=bearer(admin))[1])[1] == 7000
        # key list shows the day's count.
        p = subprocess.run([os.path.join(BIN, "pi-gateway"), "key", "list", "--redis",
                            s.redis.url], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        line = [ln for ln in p.stdout.splitlines() if ln.split() and ln.split()[0] == "d"]
        assert line and "5000" in line[0], p.stdout


def case_idempotency():
    with Stack(BIN, scheduler="none", args=["--auth", "keys"]) as s:
        g = s.gw
        a = s.make_key("a", max_queued=3)
        b = s.make_key("b")
        st, hdr, first = post(g, a, 1000, **{"Idempotency-Key": "order-1"})
        assert st == 201 and "idempotent-replayed" not in hdr, (st, hdr)
        st, hdr, again = post(g, a, 1000, **{"Idempotency-Key": "order-1"})
        assert st == 201 and hdr.get("idempotent-replayed") == "true", (st, hdr)
        assert again["id"] == first["id"] and hdr["location"] == "/job/" + first["id"], again
        # The same digits in another spelling of the body is the same request.
        st, hdr, _ = g.json("POST", "/job", '{ "digits" : 1000 }',
                            headers=bearer(a, **{"Idempotency-Key": "order-1"}))
        assert st == 201 and hdr.get("idempotent-replayed") == "true", st
        st, _, doc = post(g, a, 2000, **{"Idempotency-Key": "order-1"})
        assert st == 422 and doc["error"]["code"] == "idempotency_key_reused", (st, doc)
        # Scoped per API key: b's "order-1" is its own.
        st, hdr, mine = post(g, b, 2000, **{"Idempotency-Key": "order-1"})
        assert st == 201 and "idempotent-replayed" not in hdr and mine["id"] != first["id"]
        # Only a's first job exists for a.
        st, _, doc = g.json("GET", "/jobs", headers=bearer(a))
        assert [j["id"] for j in doc["jobs"]] == [first["id"]], doc
        # A replay is answered even once the key is at its limit.
        for i in range(2):
            assert post(g, a, 1000)[0] == 201
        assert post(g, a, 1000)[0] == 429
        st, hdr, again = post(g, a, 1000, **{"Idempotency-Key": "order-1"})
        assert st == 201 and again["id"] == first["id"], (st, again)
        # Bad keys: 400 invalid_idempotency_key.
        for bad in ["x" * 256, "caf\u00e9"]:
            st, _, doc = g.json("POST", "/job", {"digits": 1000},
                                headers={"Authorization": "Bearer " + b,
                                         "Idempotency-Key": bad.encode("utf-8")})
            assert st == 400 and doc["error"]["code"] == "invalid_idempotency_key", (bad, doc)
        # Control characters in a header value: civetweb refuses the message itself (400)
        # before routing.
        for bad in ["a\tb", "bell\x07"]:
            st, _, doc = g.json("POST", "/job", {"digits": 1000},
                                headers={"Authorization": "Bearer " + b, "Idempotency-Key": bad})
            assert st == 400, (bad, st, doc)
        assert post(g, b, 1000, **{"Idempotency-Key": "k" * 255})[0] == 201
        # 20 parallel POSTs with one key: one job.
        c = s.make_key("c")
        results = []

        def send():
            results.append(post(g, c, 1234, **{"Idempotency-Key": "burst"}))

        threads = [threading.Thread(target=send) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert [r[0] for r in results] == [201] * 20, [r[0] for r in results]
        assert len({r[2]["id"] for r in results}) == 1, results
        assert sum(1 for r in results if "idempotent-replayed" not in r[1]) == 1
        st, _, doc = g.json("GET", "/jobs", headers=bearer(c))
        assert len(doc["jobs"]) == 1, doc


CASES = {"queued": case_queued, "digits": case_digits, "running": case_running,
         "daily": case_daily, "idempotency": case_idempotency}


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("cases", nargs="+", choices=sorted(CASES))
    args = ap.parse_args()
    BIN = os.path.abspath(args.bin)
    for name in args.cases:
        CASES[name]()
        print("ok", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
