"""test_pool.py - the warm-worker pool seen from the gateway (issue 11).

Usage: test_pool.py --bin BUILD/bin CASE...
Cases:
  flags      --pool-workers only with the local scheduler (exit 2 otherwise), --help names both
             pool flags, bad values refused
  size       a job of --pool-max-digits digits runs on a pool worker ("scheduler": {"name":
             "pool", "worker": ...}), one digit more under mpirun ("name": "local"); the pool
             gauges in /metrics
  liveness   --pool-workers 0 and no worker: everything goes to the scheduler; a worker started
             by hand: small jobs go to it; that worker killed: to the scheduler again
  kill9      kill -9 of a pool worker mid-job (2,000,000 digits): the supervisor restarts it,
             the job is recovered and finishes once with the right digits, nothing left queued
  sigterm    SIGTERM of the gateway: its workers finish the job they compute, then all exit,
             and so does the gateway (0); SIGKILL of a gateway: its workers exit by themselves
  cancel     DELETE of a pool job mid-compute: cancelled, no object or partial file left, the
             worker goes on to the next job
  thousand   1,000 jobs of 1,000 digits through a 2-worker pool, every digit checked
Every case starts its own redis-server and gateways (local scheduler) on free loopback ports and
stops what it started by PID. Run with /usr/bin/python3 (stdlib only).
"""
import argparse
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, processes_with_arg, wait_until  # noqa: E402

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


def metric(g, name):
    """The value of an unlabelled metric in GET /metrics, or None when absent."""
    st, _, body = g.request("GET", "/metrics")
    assert st == 200, (st, body[:200])
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def wait_workers(g, n, timeout=30):
    """Waits until /metrics shows exactly n live pool workers."""
    wait_until(lambda: metric(g, "picluster_pool_workers_alive") == n, timeout,
               "%d live pool workers; gateway log:\n%s" % (n, g.log()))


def worker_pids(store_url, name=None):
    """PIDs of live `pi-compute --worker` processes of this store (named name, if given)."""
    pids = []
    for pid in processes_with_arg(store_url, "--worker"):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--worker" not in argv:
            continue
        if name is None or (b"--worker-name" in argv
                            and argv[argv.index(b"--worker-name") + 1] == name.encode()):
            pids.append(pid)
    return pids


def kill_workers(stack):
    """Stops the stack's gateways (they stop their workers), then SIGKILLs any worker left."""
    for g in stack.gateways:
        try:
            g.stop()
        except AssertionError:
            pass
    for pid in worker_pids(stack.store_url):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def check_digits(g, job, digits):
    """The job finished with pi-reference's digits and the SHA-256 it reports."""
    assert job["state"] == "finished", job
    st, _, body = g.request("GET", "/job/download/" + job["id"])
    assert st == 200, (st, body[:200])
    assert body == reference(digits), "digits of %s differ from pi-reference" % job["id"]
    assert hashlib.sha256(body).hexdigest() == job["result"]["sha256"], job


def job_files(stack, job_id):
    """Every file the store holds for a job (the object, temporary files)."""
    d = os.path.join(stack.store_dir, "jobs", job_id)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def pool_stack(*args):
    return Stack(BIN, scheduler="local", args=list(args))


