"""test_retention.py - --result-ttl and --job-ttl against a real stack: results deleted from the
file and the S3 store, 410 result_expired, records gone from every index, one lease holder among
replicas and its successor, catching up after downtime, and the flags themselves.

Usage: test_retention.py --bin BUILD/bin CASE...   (CASE: file s3 replicas catchup flags)
Each case starts its own stack (tests/support/gateway.py) on free loopback ports and stops
every process it started. Run with /usr/bin/python3 (stdlib only).
"""
import argparse
import datetime
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, wait_until  # noqa: E402

BIN = None
PREFIX = "picluster:"
# The contract: an expired result is gone within 10 s of its time.
GONE_WITHIN = 10
TTL_ARGS = ["--auth", "none", "--ranks", "2", "--result-ttl", "2", "--job-ttl", "5"]


def epoch(stamp):
    """Seconds since the epoch of an API time ("2026-01-02T03:04:05.678Z")."""
    t = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def until(when, pred, what):
    """Waits for pred() until GONE_WITHIN s after the epoch time `when`."""
    return wait_until(pred, max(when + GONE_WITHIN - time.time(), 1), what, interval=0.2)


def finished_job(g, digits=1000):
    jid = g.submit(digits)
    job = g.wait_state(jid, {"finished", "errored", "cancelled"})
    assert job["state"] == "finished", job
    return job


def in_indexes(s, jid, owner=None):
    """The indexes of the store that still name jid."""
    keys = ["jobs", "ended", "results"] + ["state:" + x for x in
                                           ("created", "queued", "running", "finished",
                                            "errored", "cancelled")]
    if owner:
        keys.append("owner:%s:jobs" % owner)
    found = [k for k in keys if s.redis.command("ZSCORE", PREFIX + k, jid) is not None]
    if s.redis.command("EXISTS", PREFIX + "job:" + jid):
        found.append("job:" + jid)
    return found


def check_expiry(s, object_exists):
    """One finished job through both TTLs: expires_at, 410 result_expired, the object gone,
    expired true with the other result fields kept, then 404 and no index left; a cancelled
    job's record goes too."""
    g = s.gw
    job = finished_job(g)
    jid, res = job["id"], job["result"]
    assert "expired" not in res, res
    assert abs(epoch(res["expires_at"]) - (epoch(job["finished_at"]) + 2)) < 0.002, job
    assert object_exists(res["object"])
    st, hdr, body = g.request("GET", "/job/download/" + jid)
    if st == 200:
        assert body.startswith(b"3.14159") and len(body) == res["bytes"]
    else:  # only once its time has passed
        assert st == 410 and time.time() >= epoch(res["expires_at"]) - 0.5, (st, body)

    doomed = g.submit(100000000)
    st, _, cancelled = g.json("DELETE", "/job/" + doomed)
    assert st == 200 and cancelled["state"] == "cancelled", (st, cancelled)

    due = epoch(res["expires_at"])
    until(due, lambda: not object_exists(res["object"]), "the result object to be deleted")
    st, hdr, doc = g.json("GET", "/job/download/" + jid)
    assert st == 410 and doc["error"]["code"] == "result_expired", (st, doc)
    expired = until(due, lambda: g.job(jid)["result"].get("expired") and g.job(jid),
                    "result.expired")
    for k in ("object", "bytes", "sha256", "download", "expires_at"):
        assert expired["result"][k] == res[k], (k, expired["result"], res)
    listed = g.json("GET", "/jobs")[2]["jobs"]
    assert any(j["id"] == jid and j["result"]["expired"] for j in listed), listed

    ended = epoch(job["finished_at"]) + 5
    until(ended, lambda: g.json("GET", "/job/" + jid)[0] == 404, "the record to be deleted")
    until(ended, lambda: not in_indexes(s, jid), "every index entry to go")
    until(epoch(cancelled["finished_at"]) + 5,
          lambda: g.json("GET", "/job/" + doomed)[0] == 404, "the cancelled job's record")
    st, _, doc = g.json("GET", "/job/download/" + jid)
    assert st == 404, (st, doc)
    listed = g.json("GET", "/jobs")[2]["jobs"]
    assert all(j["id"] not in (jid, doomed) for j in listed), listed
    assert not in_indexes(s, doomed), in_indexes(s, doomed)
    assert "retention: lease taken" in g.log(tail=None)


def case_file():
    """The file store: the result file is deleted."""
    with Stack(BIN, args=TTL_ARGS) as s:
        check_expiry(s, lambda name: os.path.exists(os.path.join(s.store_dir, name)))


