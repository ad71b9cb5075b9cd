"""test_gateway_http.py - pi-gateway over real HTTP, with a real redis-server and real mpirun.

Usage: test_gateway_http.py --bin BUILD/bin CASE...
       (CASE: api jobs concurrent cancel crash redis replicas redirect)
Each case starts its own stack (tests/support/gateway.py) on free loopback ports and stops
every process it started. Run with /usr/bin/python3 (stdlib only).
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Gateway, Stack, processes_with_arg, wait_until  # noqa: E402

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
JOB_KEYS = {"id", "state", "digits", "created_at", "updated_at", "started_at", "finished_at",
            "progress", "result", "error"}
BIN = None
REF = {}


def reference(digits):
    """pi-reference's digits ("3." + N decimals + "\\n"), computed once for the largest N."""
    if not REF or REF["n"] < digits:
        n = max(digits, 5000)
        out = subprocess.run([os.path.join(BIN, "pi-reference"), "--digits", str(n)],
                             check=True, capture_output=True).stdout
        REF.update(n=n, text=out)
    return REF["text"][:2 + digits] + b"\n"


def expect_error(resp, status, what):
    st, hdr, body = resp
    assert st == status, "%s: expected %d, got %d %r" % (what, status, st, body[:300])
    assert hdr.get("content-type") == "application/json", (what, hdr)
    doc = json.loads(body)
    assert set(doc) == {"error"}, (what, doc)
    assert isinstance(doc["error"]["code"], str) and doc["error"]["code"], (what, doc)
    assert isinstance(doc["error"]["message"], str) and doc["error"]["message"], (what, doc)
    return hdr, doc


def raw_exchange(port, request):
    """Sends request whole on a new connection and reads one answer up to EOF; returns
    (status, lower-case headers, body) like Gateway.request."""
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        try:
            while True:
                got = sock.recv(65536)
                if not got:
                    break
                data += got
        except ConnectionResetError:
            pass  # the gateway closed with our unread bytes: the answer came before the RST
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(body)))
    return int(lines[0].split()[1]), headers, body[:length]


def check_job_shape(job):
    assert JOB_KEYS <= set(job), job
    assert UUID4.match(job["id"]), job["id"]
    assert job["state"] in {"created", "queued", "running", "finished", "errored", "cancelled"}


def download_ok(g, job, digits):
    st, hdr, body = g.request("GET", "/job/download/" + job["id"])
    assert st == 200, (st, body[:200])
    assert hdr["content-type"] == "text/plain", hdr
    assert int(hdr["content-length"]) == len(body) == job["result"]["bytes"], (hdr, len(body))
    assert body == reference(digits), "digits of %s differ from pi-reference" % job["id"]
    assert hashlib.sha256(body).hexdigest() == job["result"]["sha256"]
    assert job["result"]["object"] == "jobs/%s/pi.txt" % job["id"]
    assert job["result"]["download"] == "/job/download/" + job["id"]
    return body