# ---------------------------------------------------------------------------------------------
def case_flags():
    gw = os.path.join(BIN, "pi-gateway")
    base = [gw, "--store", "file:///tmp/picluster-pool-flags", "--listen", "127.0.0.1:1",
            "--redis", "redis://127.0.0.1:1"]
    for sched in ("slurm", "none"):
        p = subprocess.run(base + ["--scheduler", sched, "--pool-workers", "2"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (sched, p.returncode, p.stderr)
        assert "--pool-workers" in p.stderr and "local" in p.stderr, p.stderr
    for bad in (["--pool-workers", "-1"], ["--pool-workers", "1025"],
                ["--pool-max-digits", "x"]):
        p = subprocess.run(base + bad, capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (bad, p.returncode, p.stderr)
    p = subprocess.run([gw, "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--pool-workers" in p.stdout and "--pool-max-digits" in p.stdout
    # The environment works as for every flag.
    env = dict(os.environ, PICLUSTER_POOL_WORKERS="3")
    p = subprocess.run(base + ["--scheduler", "none"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert p.returncode == 2 and "--pool-workers 3" in p.stderr, p.stderr


def case_size():
    with pool_stack("--pool-workers", "2", "--pool-max-digits", "5000") as s:
        g = s.gw
        try:
            wait_workers(g, 2)
            assert metric(g, "picluster_pool_queue_depth") == 0
            small = g.submit(5000)
            big = g.submit(5001)
            js = g.wait_state(small, {"finished", "errored"})
            jb = g.wait_state(big, {"finished", "errored"})
            check_digits(g, js, 5000)
            check_digits(g, jb, 5001)
            assert js["scheduler"]["name"] == "pool", js
            assert js["scheduler"]["worker"].endswith((":pool:0", ":pool:1")), js
            assert jb["scheduler"]["name"] == "local", jb
            assert jb["scheduler"]["job_id"], jb
            assert "started mpirun" in g.log(None) and big in g.log(None)
        finally:
            kill_workers(s)


def case_liveness():
    with pool_stack("--pool-workers", "0") as s:
        g = s.gw
        worker = None
        try:
            assert not worker_pids(s.store_url)
            assert metric(g, "picluster_pool_workers_alive") == 0
            j = g.wait_state(g.submit(1000), {"finished", "errored"})
            assert j["scheduler"]["name"] == "local", j
            check_digits(g, j, 1000)
            # A worker of our own, as a Slurm pilot job would start one.
            log = open(os.path.join(s.dir, "worker.log"), "ab")
            worker = subprocess.Popen(
                [os.path.join(BIN, "pi-compute"), "--worker", "--redis", s.redis.url,
                 "--store", s.store_url, "--worker-name", "hand:1"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=s.env)
            log.close()
            wait_workers(g, 1)
            time.sleep(0.6)  # the submitter trusts its count of live workers for 500 ms
            j = g.wait_state(g.submit(1000), {"finished", "errored"})
            assert j["scheduler"] == {"name": "pool", "worker": "hand:1"}, j
            check_digits(g, j, 1000)
            # Killed: once its heartbeat lapses (3 s) small jobs go to mpirun again.
            worker.kill()
            worker.wait()
            wait_workers(g, 0)
            time.sleep(0.6)
            j = g.wait_state(g.submit(1000), {"finished", "errored"})
            assert j["scheduler"]["name"] == "local", j
            check_digits(g, j, 1000)
        finally:
            if worker and worker.poll() is None:
                worker.kill()
                worker.wait()


def case_kill9():
    with pool_stack("--pool-workers", "2", "--pool-max-digits", "3000000") as s:
        g = s.gw
        try:
            wait_workers(g, 2)
            job_id = g.submit(2000000)
            j = g.wait_state(job_id, {"running", "finished", "errored"})
            assert j["state"] == "running" and j["scheduler"]["name"] == "pool", j
            name = j["scheduler"]["worker"]
            victims = worker_pids(s.store_url, name)
            assert len(victims) == 1, (name, victims)
            os.kill(victims[0], signal.SIGKILL)
            # The supervisor starts a worker of that name again.
            wait_until(lambda: [p for p in worker_pids(s.store_url, name) if p != victims[0]],
                       30, "worker %s restarted" % name)
            j = g.wait_state(job_id, {"finished", "errored", "cancelled"}, timeout=180)
            check_digits(g, j, 2000000)
            assert job_files(s, job_id) == ["pi.txt"], job_files(s, job_id)
            # Nothing queued to run it again; no processing list still holds it.
            assert metric(g, "picluster_pool_queue_depth") == 0
            for w in s.redis.command("SMEMBERS", "picluster:pool:workers"):
                key = "picluster:pool:processing:" + w
                assert job_id not in s.redis.command("LRANGE", key, "0", "-1"), key
            assert g.job(job_id)["state"] == "finished"
            assert "ended after" in g.log(None) and "restarting" in g.log(None)
        finally:
            kill_workers(s)


def case_sigterm():
    with pool_stack("--pool-workers", "2", "--pool-max-digits", "3000000") as s:
        g = s.gw
        try:
            wait_workers(g, 2)
            pids = worker_pids(s.store_url)
            assert len(pids) == 2, pids
            job_id = g.submit(1000000)
            j = g.wait_state(job_id, {"running", "finished", "errored"})
            assert j["scheduler"]["name"] == "pool", j
            assert g.stop(timeout=30) == 0
            assert not worker_pids(s.store_url), worker_pids(s.store_url)
            assert "pool: SIGTERM to 2 worker(s)" in g.log(None), g.log()
            # The worker drained: the job it computed finished. Read it through a gateway
            # without workers.
            g2 = s.new_gateway(args=["--pool-workers", "0"])
            j = g2.job(job_id)
            check_digits(g2, j, 1000000)
            assert metric(g2, "picluster_pool_workers_alive") == 0
            # A gateway killed with SIGKILL cannot stop its workers: the kernel tells them
            # (PR_SET_PDEATHSIG), and they leave by themselves.
            g3 = s.new_gateway(args=["--pool-workers", "2", "--instance", "other"])
            wait_workers(g2, 2)
            assert len(worker_pids(s.store_url)) == 2
            g3.kill()
            wait_until(lambda: not worker_pids(s.store_url), 30,
                       "the workers of a killed gateway to exit")
            wait_workers(g2, 0)
        finally:
            kill_workers(s)


def case_cancel():
    with pool_stack("--pool-workers", "1", "--pool-max-digits", "3000000") as s:
        g = s.gw
        try:
            wait_workers(g, 1)
            job_id = g.submit(2000000)
            j = g.wait_state(job_id, {"running", "finished", "errored"})
            assert j["state"] == "running" and j["scheduler"]["name"] == "pool", j
            st, _, doc = g.json("DELETE", "/job/" + job_id)
            assert st == 200 and doc["state"] == "cancelled", (st, doc)
            # The one worker is free again once it stopped that job: the next one runs.
            nxt = g.wait_state(g.submit(1000), {"finished", "errored"}, timeout=60)
            check_digits(g, nxt, 1000)
            assert nxt["scheduler"]["name"] == "pool", nxt
            assert g.job(job_id)["state"] == "cancelled"
            assert job_files(s, job_id) == [], job_files(s, job_id)
            st, _, _ = g.request("GET", "/job/download/" + job_id)
            assert st != 200, st
            assert len(worker_pids(s.store_url)) == 1
        finally:
            kill_workers(s)


def case_thousand():
    n, digits = 1000, 1000
    with pool_stack("--pool-workers", "2") as s:
        g = s.gw
        try:
            wait_workers(g, 2)
            time.sleep(0.6)  # past the submitter's 500 ms count of live workers
            ids, errors = [], []
            lock = threading.Lock()

            def post(count):
                try:
                    for _ in range(count):
                        job_id = g.submit(digits)
                        with lock:
                            ids.append(job_id)
                except Exception as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            threads = [threading.Thread(target=post, args=(n // 8,)) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors, errors[:3]
            assert len(set(ids)) == n, len(set(ids))

            def all_done():
                st, _, doc = g.json("GET", "/jobs?state=finished&limit=1000")
                return st == 200 and len(doc["jobs"]) == n

            wait_until(all_done, 300, "%d finished jobs" % n, interval=0.5)
            ref = reference(digits)
            for job_id in ids:
                j = g.job(job_id)
                assert j["state"] == "finished" and j["scheduler"]["name"] == "pool", j
                st, _, body = g.request("GET", "/job/download/" + job_id)
                assert st == 200 and body == ref, (job_id, st, body[:40])
            assert metric(g, "picluster_pool_queue_depth") == 0
        finally:
            kill_workers(s)


CASES = {"flags": case_flags, "size": case_size, "liveness": case_liveness,
         "kill9": case_kill9, "sigterm": case_sigterm, "cancel": case_cancel,
         "thousand": case_thousand}


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
