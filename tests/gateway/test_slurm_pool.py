#!/usr/bin/python3
"""test_slurm_pool.py - slurm/pi-pool.sbatch (a pilot job of warm workers) on a real Slurm.

    test_slurm_pool.py --top SRC --bin BUILD/bin CASE

CASE is one of:
  serve      sbatch -n 2 pi-pool.sbatch: two workers heartbeat, named after the Slurm job and
             task; pi-gateway --scheduler slurm --pool-workers 0 routes small jobs to them
             (exact digits, "scheduler": {"name": "pool", "worker": ...}) and a bigger one
             to sbatch; a second pool on the same Redis serves too, and its worker, killed
             with kill -9, is started again under its name; scancel drains both (workers
             exit, heartbeats and pool:workers gone) and small jobs go to sbatch again
  args       bad arguments end the pilot job with exit code 2 and a message (no worker ever
             starts); a Redis password only through PICLUSTER_REDIS_PASSWORD: a password in
             --redis is refused, one in the environment works and is in no command line
  timelimit  sbatch -t 2: Slurm's SIGTERM before the limit (--signal=TERM@60) drains the
             workers; the job ends COMPLETED (exit 0), not TIMEOUT (takes 1-2 minutes)

Each case starts its own Slurm cluster (tests/support/slurm.py) and Redis / gateway stack
(tests/support/gateway.py) and stops them by PID.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from gateway import Stack, processes_with_arg, wait_until  # noqa: E402
from redis import RedisServer  # noqa: E402
from slurm import Cluster  # noqa: E402

PREFIX = "picluster:"


def reference(bin_dir, digits):
    return subprocess.run([os.path.join(bin_dir, "pi-reference"), "--digits", str(digits)],
                          check=True, stdout=subprocess.PIPE, timeout=120).stdout


def job_env(c, extra=None):
    """The cluster's environment for sbatch, without a PICLUSTER_COMPUTE (--bin says it)."""
    env = dict(c.env)
    env.pop("PICLUSTER_COMPUTE", None)
    env.pop("PICLUSTER_REDIS_PASSWORD", None)
    opts = env.get("ASAN_OPTIONS", "")
    if "detect_leaks" not in opts:
        env["ASAN_OPTIONS"] = (opts + ":" if opts else "") + "detect_leaks=0"
    env.update(extra or {})
    return env


def start_pool(c, top, bin_dir, work, tasks, redis_url, store_url, more=(), env=None,
               sbatch_args=()):
    """sbatch -n tasks pi-pool.sbatch ...; returns the Slurm job id."""
    p = c.run(["sbatch", "--parsable", "-n", str(tasks), "-o",
               os.path.join(work, "pool-%j.out")] + list(sbatch_args) +
              [os.path.join(top, "slurm", "pi-pool.sbatch"), "--redis", redis_url,
               "--store", store_url, "--bin", bin_dir] + list(more), env=env or job_env(c))
    return p.stdout.strip().split(";")[0]


