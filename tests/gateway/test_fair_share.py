"""test_fair_share.py - one API key's backlog does not delay another key's job (issue 10).

Usage: test_fair_share.py --bin BUILD/bin

Key A queues 200 jobs of 1e6 digits, then key B posts one: B's job is among the next two jobs
to start. The gateway runs with --auth keys, the local scheduler, one rank and --max-running
1, so jobs start one at a time; the order is read from each job's started_at once B's job has
started. A's backlog is cancelled at the end. Starts its own redis-server and pi-gateway on
free loopback ports and stops them by PID. Run with /usr/bin/python3 (stdlib only).
"""
import argparse
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, wait_until  # noqa: E402

BIN = None
BACKLOG = 200
DIGITS = 1000000


def bearer(secret):
    return {"Authorization": "Bearer " + secret}


def post(g, secret):
    st, _, job = g.json("POST", "/job", {"digits": DIGITS}, headers=bearer(secret))
    assert st == 201, (st, job)
    return job


def own_jobs(g, secret):
    """Every job of the key, through GET /jobs and its cursors."""
    jobs, cursor = [], None
    while True:
        path = "/jobs?limit=1000" + ("&cursor=" + cursor if cursor else "")
        st, _, doc = g.json("GET", path, headers=bearer(secret))
        assert st == 200, (st, doc)
        jobs += doc["jobs"]
        cursor = doc.get("next_cursor")
        if not cursor:
            return jobs


def started(g, secret, jid):
    st, _, job = g.json("GET", "/job/" + jid, headers=bearer(secret))
    assert st == 200, (st, job)
    return job["started_at"] and job


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    BIN = os.path.abspath(ap.parse_args().bin)
    args = ["--auth", "keys", "--ranks", "1", "--max-running", "1"]
    with Stack(BIN, scheduler="local", args=args) as s:
        g = s.gw
        a, b = s.make_key("A"), s.make_key("B")
        backlog = [post(g, a)["id"] for _ in range(BACKLOG)]
        # B posts once A's backlog is well under way (its first job started).
        wait_until(lambda: started(g, a, backlog[0]), 120, "A's first job to start")
        bjob = post(g, b)
        bjob = wait_until(lambda: started(g, b, bjob["id"]), 120, "B's job to start")
        # started_at and created_at are milliseconds in one fixed-width UTC format, written
        # on this host: string order is time order. Jobs start one at a time.
        a_jobs = own_jobs(g, a)
        assert len(a_jobs) == BACKLOG, len(a_jobs)
        before_b = sorted(j["started_at"] for j in a_jobs
                          if j["started_at"] and bjob["created_at"] <= j["started_at"]
                          < bjob["started_at"])
        assert len(before_b) <= 1, ("A's jobs that started after B posted and before B's "
                                    "started: %s; B: %s" % (before_b, bjob))
        # The point of the test: A still had a backlog when B's job started.
        waiting = [j for j in a_jobs if j["state"] in ("created", "queued")]
        assert waiting, "A's backlog was gone before B's job started"
        print("fair share: %d of A's jobs started between B's post and B's start; %d of A's "
              "still waiting" % (len(before_b), len(waiting)))
        for jid in backlog:
            st, _, doc = g.json("DELETE", "/job/" + jid, headers=bearer(a))
            assert st in (200, 409), (st, doc)
        wait_until(lambda: all(j["state"] in ("finished", "errored", "cancelled")
                               for j in own_jobs(g, a)), 60, "A's backlog to be cancelled")


if __name__ == "__main__":
    main()