# ---------------------------------------------------------------------------------------------
def case_api():
    """Every endpoint and every error, with the none scheduler (nothing runs)."""
    with Stack(BIN, scheduler="none") as s:
        g = s.gw
        # POST: 201, Location, the job.
        st, hdr, job = g.json("POST", "/job", {"digits": 1000})
        assert st == 201, (st, job)
        check_job_shape(job)
        assert hdr["location"] == "/job/" + job["id"]
        assert job["state"] == "created" and job["digits"] == 1000
        assert job["result"] is None and job["error"] is None and job["started_at"] is None
        assert job["progress"] == 0
        # GET and HEAD.
        st, _, again = g.json("GET", "/job/" + job["id"])
        assert st == 200 and again["id"] == job["id"], again
        st, hdr, body = g.request("HEAD", "/job/" + job["id"])
        assert st == 200 and body == b"" and int(hdr["content-length"]) > 0
        expect_error(g.request("GET", "/job/0b5c7a3e-1f2d-4c5b-9a8e-7d6f5e4c3b2a"), 404, "unknown")

        # Bodies that are not exactly {"digits": N} with 1 <= N <= max.
        bad = ['', 'digits=5', '{', '{}', 'null', '5', '"5"', '[{"digits": 5}]',
               '{"digits": "5"}', '{"digits": 5.0}', '{"digits": 1e3}', '{"digits": true}',
               '{"digits": false}', '{"digits": null}', '{"digits": -5}', '{"digits": 0}',
               '{"digits": 100000001}', '{"digits": 123456789012345678901234567890}',
               '{"digits": {"n": 5}}', '{"digits": [5]}', '{"digits": 5, "x": 1}',
               '{"digits": 5, "digits": 6}', '{"digits": 5} trailing', '{"digits": 5}{}',
               '{"digits": 5', "{'digits': 5}", '{"digits": 5}\x00', '{"digits": 05}',
               '{"Digits": 5}']
        for b in bad:
            expect_error(g.request("POST", "/job", b.encode()), 400, "body %r" % b)
        # 413: a body over 16 KiB, declared and chunked.
        big = b'{"digits": 5, "pad": "' + b"x" * 17000 + b'"}'
        expect_error(g.request("POST", "/job", big), 413, "big body")
        # Chunked, sent whole before the gateway reads it: it answers 413 once 16 KiB are in
        # and closes without reading the rest, so a client still sending chunks then may get
        # EPIPE (http.client did, now and then); the answer itself is already ours to read.
        chunked = (b"POST /job HTTP/1.1\r\nHost: 127.0.0.1\r\n" + g.auth_header() +
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (big[:9000], big[9000:]):
            chunked += b"%x\r\n%s\r\n" % (len(part), part)
        expect_error(raw_exchange(g.port, chunked + b"0\r\n\r\n"), 413, "chunked big body")

        # 405 with Allow.
        for method, path, allow in [("PUT", "/job", "POST"), ("GET", "/job", "POST"),
                                    ("PATCH", "/job/" + job["id"], "GET, HEAD, DELETE"),
                                    ("POST", "/job/" + job["id"], "GET, HEAD, DELETE"),
                                    ("POST", "/jobs", "GET, HEAD"),
                                    ("DELETE", "/job/download/" + job["id"], "GET, HEAD"),
                                    ("POST", "/healthz", "GET, HEAD"),
                                    ("PUT", "/metrics", "GET, HEAD")]:
            hdr, _ = expect_error(g.request(method, path), 405, "%s %s" % (method, path))
            assert hdr.get("allow") == allow, (method, path, hdr)

        # Paths that must never reach a file: each a 4xx with a JSON body.
        nasty = ["/job/" + "a" * 5000, "/" + "b" * 5000, "/job/..", "/job/../../etc/passwd",
                 "/job/download/..%2f..%2fetc%2fpasswd", "/job/%00", "/job/download/%00abc",
                 "/job/" + job["id"] + "%00", "/job/download/" + job["id"][:-1] + "%00",
                 "/job/download/../../../etc/passwd", "/job/%2e%2e", "/job/download/%2e%2e",
                 "/job/" + job["id"].upper(), "/job/" + job["id"] + "/x", "/nope", "/"]
        before = sorted(os.listdir(s.store_dir))
        for p in nasty:
            st, hdr, body = g.request("GET", p)
            assert 400 <= st < 500, (p[:60], st)
            expect_error((st, hdr, body), st, p[:60])
        assert sorted(os.listdir(s.store_dir)) == before

        # Listing: newest first, pages joined by the cursor, state filter.
        ids = [job["id"]] + [g.submit(100 + i) for i in range(4)]
        seen, cursor = [], None
        while True:
            q = "/jobs?limit=2" + ("&cursor=" + cursor if cursor else "")
            st, _, page = g.json("GET", q)
            assert st == 200 and len(page["jobs"]) <= 2, page
            seen += [j["id"] for j in page["jobs"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == list(reversed(ids)), (seen, ids)
        st, _, page = g.json("GET", "/jobs?state=created&limit=1000")
        assert st == 200 and {j["id"] for j in page["jobs"]} == set(ids)
        st, _, page = g.json("GET", "/jobs?state=&limit=&cursor=")
        assert st == 200 and [j["id"] for j in page["jobs"]] == list(reversed(ids)), page
        st, _, page = g.json("GET", "/jobs?state=running")
        assert st == 200 and page["jobs"] == [] and page["next_cursor"] is None
        for q in ["state=bogus", "limit=0", "limit=1001", "limit=abc", "limit=-1",
                  "cursor=garbage", "state=%00"]:
            expect_error(g.request("GET", "/jobs?" + q), 400, q)

        # DELETE: created -> cancelled; again 409; unknown 404. Download states.
        st, _, gone = g.json("DELETE", "/job/" + ids[1])
        assert st == 200 and gone["state"] == "cancelled" and gone["finished_at"], gone
        expect_error(g.request("DELETE", "/job/" + ids[1]), 409, "delete twice")
        expect_error(g.request("DELETE", "/job/0b5c7a3e-1f2d-4c5b-9a8e-7d6f5e4c3b2a"), 404, "del?")
        expect_error(g.request("GET", "/job/download/" + ids[1]), 409, "download cancelled")
        expect_error(g.request("GET", "/job/download/" + ids[2]), 409, "download created")
        expect_error(g.request("GET", "/job/download/0b5c7a3e-1f2d-4c5b-9a8e-7d6f5e4c3b2a"),
                     404, "download unknown")
        assert g.job(ids[1])["state"] == "cancelled"

        # healthz and metrics.
        st, _, doc = g.json("GET", "/healthz")
        assert st == 200 and doc == {"status": "ok"}
        st, hdr, text = g.request("GET", "/metrics")
        text = text.decode()
        assert st == 200 and hdr["content-type"].startswith("text/plain"), hdr
        for line in ['picluster_http_requests_total{route="post_job",status="201"} 5',
                     'picluster_http_requests_total{route="post_job",status="400"} %d' % len(bad),
                     'picluster_jobs{state="cancelled"} 1', 'picluster_jobs{state="created"} 4',
                     # the cancelled job's id stays in the queue list until a submitter
                     # takes and drops it: 5 ids, 4 of them live
                     'picluster_queue_depth 5', 'picluster_redis_up 1',
                     'picluster_job_duration_seconds_bucket{le="+Inf"} 0',
                     'picluster_job_duration_seconds_count 0']:
            assert line in text.splitlines(), "missing %r in\n%s" % (line, text)

        # Keep-alive: several requests on one connection.
        c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=30)
        for _ in range(3):
            c.request("GET", "/job/" + ids[0], headers={"Authorization": "Bearer " + g.key})
            r = c.getresponse()
            assert r.status == 200 and json.loads(r.read())["id"] == ids[0]
        c.close()

        # 429: a second gateway on the same Redis with its own key prefix and a tiny queue.
        g2 = s.new_gateway(args=["--key-prefix", "small:", "--max-queued", "2"])
        assert g2.submit(10) and g2.submit(10)
        hdr, doc = expect_error(g2.request("POST", "/job", {"digits": 10}), 429, "queue full")
        assert int(hdr["retry-after"]) > 0
        assert doc["error"]["code"] == "queue_full"

        # Flags: unknown or malformed -> exit 2; --download redirect on a file store -> 2.
        for extra in (["--bogus"], ["--ranks", "zero"], ["--listen", "nowhere"],
                      ["--download", "redirect"], ["--redis", "http://x"],
                      ["--store", "ftp://x"], ["--scheduler", "pbs"]):
            r = subprocess.run([os.path.join(BIN, "pi-gateway"), "--store", s.store_url] + extra,
                               capture_output=True, timeout=30)
            assert r.returncode == 2 and r.stderr, (extra, r.returncode, r.stderr)
        r = subprocess.run([os.path.join(BIN, "pi-gateway"), "--help"], capture_output=True)
        assert r.returncode == 0 and b"--max-queued" in r.stdout
        assert g.stop() == 0, "SIGTERM: clean exit"


def case_jobs():
    """Real jobs through mpirun: exact digits, Range, DELETE of a finished job, metrics."""
    # --pool-workers 0: about the mpirun path (its processes, its scheduler name); these
    # jobs are small enough for the warm pool, which test_pool.py covers.
    with Stack(BIN, scheduler="local", args=["--ranks", "2", "--max-running", "2",
                                             "--pool-workers", "0"]) as s:
        g = s.gw
        jid = g.submit(3000)
        job = g.wait_state(jid, {"finished", "errored"})
        assert job["state"] == "finished", job
        assert job["progress"] == 1 and job["started_at"] and job["finished_at"], job
        assert job["scheduler"]["name"] == "local", job
        body = download_ok(g, job, 3000)
        size = len(body)
        path = "/job/download/" + jid
        # Ranges.
        st, hdr, part = g.request("GET", path, headers={"Range": "bytes=0-9"})
        assert st == 206 and part == b"3.14159265", (st, part)
        assert hdr["content-range"] == "bytes 0-9/%d" % size and hdr["content-length"] == "10"
        st, hdr, part = g.request("GET", path, headers={"Range": "bytes=-6"})
        assert st == 206 and part == body[-6:], (st, part)
        st, hdr, part = g.request("GET", path, headers={"Range": "bytes=100-"})
        assert st == 206 and part == body[100:]
        for bad in ["bytes=%d-" % size, "bytes=9-2", "bytes=0-1,4-5", "lines=1-2", "bytes=x-"]:
            hdr, _ = expect_error(g.request("GET", path, headers={"Range": bad}), 416, bad)
            assert hdr["content-range"] == "bytes */%d" % size, hdr
        st, hdr, none = g.request("HEAD", path)
        assert st == 200 and none == b"" and int(hdr["content-length"]) == size
        # The result vanished from the store behind the gateway's back: 410, JSON.
        other = g.submit(1000)
        assert g.wait_state(other, {"finished", "errored"})["state"] == "finished"
        os.unlink(os.path.join(s.store_dir, "jobs", other, "pi.txt"))
        expect_error(g.request("GET", "/job/download/" + other), 410, "object gone")
        # A scheduler that refuses the job (here: no mpirun on PATH) ends it errored with the
        # scheduler's message instead of leaving it waiting (no warm pool to take it first).
        env = dict(s.env, PATH="/nonexistent")
        refusing = Gateway(BIN, s.redis.url, s.store_url, s.state_dir, "local",
                           ["--key-prefix", "nompi:", "--pool-workers", "0"], env=env)
        s.gateways.append(refusing)
        refusing.start()
        job = refusing.wait_state(refusing.submit(100), {"errored", "finished"}, timeout=60)
        assert job["state"] == "errored" and job["error"]["code"] == "submit_failed", job
        assert "mpirun" in job["error"]["message"], job
        # Terminal: DELETE refused, state unchanged.
        expect_error(g.request("DELETE", "/job/" + jid), 409, "delete finished")
        assert g.job(jid)["state"] == "finished"
        # The reconciler saw it finish: the duration histogram has it.
        wait_until(lambda: "picluster_job_duration_seconds_count 0" not in
                   g.request("GET", "/metrics")[2].decode(), 30, "duration histogram")
        text = g.request("GET", "/metrics")[2].decode()
        assert 'picluster_jobs{state="finished"} 2' in text, text


def case_concurrent():
    """24 submissions at once, all finishing with the digits of pi-reference."""
    n = 24
    # --pool-workers 0: about the mpirun path (its processes, its scheduler name); these
    # jobs are small enough for the warm pool, which test_pool.py covers.
    with Stack(BIN, scheduler="local", args=["--ranks", "2", "--max-running", "2",
                                             "--pool-workers", "0"]) as s:
        g = s.gw
        results, errors = {}, []

        def submit(i):
            try:
                digits = 500 + 37 * i
                results[g.submit(digits)] = digits
            except Exception as e:  # reported below
                errors.append(e)

        # --max-running 2: never more than two mpirun children of the gateway at once (sampled;
        # a rank between mpirun's fork and its exec still shows mpirun's command line, hence
        # the parent check).
        peak, done = [0], threading.Event()

        def parent(pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    return int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                return None

        def sample():
            while not done.is_set():
                mpiruns = [p for p in processes_with_arg(s.store_url, "--job-id")
                           if parent(p) == g.proc.pid]
                peak[0] = max(peak[0], len(mpiruns))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert not errors and len(results) == n, errors
            for jid, digits in results.items():
                job = g.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=300)
                assert job["state"] == "finished", job
                download_ok(g, job, digits)
        finally:
            done.set()
            sampler.join()
        assert 1 <= peak[0] <= 2, "%d mpirun at once with --max-running 2" % peak[0]
        # pi-compute reports finished just before it exits: give the processes time to go.
        wait_until(lambda: not processes_with_arg(s.store_url, "--job-id"), 60,
                   "every compute process to exit")


def case_cancel():
    """Cancel of a running job (every rank gone) and of a waiting job (never starts)."""
    # --pool-workers 0: about the mpirun path (its processes, its scheduler name); these
    # jobs are small enough for the warm pool, which test_pool.py covers.
    with Stack(BIN, scheduler="local", args=["--ranks", "2", "--max-running", "1",
                                             "--pool-workers", "0"]) as s:
        g = s.gw
        running = g.submit(20000000)
        g.wait_state(running, {"running"})
        wait_until(lambda: len(processes_with_arg(running)) >= 3, 30, "mpirun and 2 ranks")
        waiting = g.submit(1000)
        assert g.job(waiting)["state"] in {"created", "queued"}
        st, _, job = g.json("DELETE", "/job/" + waiting)
        assert st == 200 and job["state"] == "cancelled", job
        st, _, job = g.json("DELETE", "/job/" + running)
        assert st == 200 and job["state"] == "cancelled", job
        # DELETE returns once every process of the job is gone.
        assert processes_with_arg(running) == [], "processes of the cancelled job remain"
        expect_error(g.request("DELETE", "/job/" + running), 409, "cancel twice")
        # A later job runs through; the cancelled waiting one never started.
        later = g.submit(1000)
        assert g.wait_state(later, {"finished", "errored"})["state"] == "finished"
        for jid in (running, waiting):
            job = g.job(jid)
            assert job["state"] == "cancelled" and job["result"] is None, job
        assert g.job(waiting)["started_at"] is None
        assert processes_with_arg(waiting) == []
        assert not os.path.exists(os.path.join(s.store_dir, "jobs", running, "pi.txt"))
        expect_error(g.request("GET", "/job/download/" + running), 409, "download cancelled")


def case_crash():
    """kill -9 of the gateway with jobs queued, of a compute, and of both."""
    with Stack(BIN, scheduler="local",
               args=["--ranks", "2", "--max-running", "1", "--instance", "gw-crash"]) as s:
        g = s.gw
        ids = {g.submit(1000 + 100 * i): 1000 + 100 * i for i in range(6)}
        g.kill()
        g2 = s.new_gateway(port=g.port)
        for jid, digits in ids.items():
            job = g2.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=300)
            assert job["state"] == "finished", job
            download_ok(g2, job, digits)

        # A compute killed with kill -9 (as the OOM killer would): errored, with a reason.
        victim = g2.submit(20000000)
        g2.wait_state(victim, {"running"})
        pids = wait_until(lambda: [p for p in processes_with_arg(victim)
                                   if b"pi-compute" in open("/proc/%d/cmdline" % p, "rb").read()
                                   and b"mpirun" not in open("/proc/%d/cmdline" % p, "rb").read()],
                          30, "pi-compute ranks")
        for p in pids:
            os.kill(p, signal.SIGKILL)
        job = g2.wait_state(victim, {"errored", "finished"}, timeout=60)
        assert job["state"] == "errored" and job["error"]["message"], job
        wait_until(lambda: not processes_with_arg(victim), 30, "mpirun to go")

        # The gateway dies while a job runs; the compute carries on and the new gateway adopts
        # it (PID:STARTTICKS checked in /proc): it finishes.
        adopted = g2.submit(200000)
        g2.wait_state(adopted, {"running", "finished"})
        g2.kill()
        g3 = s.new_gateway(port=g.port)
        job = g3.wait_state(adopted, {"finished", "errored"}, timeout=120)
        assert job["state"] == "finished", job
        download_ok(g3, job, 200000)

        # Gateway and compute both die: the restarted gateway finds the job running without a
        # process and ends it errored.
        orphan = g3.submit(20000000)
        g3.wait_state(orphan, {"running"})
        g3.kill()
        for p in processes_with_arg(orphan):
            os.kill(p, signal.SIGKILL)
        g4 = s.new_gateway(port=g.port)
        job = g4.wait_state(orphan, {"errored"}, timeout=60)
        # What the local backend says of a compute it did not start and finds gone from /proc
        # (sched_local.c), with the mpirun PID recorded as the scheduler's id (PID:STARTTICKS).
        mpirun_pid = job["scheduler"]["job_id"].split(":")[0]
        assert job["error"] == {
            "code": "compute_lost",
            "message": "the compute process (mpirun pid %s) is gone without reporting"
                       % mpirun_pid}, job


def case_redis():
    """Redis stopped: 503 everywhere it is needed, metrics still served; then recovery."""
    # --metrics-public: with keys, /metrics wants an admin key, and a key cannot be looked up
    # while Redis is down (503 once the 1 s cache has lapsed); a scraper that must see the
    # outage (picluster_redis_up 0) scrapes without one.
    with Stack(BIN, scheduler="local", args=["--ranks", "2", "--metrics-public"]) as s:
        g = s.gw
        first = g.submit(1000)
        assert g.wait_state(first, {"finished"})["state"] == "finished"
        s.redis.stop()
        expect_error(g.request("GET", "/healthz"), 503, "healthz down")
        expect_error(g.request("POST", "/job", {"digits": 10}), 503, "post down")
        expect_error(g.request("GET", "/job/" + first), 503, "get down")
        expect_error(g.request("GET", "/jobs"), 503, "list down")
        expect_error(g.request("DELETE", "/job/" + first), 503, "delete down")
        st, _, text = g.request("GET", "/metrics")
        assert st == 200 and b"picluster_redis_up 0" in text
        s.redis.restart()
        wait_until(lambda: g.request("GET", "/healthz")[0] == 200, 30, "healthz back")
        again = g.submit(1500)
        job = g.wait_state(again, {"finished", "errored"})
        assert job["state"] == "finished", job
        download_ok(g, job, 1500)
        # The job accepted before the outage survived it (AOF).
        assert g.job(first)["state"] == "finished"


def case_replicas():
    """Two local gateways and an API-only one on one Redis: every job submitted exactly once."""
    # --pool-workers 0: the count is of scheduler submissions (the pool has its own tests).
    with Stack(BIN, scheduler="local", args=["--ranks", "1", "--max-running", "2",
                                             "--instance", "gw-a", "--pool-workers", "0"]) as s:
        a = s.gw
        b = s.new_gateway(args=["--ranks", "1", "--max-running", "2", "--instance", "gw-b",
                                "--pool-workers", "0"])
        api = s.new_gateway(scheduler="none")
        ids = {}
        for i in range(12):
            g = (a, b, api)[i % 3]
            ids[g.submit(700 + 11 * i)] = 700 + 11 * i
        for jid, digits in ids.items():
            job = api.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=300)
            assert job["state"] == "finished", job
            download_ok(api, job, digits)
        logs = a.log(tail=None) + b.log(tail=None)
        for jid in ids:
            n = logs.count("job %s: submitted to local" % jid)
            assert n == 1, "job %s submitted %d times" % (jid, n)
        assert "submitted to" not in api.log(tail=None)