def pool_log(work, sid):
    try:
        with open(os.path.join(work, "pool-%s.out" % sid), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def alive(redis):
    """Names of the workers with a live heartbeat."""
    keys = redis.command("KEYS", PREFIX + "pool:alive:*") or []
    return sorted(k[len(PREFIX + "pool:alive:"):] for k in keys)


def names_of(c, sid, tasks):
    cluster = c.run(["scontrol", "show", "config"]).stdout
    name = [ln.split("=", 1)[1].strip() for ln in cluster.splitlines()
            if ln.split("=", 1)[0].strip() == "ClusterName"][0]
    return sorted("slurm:%s:%s:%d" % (name, sid, t) for t in range(tasks))


def wait_workers(c, redis, sid, tasks, work):
    want = names_of(c, sid, tasks)
    wait_until(lambda: set(want) <= set(alive(redis)), 90,
               "heartbeats of %s (log: %s)" % (want, pool_log(work, sid)))
    return want


def drain(c, redis, sid, names, store_url, work, restarts=0):
    """scancel the pilot job: its workers exit and leave the pool."""
    c.run(["scancel", sid])
    assert c.wait_job(sid, timeout=120) == "CANCELLED", c.job_state(sid)
    wait_until(lambda: not set(names) & set(alive(redis)), 30, "heartbeats of %s gone" % names)
    members = redis.command("SMEMBERS", PREFIX + "pool:workers") or []
    assert not set(names) & set(members), members
    for n in names:
        assert redis.command("LLEN", PREFIX + "pool:processing:" + n) == 0, n
    log = pool_log(work, sid)
    # A clean stop: no worker restarted but the ones the test killed.
    assert log.count("starting it again") == restarts, log


def case_serve(top, bin_dir, c, work):
    args = ["--ranks", "2", "--slurm-script", os.path.join(top, "slurm", "pi.sbatch"),
            "--pool-workers", "0", "--pool-max-digits", "5000"]
    with Stack(bin_dir, scheduler="slurm", args=args, env=job_env(c)) as s:
        sid = start_pool(c, top, bin_dir, work, 2, s.redis.url, s.store_url)
        names = wait_workers(c, s.redis, sid, 2, work)
        wanted = {}
        for i in range(40):
            wanted[s.gw.submit((1000, 5000, 1, 77)[i % 4])] = (1000, 5000, 1, 77)[i % 4]
        big = s.gw.submit(20000)  # over --pool-max-digits: an sbatch of slurm/pi.sbatch
        used = set()
        for jid, digits in wanted.items():
            job = s.gw.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=120)
            assert job["state"] == "finished", job
            assert job["scheduler"]["name"] == "pool", job
            assert job["scheduler"]["worker"] in names, (job, names)
            used.add(job["scheduler"]["worker"])
            st, _, body = s.gw.request("GET", "/job/download/" + jid)
            assert st == 200 and body == reference(bin_dir, digits), "digits of " + jid
        job = s.gw.wait_state(big, {"finished", "errored", "cancelled"}, timeout=180)
        assert job["state"] == "finished" and job["scheduler"]["name"] == "slurm", job
        st, _, body = s.gw.request("GET", "/job/download/" + big)
        assert st == 200 and body == reference(bin_dir, 20000)

        # A second pool on the same Redis: both serve, each under its own names.
        sid2 = start_pool(c, top, bin_dir, work, 1, s.redis.url, s.store_url)
        names2 = wait_workers(c, s.redis, sid2, 1, work)
        drain(c, s.redis, sid, names, s.store_url, work)
        assert alive(s.redis) == names2, alive(s.redis)
        # kill -9 of its worker: the pilot starts it again under the same name.
        old = processes_with_arg("--worker", s.store_url, names2[0].rsplit(":", 1)[0])
        assert len(old) == 1, old
        os.kill(old[0], signal.SIGKILL)
        wait_until(lambda: "starting it again" in pool_log(work, sid2), 30, "a restart")
        wait_until(lambda: processes_with_arg("--worker", s.store_url) not in ([], old), 30,
                   "a new worker process")
        jid = s.gw.submit(1000)
        job = s.gw.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=120)
        assert job["state"] == "finished" and job["scheduler"]["worker"] == names2[0], job
        assert alive(s.redis) == names2, alive(s.redis)
        drain(c, s.redis, sid2, names2, s.store_url, work, restarts=1)
        wait_until(lambda: not processes_with_arg("--worker", s.store_url), 30,
                   "no worker process left")

        # No pool alive: a small job goes to sbatch as before.
        jid = s.gw.submit(1000)
        job = s.gw.wait_state(jid, {"finished", "errored", "cancelled"}, timeout=180)
        assert job["state"] == "finished" and job["scheduler"]["name"] == "slurm", job
        st, _, body = s.gw.request("GET", "/job/download/" + jid)
        assert st == 200 and body == reference(bin_dir, 1000)
    print("serve: %d pool jobs on %s, one bigger job and one without a pool through sbatch; "
          "two pools on one Redis, a killed worker restarted, both drained by scancel"
          % (len(wanted) + 1, sorted(used)))