def case_s3():
    """The S3 store (s3rver behind a SigV4-checking proxy): the object is deleted."""
    from s3rver import S3rver
    with S3rver() as s3:
        env = dict(os.environ)
        env.update(s3.env())
        with Stack(BIN, store_url=s3.store_url("gw"), env=env, args=TTL_ARGS) as s:
            check_expiry(s, lambda name: any(k == "gw/" + name for k, _ in s3.objects()))
        assert not s3.refused, s3.refused


def holder_of(s, gateways):
    """The gateway whose log says it took the lease last (by its lease token)."""
    token = s.redis.command("GET", PREFIX + "lease:retention")
    assert token, "nobody holds the lease"
    owners = [g for g in gateways if "lease taken (token %s)" % token[:8] in g.log(tail=None)]
    assert len(owners) == 1, (token, [g.port for g in owners])
    return owners[0]


def case_replicas():
    """Two gateways on one Redis: one holds the lease and does all the work; when it stops
    (releasing the lease) the other takes over and expires what comes due next."""
    with Stack(BIN, args=TTL_ARGS) as s:
        b = s.new_gateway()
        a = s.gw
        wait_until(lambda: s.redis.command("GET", PREFIX + "lease:retention"), 15, "a lease")
        first = holder_of(s, [a, b])
        other = b if first is a else a
        wait_until(lambda: "another gateway holds the lease" in other.log(tail=None), 15,
                   "the other gateway to see the lease held")
        job = finished_job(other)
        path = os.path.join(s.store_dir, job["result"]["object"])
        until(epoch(job["result"]["expires_at"]), lambda: not os.path.exists(path),
              "the first holder to delete the result")
        line = "job %s: result expired" % job["id"]
        wait_until(lambda: line in first.log(tail=None), 15, "the holder's log line")
        assert line not in other.log(tail=None)
        assert "lease taken" not in other.log(tail=None)

        assert first.stop() == 0
        assert "retention: lease released" in first.log(tail=None)
        wait_until(lambda: "retention: lease taken" in other.log(tail=None), 15,
                   "the other gateway to take the lease over")
        assert holder_of(s, [other]) is other
        job = finished_job(other)
        path = os.path.join(s.store_dir, job["result"]["object"])
        until(epoch(job["result"]["expires_at"]), lambda: not os.path.exists(path),
              "the new holder to delete the result")
        assert "job %s: result expired" % job["id"] in other.log(tail=None)


def case_catchup():
    """Jobs that ended while no gateway expired anything (retention off), some of them from
    before the indexes existed (deleted here by hand): a gateway started with TTLs deletes all
    of them at once, and the indexes are rebuilt on the way."""
    with Stack(BIN, args=["--auth", "none", "--result-ttl", "0", "--job-ttl", "0"]) as s:
        g = s.gw
        assert "retention: off" in g.log(tail=None)
        jobs = [finished_job(g) for _ in range(3)]
        assert s.redis.command("GET", PREFIX + "lease:retention") is None
        assert g.stop() == 0
        # As an older gateway would have left them.
        s.redis.command("DEL", PREFIX + "ended", PREFIX + "results")
        fresh = s.new_gateway(args=["--auth", "none", "--result-ttl", "1", "--job-ttl", "2"])
        wait_until(lambda: all(fresh.json("GET", "/job/" + j["id"])[0] == 404 for j in jobs),
                   GONE_WITHIN + 5, "the backlog to be deleted")
        for j in jobs:
            assert not os.path.exists(os.path.join(s.store_dir, j["result"]["object"]))
            assert not in_indexes(s, j["id"]), in_indexes(s, j["id"])
        assert "ended job(s) not indexed yet" in fresh.log(tail=None)


def case_flags():
    """Bad values exit 2 with a message; --help names both flags."""
    exe = os.path.join(BIN, "pi-gateway")
    for flag in ("--result-ttl", "--job-ttl"):
        for bad in ("-1", "x", "1.5", "", "99999999999999999999", "3153600001"):
            p = subprocess.run([exe, "--store", "file:///tmp/x", flag, bad],
                               capture_output=True, timeout=30)
            assert p.returncode == 2, (flag, bad, p.returncode, p.stderr)
            assert flag.encode() in p.stderr, p.stderr
    p = subprocess.run([exe, "--help"], capture_output=True, timeout=30)
    assert b"--result-ttl SECONDS" in p.stdout + p.stderr
    assert b"--job-ttl SECONDS" in p.stdout + p.stderr


CASES = {"file": case_file, "s3": case_s3, "replicas": case_replicas, "catchup": case_catchup,
         "flags": case_flags}

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