def case_redirect():
    """--download redirect on an S3 store (s3rver behind a SigV4-checking proxy): 302 to a
    presigned URL that plain curl downloads; a proxy-mode gateway serves the same object."""
    from s3rver import S3rver
    with S3rver() as s3:
        env = dict(os.environ)
        env.update(s3.env())
        with Stack(BIN, scheduler="local", store_url=s3.store_url("gw"), env=env,
                   args=["--ranks", "2", "--download", "redirect", "--presign-expiry", "300"]) as s:
            g = s.gw
            jid = g.submit(4000)
            job = g.wait_state(jid, {"finished", "errored"})
            assert job["state"] == "finished", job
            st, hdr, body = g.request("GET", "/job/download/" + jid)
            assert st == 302 and hdr["location"].startswith("http://127.0.0.1:"), (st, hdr)
            assert "X-Amz-Signature=" in hdr["location"] and "X-Amz-Expires=300" in hdr["location"]
            got = subprocess.run(["curl", "-sS", "--fail", hdr["location"]], capture_output=True,
                                 timeout=60)
            assert got.returncode == 0, got.stderr
            assert got.stdout == reference(4000)
            assert hashlib.sha256(got.stdout).hexdigest() == job["result"]["sha256"]
            proxy = s.new_gateway(scheduler="none", args=[])
            download_ok(proxy, job, 4000)
            st, _, part = proxy.request("GET", "/job/download/" + jid,
                                        headers={"Range": "bytes=2-5"})
            assert st == 206 and part == b"1415", (st, part)
            assert not s3.refused, s3.refused


CASES = {"api": case_api, "jobs": case_jobs, "concurrent": case_concurrent,
         "cancel": case_cancel, "crash": case_crash, "redis": case_redis,
         "replicas": case_replicas, "redirect": case_redirect}

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