def expect_usage_error(c, top, bin_dir, work, argv, message, env=None):
    p = c.run(["sbatch", "--parsable", "-n", "1", "-J", "pool-bad", "-o",
               os.path.join(work, "bad-%j.out"), os.path.join(top, "slurm", "pi-pool.sbatch")]
              + argv, env=env or job_env(c))
    sid = p.stdout.strip().split(";")[0]
    assert c.wait_job(sid, timeout=60) == "FAILED", c.job_state(sid)
    rec = c.run(["sacct", "-c", "-n", "-P", "-j", sid, "-o", "JobName,ExitCode"])
    assert rec.stdout.strip().splitlines()[-1] == "pool-bad|2:0", rec.stdout
    with open(os.path.join(work, "bad-%s.out" % sid), errors="replace") as f:
        log = f.read()
    assert message in log and "usage: sbatch -n K" in log, log
    return log


def case_args(top, bin_dir, c, work):
    password = "pool-s3cret"
    with RedisServer(password=password, dir=os.path.join(work, "redis")) as r:
        store = "file://" + os.path.join(work, "objects")
        os.makedirs(os.path.join(work, "objects"))
        expect_usage_error(c, top, bin_dir, work, ["--store", store], "--redis URL is required")
        expect_usage_error(c, top, bin_dir, work, ["--redis", r.url],
                           "--store URL is required")
        expect_usage_error(c, top, bin_dir, work, ["--redis", r.url, "--store", store,
                                                   "--digits", "5"],
                           "unknown argument '--digits'")
        expect_usage_error(c, top, bin_dir, work, ["--redis", r.url, "--store"],
                           "--store needs a value")
        secret_url = "redis://:%s@127.0.0.1:%d" % (password, r.port)
        log = expect_usage_error(c, top, bin_dir, work, ["--redis", secret_url, "--store", store],
                                 "must not carry a user or password")
        assert password not in log, log
        # The password through the environment: the worker joins the pool.
        env = job_env(c, {"PICLUSTER_REDIS_PASSWORD": password})
        sid = start_pool(c, top, bin_dir, work, 1, r.url, store, more=["--key-prefix", PREFIX],
                         env=env)
        names = wait_workers(c, r, sid, 1, work)
        for pid in processes_with_arg("--worker", store):
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                assert password.encode() not in f.read(), "password in a worker's argv"
        drain(c, r, sid, names, store, work)
    print("args: bad usage exits 2 with a message; password only through the environment")


def case_timelimit(top, bin_dir, c, work):
    # -t 3 and --signal=TERM@60: the SIGTERM comes 60-120 s after the start, once the
    # workers are surely up.
    with RedisServer(dir=os.path.join(work, "redis")) as r:
        store = "file://" + os.path.join(work, "objects")
        os.makedirs(os.path.join(work, "objects"))
        t0 = time.monotonic()
        sid = start_pool(c, top, bin_dir, work, 2, r.url, store, sbatch_args=["-t", "3"])
        names = wait_workers(c, r, sid, 2, work)
        state = c.wait_job(sid, timeout=300)
        took = time.monotonic() - t0
        assert state == "COMPLETED", (state, pool_log(work, sid))
        rec = c.run(["sacct", "-c", "-n", "-P", "-j", sid, "-o", "ExitCode"])
        assert rec.stdout.strip().splitlines()[-1] == "0:0", rec.stdout
        assert not set(names) & set(alive(r)), alive(r)
        assert not r.command("SMEMBERS", PREFIX + "pool:workers")
        assert "starting it again" not in pool_log(work, sid)
    print("timelimit: workers drained by Slurm's SIGTERM after %.0f s (limit 180 s); "
          "COMPLETED, exit 0" % took)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--top", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("case", choices=["serve", "args", "timelimit"])
    a = ap.parse_args()
    top, bin_dir = os.path.abspath(a.top), os.path.abspath(a.bin)
    with tempfile.TemporaryDirectory(prefix="picluster-slurm-pool-") as work, \
            Cluster(top, nodes=1, cpus=8) as c:
        {"serve": case_serve, "args": case_args, "timelimit": case_timelimit}[a.case](
            top, bin_dir, c, work)


if __name__ == "__main__":
    main()
